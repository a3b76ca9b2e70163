import { describe, expect, it } from 'vitest';
import { createSeededRandom, type RandomBytes } from '../random/index';
import { runSecAggRound } from './driver';
import { unpackWords } from './bytes';
import { heldShareKinds } from './server';
import type { ClientToServerMessage } from './messages';

/**
 * χ² statistic of byte-value counts (256 buckets, 255 degrees of freedom). Threshold: the 0.999
 * quantile of χ²(255) = 330.52 (scipy.stats.chi2.ppf(0.999, 255); Wilson–Hilferty gives 330.55),
 * so a uniform source fails this test once in a thousand runs — and these runs use fixed seeds.
 */
const CHI2_255_P999 = 330.52;

/** Fixed-seed bytes so the statistical test is reproducible (production uses secureRandomBytes). */
function testBytes(seed: number): RandomBytes {
  const random = createSeededRandom(seed);
  return (out) => {
    for (let i = 0; i < out.length; i++) out[i] = random.nextInt(256);
    return out;
  };
}

function chiSquareBytes(bytes: Uint8Array): number {
  const counts = new Float64Array(256);
  for (const b of bytes) counts[b] = (counts[b] as number) + 1;
  const expected = bytes.length / 256;
  let chi2 = 0;
  for (const c of counts) chi2 += ((c - expected) * (c - expected)) / expected;
  return chi2;
}

async function serverViewOfClient0(x: Uint32Array, modulusBits: number, n: number): Promise<Uint8Array> {
  const inputs = [x, ...Array.from({ length: n - 1 }, () => new Uint32Array(x.length))];
  let seen: Uint8Array | null = null;
  await runSecAggRound({
    inputs,
    threshold: Math.floor(n / 2) + 1,
    modulusBits,
    randomBytes: testBytes(modulusBits),
    observe: ({ direction, client, message }) => {
      if (direction === 'toServer' && client === 0 && message.type === 'maskedInput')
        seen = (message as Extract<ClientToServerMessage, { type: 'maskedInput' }>).maskedInput;
    },
  });
  if (!seen) throw new Error('client 0 sent no masked input');
  return seen;
}

describe("the server's view of one masked input", () => {
  it('is indistinguishable from uniform for a fixed, highly structured input (k = 8 and k = 32)', async () => {
    const d = 1 << 16;
    // x: every word 7 (k = 8), or a ramp (k = 32): trivially distinguishable on their own.
    const constant = new Uint32Array(d).fill(7);
    const ramp = Uint32Array.from({ length: d }, (_, i) => i);
    expect(chiSquareBytes(new Uint8Array(constant.buffer))).toBeGreaterThan(1e6); // the test has power
    for (const [x, k] of [
      [constant, 8],
      [ramp, 32],
    ] as const) {
      const y = await serverViewOfClient0(x, k, 3);
      expect(y.length).toBe(d * (k / 8));
      const chi2 = chiSquareBytes(y);
      expect(chi2).toBeLessThan(CHI2_255_P999);
      // And the low byte of y − x (the mask) is uniform too, for every word position class.
      const words = unpackWords(y, k);
      if (!('words' in words)) throw new Error('out of range');
      const lowBytes = Uint8Array.from(words.words, (w, i) => (w - (x[i] as number)) & 0xff);
      expect(chiSquareBytes(lowBytes)).toBeLessThan(CHI2_255_P999);
    }
  });

  it('leaves the server holding at most one kind of share per client, whoever drops', async () => {
    const n = 8;
    const inputs = Array.from({ length: n }, (_, i) => Uint32Array.of(i, i * i));
    const result = await runSecAggRound({ inputs, threshold: 5, dropouts: { beforeMaskedInput: [1, 6], afterMaskedInput: [3] } });
    const kinds = heldShareKinds(result.server);
    expect(kinds.selfMaskOf).toEqual([0, 2, 3, 4, 5, 7]);
    expect(kinds.maskingKeyOf).toEqual([1, 6]);
    expect(kinds.selfMaskOf.filter((id) => kinds.maskingKeyOf.includes(id))).toEqual([]);
  });
});
