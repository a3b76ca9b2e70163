/**
 * Who may be selected, decided from how each client id behaved in earlier rounds and how
 * long honest answers take. Both exist because selection is the only lever the aggregator has on
 * clients it cannot see into (secure aggregation hides every input):
 *
 * - A client that was selected and went silent sits out ("benched") for a while, doubling with
 *   each repeat: Sybils that check in and never answer can stall one round, not every round.
 * - A client that sat in several rejected sums in a row (see fl-core's checkDecodedSum), with no
 *   committed round in between, sits out too. One bad input makes the whole sum implausible, so
 *   the sum alone cannot say whose it was; with Poisson selection the poisoner is in every
 *   rejected round, an honest client only in those that happened to include the poisoner (the
 *   coordinator samples at most rejectedSamplingCap of the candidates after a rejected sum, so
 *   that such rounds differ even where everyone would otherwise be selected).
 *
 * A committed round takes one strike off each of its members and clears their rejection streak.
 * Certified identities are pseudonymous and cheap (one enrollment, rate-limited per address at
 * the enrollment service), so this bounds what one identity costs; it does not stop Sybils.
 */
export interface ParticipationPolicy {
  /** First bench after silence; each repeat doubles it. */
  silenceBenchMs: number;
  maxBenchMs: number;
  /** Consecutive rejected sums (no committed round between) after which a token is benched. */
  rejectedRoundsToBench: number;
}

interface Standing {
  strikes: number;
  rejectedStreak: number;
  benchedUntil: number;
  /** Why the token sits out, in words a device log can show. */
  why: string;
}

/** The most tokens remembered; the least recently touched are forgotten first. */
const MAX_TOKENS = 100_000;

export class ParticipationBook {
  readonly #standings = new Map<string, Standing>();

  constructor(
    private readonly policy: ParticipationPolicy,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** Milliseconds this token still sits out (0: free to check in), and why. */
  bench(tokenId: string): { remainingMs: number; why: string } {
    const standing = this.#standings.get(tokenId);
    const remainingMs = standing ? Math.max(0, standing.benchedUntil - this.now()) : 0;
    return { remainingMs, why: standing?.why ?? '' };
  }

  /** Selected, then silent until its phase closed. */
  silent(tokenId: string, phase: string): void {
    const standing = this.#touch(tokenId);
    standing.strikes += 1;
    this.#benchFor(standing, `selected and silent in ${phase}`);
  }

  /** Its input was in a sum that failed the bounds checks. */
  rejected(tokenId: string): void {
    const standing = this.#touch(tokenId);
    standing.rejectedStreak += 1;
    // A token benched before and not in a committed round since gets no second run of grace.
    const again = standing.strikes > 0;
    if (standing.rejectedStreak >= (again ? 1 : this.policy.rejectedRoundsToBench)) {
      standing.strikes += 1;
      standing.rejectedStreak = 0;
      this.#benchFor(standing, again ? 'in a rejected sum again since sitting out' : `in ${this.policy.rejectedRoundsToBench} rejected sums in a row`);
    }
  }

  /** Its input was in a committed round. */
  completed(tokenId: string): void {
    const standing = this.#standings.get(tokenId);
    if (!standing) return;
    standing.strikes = Math.max(0, standing.strikes - 1);
    standing.rejectedStreak = 0;
    if (standing.strikes === 0 && standing.benchedUntil <= this.now()) this.#standings.delete(tokenId);
  }

  #benchFor(standing: Standing, why: string): void {
    const ms = Math.min(this.policy.maxBenchMs, this.policy.silenceBenchMs * 2 ** Math.min(30, standing.strikes - 1));
    standing.benchedUntil = this.now() + ms;
    standing.why = why;
  }

  #touch(tokenId: string): Standing {
    let standing = this.#standings.get(tokenId);
    if (standing) this.#standings.delete(tokenId);
    else {
      if (this.#standings.size >= MAX_TOKENS) this.#standings.delete(this.#standings.keys().next().value as string);
      standing = { strikes: 0, rejectedStreak: 0, benchedUntil: 0, why: '' };
    }
    this.#standings.set(tokenId, standing);
    return standing;
  }
}

/**
 * Phase deadlines learnt from honest answers (pace steering in the sense of Bonawitz et al. 2019,
 * §2.3): each phase closes at multiplier × the 90th percentile of recent answer latencies plus a
 * slack, never later than its configured deadline, which stays the ceiling and the rule until
 * enough answers were seen. A stalled cohort then costs about what honest devices need, not the
 * ceiling. Latencies are kept per phase in a ring of the last `window` answers.
 */
export interface AdaptiveDeadlinePolicy {
  enabled: boolean;
  multiplier: number;
  slackMs: number;
  minSamples: number;
  window: number;
}

export class PhasePace {
  readonly #samples = new Map<string, number[]>();

  constructor(private readonly policy: AdaptiveDeadlinePolicy) {}

  record(phase: string, latencyMs: number): void {
    let samples = this.#samples.get(phase);
    if (!samples) this.#samples.set(phase, (samples = []));
    samples.push(latencyMs);
    if (samples.length > this.policy.window) samples.shift();
  }

  deadlineMs(phase: string, ceilingMs: number): number {
    const samples = this.#samples.get(phase);
    if (!this.policy.enabled || !samples || samples.length < this.policy.minSamples) return ceilingMs;
    const sorted = [...samples].sort((a, b) => a - b);
    const p90 = sorted[Math.min(sorted.length - 1, Math.ceil(0.9 * sorted.length) - 1)] as number;
    return Math.min(ceilingMs, Math.ceil(this.policy.multiplier * p90 + this.policy.slackMs));
  }
}
