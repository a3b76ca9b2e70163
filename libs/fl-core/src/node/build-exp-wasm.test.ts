import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildExpWasmFile, EXP_MAX_INPUT, EXP_MIN_INPUT, EXP_WASM_FILE, expWat } from './build-exp-wasm';

describe('build-exp-wasm', () => {
  it('regenerates the shipped exp-wasm.ts byte for byte from the text format', async () => {
    expect(await buildExpWasmFile()).toBe(readFileSync(EXP_WASM_FILE, 'utf8'));
  });

  it('exports one kernel over an imported memory, with a four-lane loop and a one-lane tail', () => {
    const wat = expWat();
    expect(wat).toContain('(import "env" "memory" (memory 0))');
    expect(wat).toContain('(export "exp_f32")');
    expect(wat).toContain('(v128.store (local.get $out) (local.get $y))');
    expect(wat).toContain('(f32.store (local.get $out) (f32x4.extract_lane 0 (local.get $y)))');
    // The bounds are float32 values, written exactly.
    expect(Math.fround(EXP_MAX_INPUT)).toBe(EXP_MAX_INPUT);
    expect(Math.fround(EXP_MIN_INPUT)).toBe(EXP_MIN_INPUT);
  });
});
