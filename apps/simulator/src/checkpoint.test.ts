import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointMismatchError, loadCheckpoint, saveCheckpoint } from './checkpoint';

const dir = mkdtempSync(join(tmpdir(), 'murmur-ckpt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('checkpoints', () => {
  it('round-trip arrays and metadata, whatever order the configuration fields were in', () => {
    const weights = Float32Array.from([1.5, -2, 3.25]);
    const m = Float32Array.from([0.125]);
    saveCheckpoint(dir, 'federated', JSON.stringify({ lr: 1, unit: 'group' }), { round: 7 }, { weights, m });
    const loaded = loadCheckpoint<{ round: number }>(dir, 'federated', JSON.stringify({ unit: 'group', lr: 1 }));
    expect(loaded?.meta).toEqual({ round: 7 });
    expect(loaded?.arrays.weights).toEqual(weights);
    expect(loaded?.arrays.m).toEqual(m);
  });

  it('refuses another run, a foreign file and a truncated one; an empty directory has none', () => {
    expect(() => loadCheckpoint(dir, 'federated', JSON.stringify({ lr: 2, unit: 'group' }))).toThrow(CheckpointMismatchError);
    // A field the caller lets change (a learning rate lowered by hand) may differ; the others may not.
    expect(loadCheckpoint<{ round: number }>(dir, 'federated', JSON.stringify({ lr: 2, unit: 'group' }), ['lr'])?.meta).toEqual({ round: 7 });
    expect(() => loadCheckpoint(dir, 'federated', JSON.stringify({ lr: 2, unit: 'document' }), ['lr'])).toThrow(CheckpointMismatchError);
    expect(() => loadCheckpoint(dir, 'central', JSON.stringify({ lr: 1, unit: 'group' }))).toThrow(/different run/);
    expect(loadCheckpoint(join(dir, 'nothing-here'), 'federated', '{}')).toBeNull();
    const foreign = mkdtempSync(join(dir, 'foreign-'));
    writeFileSync(join(foreign, 'checkpoint.bin'), 'not a checkpoint');
    expect(() => loadCheckpoint(foreign, 'federated', '{}')).toThrow(/MCK1/);
    saveCheckpoint(foreign, 'federated', '{}', {}, { weights: new Float32Array(100) });
    const bytes = readFileSync(join(foreign, 'checkpoint.bin'));
    writeFileSync(join(foreign, 'checkpoint.bin'), bytes.subarray(0, bytes.length - 8));
    expect(() => loadCheckpoint(foreign, 'federated', '{}')).toThrow(/truncated/);
  });
});
