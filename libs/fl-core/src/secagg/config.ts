import { z } from 'zod';
import { reject, type Rejection } from './errors';
import { hararyNeighbours } from './graph';
import { roundConfigSchema, type RoundConfig } from './messages';

export type RoundConfigInput = z.input<typeof roundConfigSchema>;

/** Who masks with whom and who holds whose shares: everyone (Bonawitz) or graph neighbours (SecAgg+). */
export interface Topology {
  /** The clients `id` masks with and sends shares to (never itself). */
  neighbours(id: number): readonly number[];
  isNeighbour(a: number, b: number): boolean;
  /** Share holders of each client's secrets: its neighbours and itself. */
  readonly holdersPerClient: number;
}

/**
 * Validates a round configuration: shape (zod) and the semantic rules that keep the protocol
 * correct and private. The threshold must exceed half of each client's holders: honest holders
 * reveal one kind of share per peer, so a server that lies to different holders about whether a
 * client dropped can collect t shares of each kind only if 2t ≤ holders (the argument behind
 * Bonawitz et al. 2017's t > 2n/3 bound against an active server with n/3 corrupt clients, §6).
 */
export function parseRoundConfig(input: unknown): { ok: true; config: RoundConfig } | Rejection {
  const parsed = roundConfigSchema.safeParse(input);
  if (!parsed.success) return reject('INVALID_CONFIG', `round config: ${z.prettifyError(parsed.error).replace(/\n/g, '; ')}`);
  const config = parsed.data;
  const { clientCount: n, threshold: t, graph } = config;
  if (graph.kind === 'harary') {
    if (graph.degree % 2 !== 0 || graph.degree > n - 1) {
      return reject('INVALID_CONFIG', `round config: graph degree ${graph.degree} must be even and ≤ n − 1 = ${n - 1}`);
    }
    if (graph.seed.length !== 32) return reject('INVALID_CONFIG', `round config: graph seed has ${graph.seed.length} bytes, expected 32`);
  }
  const holders = graph.kind === 'full' ? n : graph.degree + 1;
  if (t > holders) return reject('INVALID_CONFIG', `round config: threshold ${t} exceeds the ${holders} holders of each client's shares`);
  if (2 * t <= holders) {
    return reject('INVALID_CONFIG', `round config: threshold ${t} must exceed half of the ${holders} share holders (t ≥ ${Math.floor(holders / 2) + 1})`);
  }
  return { ok: true, config };
}

const topologies = new WeakMap<RoundConfig, Topology>();

export function topologyOf(config: RoundConfig): Topology {
  const cached = topologies.get(config);
  if (cached) return cached;
  const n = config.clientCount;
  let topology: Topology;
  if (config.graph.kind === 'full') {
    const everyone = Array.from({ length: n }, (_, i) => i);
    topology = {
      neighbours: (id) => everyone.filter((other) => other !== id),
      isNeighbour: (a, b) => a !== b && a >= 0 && b >= 0 && a < n && b < n,
      holdersPerClient: n,
    };
  } else {
    const lists = hararyNeighbours(n, config.graph.degree, config.graph.seed);
    const sets = lists.map((list) => new Set(list));
    topology = {
      neighbours: (id) => lists[id] ?? [],
      isNeighbour: (a, b) => sets[a]?.has(b) ?? false,
      holdersPerClient: config.graph.degree + 1,
    };
  }
  topologies.set(config, topology);
  return topology;
}
