import { z } from 'zod';

/**
 * Choosing SecAgg+ parameters. The three conditions follow the structure of Bell et al. 2020's
 * analysis; the bounds are ours, derived for the Harary graph with random labels that graph.ts
 * builds. With n clients, each of degree k
 * (h = k + 1 share holders: its neighbours and itself), threshold t, a dropout fraction δ over the
 * whole round and a fraction γ of clients colluding with the server:
 *
 * 1. Share privacy against an active server: honest holders reveal one kind of share per client,
 *    so the server gets t of both kinds only if t ≤ (h + C)/2, C = corrupt holders ~ Bin(k, γ).
 *    Require n · P[Bin(k, γ) ≥ 2t − h] ≤ 2^−η (this also gives C < t). With γ = 0: t > h/2.
 * 2. Correctness: every secret to reconstruct needs t live holders; a dropped client's holders are
 *    its k neighbours minus the dropped ones, D ~ Hypergeometric, whose tails are below Bin(k, δ)'s
 *    (Hoeffding 1963). Require n · P[Bin(k, δ) > k − t] ≤ 2^−σ.
 * 3. No partial sums: the server learns the sum of each connected component of the honest,
 *    surviving clients' subgraph, so it must stay connected. Removing vertices from a Harary graph
 *    disconnects it only if two arcs of k/2 consecutive positions are all removed; a union bound
 *    over one such arc, with removed fraction δ + γ, gives n · (δ + γ)^(k/2) ≤ 2^−η.
 *
 * The smallest even k meeting all three wins; if none below n − 1 does, use the full graph.
 * (Values of log2 bounds are −Infinity where an event is impossible, e.g. γ = 0.)
 */
export const secAggPlusOptionsSchema = z
  .object({
    clientCount: z.number().int().min(3).max(10_000_000),
    /** δ: fraction of the cohort that may drop over the whole round. */
    dropoutRate: z.number().min(0).max(0.9),
    /** γ: fraction of clients that may collude with the server. @default 0 */
    corruptRate: z.number().min(0).max(0.5).default(0),
    /** σ: the round fails because of the graph with probability ≤ 2^−σ. @default 20 */
    correctnessBits: z.number().min(1).max(128).default(20),
    /** η: the privacy conditions fail with probability ≤ 2^−η. @default 40 */
    privacyBits: z.number().min(1).max(128).default(40),
  })
  .strict();

export type SecAggPlusOptions = z.input<typeof secAggPlusOptionsSchema>;

export interface SecAggPlusParameters {
  /** k (even), or n − 1 with `full` when no sparser graph meets the bounds. */
  degree: number;
  threshold: number;
  full: boolean;
  /** log2 of the union bounds achieved (≤ −σ and ≤ −η). */
  correctnessLog2: number;
  sharePrivacyLog2: number;
  connectivityLog2: number;
}

/** log2 P[Bin(trials, p) ≥ atLeast], summed in log space. */
export function binomialTailLog2(trials: number, p: number, atLeast: number): number {
  if (atLeast <= 0) return 0;
  if (atLeast > trials || p <= 0) return -Infinity;
  if (p >= 1) return 0;
  const logP = Math.log(p);
  const logQ = Math.log1p(-p);
  // log C(trials, i) incrementally from i = 0.
  let logChoose = 0;
  const terms: number[] = [];
  for (let i = 0; i <= trials; i++) {
    if (i > 0) logChoose += Math.log((trials - i + 1) / i);
    if (i >= atLeast) terms.push(logChoose + i * logP + (trials - i) * logQ);
  }
  const max = Math.max(...terms);
  const sum = terms.reduce((acc, term) => acc + Math.exp(term - max), 0);
  return (max + Math.log(sum)) / Math.LN2;
}

export function secAggPlusParameters(options: SecAggPlusOptions): SecAggPlusParameters {
  const parsed = secAggPlusOptionsSchema.safeParse(options);
  if (!parsed.success) throw new RangeError(`secAggPlusParameters: ${z.prettifyError(parsed.error)}`);
  const { clientCount: n, dropoutRate: delta, corruptRate: gamma, correctnessBits: sigma, privacyBits: eta } = parsed.data;
  const log2n = Math.log2(n);
  const evaluate = (k: number) => {
    const h = k + 1;
    let t = Math.floor(h / 2) + 1;
    let sharePrivacyLog2 = log2n + binomialTailLog2(k, gamma, 2 * t - h);
    while (sharePrivacyLog2 > -eta && t < h) {
      t++;
      sharePrivacyLog2 = log2n + binomialTailLog2(k, gamma, 2 * t - h);
    }
    const correctnessLog2 = log2n + binomialTailLog2(k, delta, k - t + 1);
    const removed = delta + gamma;
    const connectivityLog2 = removed <= 0 ? -Infinity : log2n + (k / 2) * Math.log2(removed);
    return { degree: k, threshold: t, correctnessLog2, sharePrivacyLog2, connectivityLog2 };
  };
  for (let k = 2; k < n - 1; k += 2) {
    const candidate = evaluate(k);
    if (candidate.sharePrivacyLog2 <= -eta && candidate.correctnessLog2 <= -sigma && candidate.connectivityLog2 <= -eta) {
      return { ...candidate, full: false };
    }
  }
  // The full graph (Bonawitz et al. 2017) is connected whatever is removed and every client holds
  // every share, so the bounds are deterministic: t > (n + γn)/2 and n − δn ≥ t.
  const threshold = Math.floor((n + Math.floor(gamma * n)) / 2) + 1;
  const survivors = n - Math.ceil(delta * n);
  if (survivors < threshold) {
    throw new RangeError(
      `secAggPlusParameters: with ${Math.ceil(delta * n)} of ${n} clients dropping, ${survivors} survive, below the threshold ${threshold} ` +
        `that privacy needs (t > (n + γn)/2); no graph can run this round`,
    );
  }
  return { degree: n - 1, threshold, full: true, correctnessLog2: -Infinity, sharePrivacyLog2: -Infinity, connectivityLog2: -Infinity };
}
