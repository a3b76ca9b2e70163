import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSecAggRound } from '@murmur/fl-core/testing';
import { testLogger } from './test-helpers';
import { UnmaskThread } from './unmask-thread';

/** Seven clients of d words; 1 and 4 drop after sending shares, 6 after its masked input: masks of each kind must be rebuilt. */
function inputs(d: number): Uint32Array[] {
  return Array.from({ length: 7 }, (_, client) => Uint32Array.from({ length: d }, (_, i) => (client * 7919 + i * 104_729) % 2 ** 20));
}

function plainSum(all: Uint32Array[], survivors: number[], d: number): Uint32Array {
  const sum = new Uint32Array(d);
  for (const client of survivors) for (let i = 0; i < d; i++) sum[i] = ((sum[i] as number) + ((all[client] as Uint32Array)[i] as number)) >>> 0;
  return sum;
}

describe('UnmaskThread', () => {
  let thread: UnmaskThread;
  beforeAll(async () => {
    thread = await UnmaskThread.start(testLogger());
  }, 60_000);
  afterAll(async () => {
    await thread.close();
  });

  it('closes SecAgg unmasking in its thread with the sum the survivors sent, as on the main thread', async () => {
    const d = 5_000;
    const all = inputs(d);
    let usedThread = 0;
    const result = await runSecAggRound({
      inputs: all,
      threshold: 4,
      dropouts: { beforeMaskedInput: [1, 4], afterMaskedInput: [6] },
      closeUnmasking: (state) => {
        usedThread++;
        return thread.closeUnmasking(state);
      },
    });
    expect(usedThread).toBe(1);
    expect(result.status).toBe('done');
    expect(result.survivors).toEqual([0, 2, 3, 5, 6]);
    expect(result.sum).toEqual(plainSum(all, result.survivors, d));
  });

  it('aborts in its thread when too few answer the unmask request, and stays usable for the next round', async () => {
    const all = inputs(64);
    let usedThread = 0;
    const refused = await runSecAggRound({
      inputs: all,
      threshold: 5,
      dropouts: { afterMaskedInput: [0, 1, 2] },
      closeUnmasking: (state) => {
        usedThread++;
        return thread.closeUnmasking(state);
      },
    });
    expect(usedThread).toBe(1);
    expect(refused.status).toBe('aborted');
    expect(refused.sum).toBeNull();
    expect(refused.abort?.code).toBe('BELOW_THRESHOLD');
    const next = await runSecAggRound({ inputs: all, threshold: 4, closeUnmasking: (state) => thread.closeUnmasking(state) });
    expect(next.sum).toEqual(plainSum(all, next.survivors, 64));
  });

  it('refuses work once closed instead of hanging', async () => {
    const other = await UnmaskThread.start(testLogger());
    await other.close();
    const round = runSecAggRound({ inputs: inputs(8), threshold: 4, closeUnmasking: (state) => other.closeUnmasking(state) });
    await expect(round).rejects.toThrow(/closed/);
  }, 60_000);
});
