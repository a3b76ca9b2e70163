import { describe, expect, it } from 'vitest';
import { parseRoundConfig, topologyOf, type RoundConfigInput } from './config';
import { hararyNeighbours } from './graph';

const seed = Uint8Array.from({ length: 32 }, (_, i) => i);

function input(overrides: Partial<RoundConfigInput> = {}): RoundConfigInput {
  return { roundId: 'r1', clientCount: 5, threshold: 3, vectorLength: 4, modulusBits: 12, graph: { kind: 'full' }, ...overrides };
}

function accepted(overrides: Partial<RoundConfigInput>) {
  const parsed = parseRoundConfig(input(overrides));
  if (!parsed.ok) throw new Error(`expected the config to be accepted: ${parsed.error.message}`);
  return parsed.config;
}

function rejection(overrides: Partial<RoundConfigInput>): string {
  const parsed = parseRoundConfig(input(overrides));
  expect(parsed.ok).toBe(false);
  if (parsed.ok) return '';
  expect(parsed.error.code).toBe('INVALID_CONFIG');
  return parsed.error.message;
}

describe('round config rules', () => {
  it('requires t > holders/2 and t ≤ holders, holders = n (full graph) or k + 1 (SecAgg+), at both edges', () => {
    // Full graph, n = 5: t ∈ {3, 4, 5}.
    expect(rejection({ threshold: 2 })).toMatch(/threshold 2 must exceed half of the 5 share holders \(t ≥ 3\)/);
    expect(accepted({ threshold: 3 }).threshold).toBe(3);
    expect(accepted({ threshold: 5 }).threshold).toBe(5);
    expect(rejection({ threshold: 6 })).toMatch(/threshold 6 exceeds the 5 holders/);
    // n = 4 (even): t = 2 is exactly half, refused; t ≥ 3.
    expect(rejection({ clientCount: 4, threshold: 2 })).toMatch(/t ≥ 3/);
    expect(accepted({ clientCount: 4, threshold: 3 }).clientCount).toBe(4);
    // Harary, n = 10, k = 4: 5 holders, whatever n is.
    const harary = { kind: 'harary' as const, degree: 4, seed };
    expect(rejection({ clientCount: 10, threshold: 2, graph: harary })).toMatch(/half of the 5 share holders/);
    expect(accepted({ clientCount: 10, threshold: 3, graph: harary }).graph).toEqual(harary);
    expect(accepted({ clientCount: 10, threshold: 5, graph: harary }).threshold).toBe(5);
    expect(rejection({ clientCount: 10, threshold: 6, graph: harary })).toMatch(/threshold 6 exceeds the 5 holders/);
  });

  it('requires an even Harary degree ≤ n − 1 and a 32-byte seed', () => {
    expect(accepted({ clientCount: 5, threshold: 3, graph: { kind: 'harary', degree: 4, seed } }).graph).toMatchObject({ degree: 4 });
    expect(rejection({ clientCount: 6, threshold: 4, graph: { kind: 'harary', degree: 6, seed } })).toMatch(/degree 6 must be even and ≤ n − 1 = 5/);
    expect(rejection({ clientCount: 7, threshold: 3, graph: { kind: 'harary', degree: 3, seed } })).toMatch(/degree 3 must be even/);
    expect(rejection({ clientCount: 7, threshold: 3, graph: { kind: 'harary', degree: 4, seed: seed.subarray(1) } })).toMatch(
      /graph seed has 31 bytes, expected 32/,
    );
  });

  it('reports shape errors on one line', () => {
    const message = rejection({ clientCount: 1, modulusBits: 40 });
    expect(message).toMatch(/^round config: /);
    expect(message).toMatch(/clientCount/);
    expect(message).toMatch(/modulusBits/);
    expect(message).not.toMatch(/\n/);
    // One issue per clause: the lines of zod's report joined with '; '.
    expect(message.split('; ').length).toBeGreaterThanOrEqual(4);
  });
});

describe('topology', () => {
  it('full graph: everyone but oneself, and nobody outside [0, n)', () => {
    const topology = topologyOf(accepted({}));
    expect(topology.holdersPerClient).toBe(5);
    expect(topology.neighbours(0)).toEqual([1, 2, 3, 4]);
    expect(topology.neighbours(3)).toEqual([0, 1, 2, 4]);
    expect(topology.isNeighbour(0, 4)).toBe(true);
    expect(topology.isNeighbour(4, 0)).toBe(true);
    expect(topology.isNeighbour(2, 2)).toBe(false);
    for (const [a, b] of [
      [-1, 0],
      [0, -1],
      [5, 0],
      [0, 5],
    ] as const) {
      expect(topology.isNeighbour(a, b), `${a}, ${b}`).toBe(false);
    }
  });

  it('Harary graph: the lists hararyNeighbours derives from the seed, k + 1 holders, nothing for unknown ids', () => {
    const config = accepted({ clientCount: 10, threshold: 3, graph: { kind: 'harary', degree: 4, seed } });
    const topology = topologyOf(config);
    const lists = hararyNeighbours(10, 4, seed);
    expect(topology.holdersPerClient).toBe(5);
    for (let u = 0; u < 10; u++) {
      expect(topology.neighbours(u)).toEqual(lists[u]);
      for (let v = 0; v < 10; v++) expect(topology.isNeighbour(u, v)).toBe((lists[u] as number[]).includes(v));
    }
    expect(topology.neighbours(10)).toEqual([]);
    expect(topology.isNeighbour(10, 0)).toBe(false);
    // Derived once per config object: the server asks for it on every message.
    expect(topologyOf(config)).toBe(topology);
  });
});
