import { z } from 'zod';

/**
 * Server optimizers of Reddi et al. 2021, "Adaptive Federated Optimization" (Algorithm 2): the mean
 * client delta Δₜ is a pseudo-gradient *ascent* direction (clients report new − old weights), so
 * every rule adds to the weights.
 *
 *   FedAvg:   x ← x + η Δ
 *   FedAvgM:  m ← β m + Δ;                       x ← x + η m    (Hsu et al. 2019)
 *   FedAdam:  m ← β₁m + (1−β₁)Δ;  v ← β₂v + (1−β₂)Δ²;                 x ← x + η m / (√v + τ)
 *   FedYogi:  m ← β₁m + (1−β₁)Δ;  v ← v − (1−β₂)Δ² sign(v − Δ²);       x ← x + η m / (√v + τ)
 *
 * As in the paper there is no bias correction, and v starts at τ² (Algorithm 2: v₋₁ ≥ τ²).
 */
export const serverOptimizerSchema = z.discriminatedUnion('name', [
  z.object({ name: z.literal('fedavg'), learningRate: z.number().positive().max(100).default(1) }).strict(),
  z
    .object({
      name: z.literal('fedavgm'),
      learningRate: z.number().positive().max(100).default(1),
      momentum: z.number().min(0).lt(1).default(0.9),
    })
    .strict(),
  z
    .object({
      name: z.enum(['fedadam', 'fedyogi']),
      learningRate: z.number().positive().max(100).default(0.01),
      beta1: z.number().min(0).lt(1).default(0.9),
      beta2: z.number().min(0).lt(1).default(0.99),
      /** τ, the adaptivity: smaller is more adaptive. */
      tau: z.number().positive().max(1).default(1e-3),
    })
    .strict(),
]);

export type ServerOptimizerConfig = z.output<typeof serverOptimizerSchema>;
export type ServerOptimizerInput = z.input<typeof serverOptimizerSchema>;
export type ServerOptimizerName = ServerOptimizerConfig['name'];

/** Everything the optimizer carries between rounds; plain typed arrays, so it checkpoints as is. */
export interface ServerOptimizerState {
  config: ServerOptimizerConfig;
  round: number;
  /** First moment (FedAvgM: momentum buffer); absent for FedAvg. */
  m?: Float32Array;
  /** Second moment (FedAdam, FedYogi). */
  v?: Float32Array;
}

export function parseServerOptimizer(input: ServerOptimizerInput): ServerOptimizerConfig {
  const result = serverOptimizerSchema.safeParse(input);
  if (!result.success) throw new TypeError(`invalid server optimizer: ${z.prettifyError(result.error)}`);
  return result.data;
}

export function createServerOptimizer(input: ServerOptimizerInput, dimension: number): ServerOptimizerState {
  const config = parseServerOptimizer(input);
  if (!Number.isInteger(dimension) || dimension <= 0) {
    throw new RangeError(`server optimizer dimension must be a positive integer, got ${dimension}`);
  }
  switch (config.name) {
    case 'fedavg':
      return { config, round: 0 };
    case 'fedavgm':
      return { config, round: 0, m: new Float32Array(dimension) };
    case 'fedadam':
    case 'fedyogi':
      return {
        config,
        round: 0,
        m: new Float32Array(dimension),
        v: new Float32Array(dimension).fill(config.tau * config.tau),
      };
    default: {
      const unreachable: never = config;
      throw new Error(`unknown server optimizer ${JSON.stringify(unreachable)}`);
    }
  }
}

/**
 * One server step. Returns new weights and state; the inputs are left untouched so a round that
 * fails to commit can be retried from the same state.
 */
export function applyServerUpdate(
  state: ServerOptimizerState,
  weights: Float32Array,
  meanDelta: Float32Array,
): { weights: Float32Array; state: ServerOptimizerState } {
  if (meanDelta.length !== weights.length) {
    throw new RangeError(`mean delta has length ${meanDelta.length}, weights have ${weights.length}`);
  }
  const next = new Float32Array(weights.length);
  const { config } = state;
  const lr = config.learningRate;
  switch (config.name) {
    case 'fedavg': {
      for (let i = 0; i < weights.length; i++) next[i] = (weights[i] as number) + lr * (meanDelta[i] as number);
      return { weights: next, state: { config, round: state.round + 1 } };
    }
    case 'fedavgm': {
      const m = Float32Array.from(requireMoment(state.m, weights.length, 'm'));
      for (let i = 0; i < weights.length; i++) {
        m[i] = config.momentum * (m[i] as number) + (meanDelta[i] as number);
        next[i] = (weights[i] as number) + lr * (m[i] as number);
      }
      return { weights: next, state: { config, round: state.round + 1, m } };
    }
    case 'fedadam':
    case 'fedyogi': {
      const m = Float32Array.from(requireMoment(state.m, weights.length, 'm'));
      const v = Float32Array.from(requireMoment(state.v, weights.length, 'v'));
      const { beta1, beta2, tau } = config;
      const yogi = config.name === 'fedyogi';
      for (let i = 0; i < weights.length; i++) {
        const delta = meanDelta[i] as number;
        const squared = delta * delta;
        const mi = beta1 * (m[i] as number) + (1 - beta1) * delta;
        const vPrev = v[i] as number;
        const vi = yogi ? vPrev - (1 - beta2) * squared * Math.sign(vPrev - squared) : beta2 * vPrev + (1 - beta2) * squared;
        m[i] = mi;
        v[i] = vi;
        next[i] = (weights[i] as number) + (lr * mi) / (Math.sqrt(vi) + tau);
      }
      return { weights: next, state: { config, round: state.round + 1, m, v } };
    }
    default: {
      const unreachable: never = config;
      throw new Error(`unknown server optimizer ${JSON.stringify(unreachable)}`);
    }
  }
}

function requireMoment(moment: Float32Array | undefined, dimension: number, name: string): Float32Array {
  if (!moment || moment.length !== dimension) {
    throw new RangeError(`server optimizer state: ${name} has length ${moment?.length ?? 0}, expected ${dimension}`);
  }
  return moment;
}
