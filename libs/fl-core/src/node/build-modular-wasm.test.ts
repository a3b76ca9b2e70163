import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildModularWasmFile, MODULAR_WASM_FILE, modularWat } from './build-modular-wasm';

describe('build-modular-wasm', () => {
  it('regenerates the shipped modular-wasm.ts byte for byte from the text format', async () => {
    expect(await buildModularWasmFile()).toBe(readFileSync(MODULAR_WASM_FILE, 'utf8'));
  });

  it('emits an add and a sub kernel for each word width, widening 8- and 16-bit lanes', () => {
    const wat = modularWat();
    for (const name of ['add8', 'sub8', 'add16', 'sub16', 'add32', 'sub32']) expect(wat).toContain(`(export "${name}")`);
    expect(wat).toContain('i16x8.extend_low_i8x16_u');
    expect(wat).toContain('i32x4.extend_high_i16x8_u');
  });
});
