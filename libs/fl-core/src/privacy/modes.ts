/**
 * Where the Gaussian noise is added, and how much (docs/privacy.md has the full story):
 *
 * - 'local': each client adds N(0, σ²C²) to its clipped update before it leaves the device.
 * - 'distributed': each client adds N(0, σ²C²/k_min), k_min = minSurvivors (default the expected
 *   cohort size m); the secure sum of k ≥ k_min reports then carries at least σC
 *   (Kairouz, Liu & Steinke 2021, "The Distributed Discrete Gaussian Mechanism for Federated
 *   Learning with Secure Aggregation", in its continuous form).
 * - 'central': clients add nothing; the aggregator adds N(0, σ²C²) to the sum (DP-FedAvg, McMahan
 *   et al. 2018). It must see the exact sum, so it is refused together with secure aggregation.
 * - 'off': clipping only, no noise, no finite ε.
 */
import { z } from 'zod';
import { secureRandomBytes, type RandomBytes } from '../random/index';
import { clipL2 } from './clip';
import { addGaussianNoise } from './gaussian';
import { assertPositiveFinite, assertPositiveInteger } from './validate';

export const PRIVACY_MODES = ['off', 'local', 'distributed', 'central'] as const;
export type PrivacyMode = (typeof PRIVACY_MODES)[number];

export const privacyConfigSchema = z
  .object({
    mode: z.enum(PRIVACY_MODES),
    /** C: the L2 bound on each client's update, i.e. the sensitivity of the sum. */
    clipNorm: z.number().positive(),
    /** σ: the noise standard deviation on the round's sum is σ·C. 0 only with mode 'off'. */
    noiseMultiplier: z.number().nonnegative(),
    /** m: clients expected to report per round (the Poisson cohort's mean). */
    expectedCohortSize: z.number().int().positive(),
    /**
     * k_min: the fewest reports with which a round may commit. 'distributed' calibrates each
     * client's share of the noise to k_min so that any committed sum carries at least σC.
     * @default expectedCohortSize
     */
    minSurvivors: z.number().int().positive().optional(),
    /**
     * c: reports in a committed sum that may be fake or collude with the aggregator (they add no
     * noise that counts). 'distributed' clients calibrate their share to k_min − c, so the honest
     * reports of any committed sum carry at least σC; must be < k_min. @default 0
     */
    colluders: z.number().int().nonnegative().optional(),
    /** Whether updates are summed with secure aggregation (the server sees only the sum). */
    secureAggregation: z.boolean(),
  })
  .strict();

export type PrivacyConfigInput = z.input<typeof privacyConfigSchema>;
/** A validated config; minSurvivors is always present (colluders only when given: absent means 0). */
export type PrivacyConfig = Omit<z.output<typeof privacyConfigSchema>, 'minSurvivors' | 'colluders'> & { minSurvivors: number; colluders?: number };

export type PrivacyConfigErrorCode =
  | 'INVALID_FIELD'
  | 'NOISE_REQUIRED'
  | 'MIN_SURVIVORS_ABOVE_COHORT'
  | 'COLLUDERS_NOT_BELOW_MIN_SURVIVORS'
  | 'CENTRAL_WITH_SECURE_AGGREGATION'
  | 'DISTRIBUTED_WITHOUT_SECURE_AGGREGATION';

export interface PrivacyConfigIssue {
  code: PrivacyConfigErrorCode;
  /** Dotted path of the offending field ('' for the whole config). */
  path: string;
  message: string;
}

export type PrivacyConfigResult = { ok: true; config: PrivacyConfig } | { ok: false; issues: PrivacyConfigIssue[] };

/**
 * Checks a privacy config once, at the trust boundary (plan file, aggregator start-up). Shape
 * errors come back as INVALID_FIELD; the cross-field rules have their own codes.
 */
export function validatePrivacyConfig(input: unknown): PrivacyConfigResult {
  const parsed = privacyConfigSchema.safeParse(input);
  if (!parsed.success) {
    return {
      ok: false,
      issues: parsed.error.issues.map((issue) => ({
        code: 'INVALID_FIELD',
        path: issue.path.join('.'),
        message: `privacy config ${issue.path.join('.') || '(root)'}: ${issue.message}`,
      })),
    };
  }
  const { minSurvivors = parsed.data.expectedCohortSize, colluders, ...rest } = parsed.data;
  const config: PrivacyConfig = { ...rest, minSurvivors, ...(colluders !== undefined ? { colluders } : {}) };
  const issues: PrivacyConfigIssue[] = [];
  if (config.mode !== 'off' && config.noiseMultiplier === 0) {
    issues.push({
      code: 'NOISE_REQUIRED',
      path: 'noiseMultiplier',
      message: `privacy config noiseMultiplier: mode '${config.mode}' needs noiseMultiplier > 0, got 0 (use mode 'off' for no noise)`,
    });
  }
  if (config.minSurvivors > config.expectedCohortSize) {
    issues.push({
      code: 'MIN_SURVIVORS_ABOVE_COHORT',
      path: 'minSurvivors',
      message: `privacy config minSurvivors: must be <= expectedCohortSize (${config.expectedCohortSize}), got ${config.minSurvivors}`,
    });
  }
  if (config.colluders !== undefined && config.colluders >= config.minSurvivors) {
    issues.push({
      code: 'COLLUDERS_NOT_BELOW_MIN_SURVIVORS',
      path: 'colluders',
      message: `privacy config colluders: must be < minSurvivors (${config.minSurvivors}): a sum of k_min reports must hold at least one honest noise share, got ${config.colluders}`,
    });
  }
  if (config.mode === 'central' && config.secureAggregation) {
    issues.push({
      code: 'CENTRAL_WITH_SECURE_AGGREGATION',
      path: 'mode',
      message:
        "privacy config mode: 'central' cannot be combined with secureAggregation: central noise is added by the " +
        "aggregator after it has seen the exact sum, which secure aggregation exists to keep from it; use 'distributed'",
    });
  }
  if (config.mode === 'distributed' && !config.secureAggregation) {
    issues.push({
      code: 'DISTRIBUTED_WITHOUT_SECURE_AGGREGATION',
      path: 'mode',
      message:
        "privacy config mode: 'distributed' requires secureAggregation: without it the aggregator sees each update " +
        "with only 1/sqrt(minSurvivors) of the noise; use 'local' or 'central', or turn secure aggregation on",
    });
  }
  return issues.length === 0 ? { ok: true, config } : { ok: false, issues };
}

export class PrivacyConfigError extends Error {
  readonly issues: readonly PrivacyConfigIssue[];
  constructor(issues: PrivacyConfigIssue[]) {
    super(issues.map((issue) => `[${issue.code}] ${issue.message}`).join('; '));
    this.name = 'PrivacyConfigError';
    this.issues = issues;
  }
}

/** validatePrivacyConfig that throws a PrivacyConfigError listing every issue. */
export function parsePrivacyConfig(input: unknown): PrivacyConfig {
  const result = validatePrivacyConfig(input);
  if (!result.ok) throw new PrivacyConfigError(result.issues);
  return result.config;
}

/** What a client needs to privatize its update; secureAggregation is checked by the config. */
export interface ClientPrivacyOptions {
  mode: PrivacyMode;
  clipNorm: number;
  noiseMultiplier: number;
  expectedCohortSize: number;
  /** @default expectedCohortSize */
  minSurvivors?: number;
  /** c: fake or colluding reports the noise must tolerate (honestReportsOf). @default 0 (also when a plan's optional field reads undefined) */
  colluders?: number | undefined;
}

export function assertMode(where: string, mode: unknown): asserts mode is PrivacyMode {
  if (!PRIVACY_MODES.includes(mode as PrivacyMode)) {
    throw new RangeError(`${where}: mode must be one of ${PRIVACY_MODES.join(', ')}, got ${String(mode)}`);
  }
}

/** Checks the cohort fields and returns k_min. */
export function minSurvivorsOf(where: string, expectedCohortSize: number, minSurvivors: number | undefined): number {
  assertPositiveInteger(where, 'expectedCohortSize', expectedCohortSize);
  const k = minSurvivors ?? expectedCohortSize;
  assertPositiveInteger(where, 'minSurvivors', k);
  if (k > expectedCohortSize) {
    throw new RangeError(`${where}: minSurvivors must be <= expectedCohortSize (${expectedCohortSize}), got ${k}`);
  }
  return k;
}

/**
 * k_min − c: the honest reports every committed sum is guaranteed to hold when up to c of its
 * reports are fake or collude with the aggregator (they may add no noise, or subtract their own).
 * Throws unless 0 ≤ c < k_min.
 */
export function honestReportsOf(where: string, minSurvivors: number, colluders: number | undefined): number {
  assertPositiveInteger(where, 'minSurvivors', minSurvivors);
  const c = colluders ?? 0;
  if (!Number.isInteger(c) || c < 0 || c >= minSurvivors) {
    throw new RangeError(`${where}: colluders must be an integer in [0, minSurvivors = ${minSurvivors}), got ${String(colluders)}`);
  }
  return minSurvivors - c;
}

/**
 * The standard deviation one client adds, given the standard deviation the round's sum must carry
 * in total: all of it in 'local', a 1/√(k_min − c) share in 'distributed' (so that the k_min − c
 * honest reports of the smallest committed sum carry it alone, whatever c fake reports add), none
 * in 'central' or 'off'.
 */
export function clientNoiseShare(mode: PrivacyMode, totalStdDev: number, minSurvivors: number, colluders = 0): number {
  switch (mode) {
    case 'local':
      return totalStdDev;
    case 'distributed':
      return totalStdDev / Math.sqrt(honestReportsOf('clientNoiseShare', minSurvivors, colluders));
    case 'central':
    case 'off':
      return 0;
    default: {
      const unreachable: never = mode;
      throw new RangeError(`unknown privacy mode ${String(unreachable)}`);
    }
  }
}

export interface PrivatizedUpdate {
  /** The clipped update plus this client's noise; a new array. */
  update: Float32Array;
  /** L2 norm of the update before clipping (float64). */
  norm: number;
  wasClipped: boolean;
  /** Standard deviation of the noise this client added (0 in 'central' and 'off'). */
  noiseStdDev: number;
}

/** Clips a client's update to clipNorm and adds the client's share of the noise for the mode. */
export function privatizeClientUpdate(delta: Float32Array, options: ClientPrivacyOptions, randomBytes: RandomBytes = secureRandomBytes): PrivatizedUpdate {
  const where = 'privatizeClientUpdate';
  const { mode, clipNorm, noiseMultiplier, expectedCohortSize, minSurvivors, colluders } = options;
  assertMode(where, mode);
  assertPositiveFinite(where, 'clipNorm', clipNorm);
  if (mode === 'off') {
    const { clipped, norm, wasClipped } = clipL2(delta, clipNorm);
    return { update: clipped, norm, wasClipped, noiseStdDev: 0 };
  }
  assertPositiveFinite(where, 'noiseMultiplier', noiseMultiplier);
  const k = minSurvivorsOf(where, expectedCohortSize, minSurvivors);
  const noiseStdDev = clientNoiseShare(mode, noiseMultiplier * clipNorm, k, honestColluders(where, k, colluders));
  const { clipped, norm, wasClipped } = clipL2(delta, clipNorm);
  addGaussianNoise(clipped, noiseStdDev, randomBytes);
  return { update: clipped, norm, wasClipped, noiseStdDev };
}

export interface CentralNoiseOptions {
  clipNorm: number;
  noiseMultiplier: number;
}

/**
 * 'central' mode: the aggregator adds N(0, σ²C²) to the sum of clipped updates. Returns a new
 * array of the same type; the input is left untouched.
 */
export function addCentralNoise<T extends Float32Array | Float64Array>(
  sum: T,
  options: CentralNoiseOptions,
  randomBytes: RandomBytes = secureRandomBytes,
): { sum: T; noiseStdDev: number } {
  const where = 'addCentralNoise';
  if (!(sum instanceof Float32Array) && !(sum instanceof Float64Array)) {
    throw new TypeError(`${where}: sum must be a Float32Array or Float64Array, got ${typeof sum}`);
  }
  assertPositiveFinite(where, 'clipNorm', options.clipNorm);
  assertPositiveFinite(where, 'noiseMultiplier', options.noiseMultiplier);
  const noiseStdDev = options.noiseMultiplier * options.clipNorm;
  return { sum: addGaussianNoise(sum.slice() as T, noiseStdDev, randomBytes), noiseStdDev };
}

export interface RoundNoiseOptions {
  mode: PrivacyMode;
  /**
   * The σ the update noise was calibrated with: the configured noiseMultiplier, or σ_Δ when
   * adaptive clipping takes part of the budget (then pass indicatorNoiseStdDev too).
   */
  noiseMultiplier: number;
  expectedCohortSize: number;
  /** @default expectedCohortSize */
  minSurvivors?: number;
  /** Reports in the committed sum. */
  survivors: number;
  /** σ_b of adaptive clipping's indicator sum, when adaptive clipping ran this round. */
  indicatorNoiseStdDev?: number;
  /** c: reports in the sum that may be fake or colluding; their noise is not counted. @default 0 */
  colluders?: number;
}

/** c after checking 0 ≤ c < k_min. */
function honestColluders(where: string, minSurvivors: number, colluders: number | undefined): number {
  return minSurvivors - honestReportsOf(where, minSurvivors, colluders);
}

/**
 * The noise multiplier to record in the ledger for one committed round: (standard deviation of the
 * noise in the released sum) / C.
 *
 * - 'central': σ, whatever the number of reports.
 * - 'distributed': σ·√((survivors − c)/(k_min − c)): only the honest reports' shares count, each
 *   σC/√(k_min − c). With k_min = m and dropouts (survivors < m) this is below σ: the guarantee
 *   degrades. Calibrating to k_min < m keeps every committed round at σ or more.
 * - 'local': σ·√(survivors − c) for the released sum; against the aggregator, which sees each
 *   update, each client only has its own local guarantee (docs/privacy.md).
 * - 'off': throws, there is no noise to account.
 *
 * With adaptive clipping the update (σ_Δ, sensitivity C) and the centred indicator sum (σ_b,
 * sensitivity 1/2) are two Gaussian queries on the same clients; together they are one Gaussian
 * with multiplier (σ_Δ^−2 + (2σ_b)^−2)^−1/2 (Andrew et al. 2021, Section 3; Mironov 2017,
 * Proposition 1), and both scale alike with the survivors.
 */
export function roundNoiseMultiplier(options: RoundNoiseOptions): number {
  const where = 'roundNoiseMultiplier';
  const { mode, noiseMultiplier, expectedCohortSize, minSurvivors, survivors, indicatorNoiseStdDev, colluders } = options;
  assertMode(where, mode);
  if (mode === 'off') {
    throw new RangeError(`${where}: mode 'off' adds no noise, so a round has no finite privacy cost to record`);
  }
  assertPositiveFinite(where, 'noiseMultiplier', noiseMultiplier);
  const k = minSurvivorsOf(where, expectedCohortSize, minSurvivors);
  const c = honestColluders(where, k, colluders);
  assertPositiveInteger(where, 'survivors', survivors);
  if (mode !== 'central' && survivors <= c) {
    throw new RangeError(`${where}: survivors must exceed colluders (${c}) for any honest noise to be in the sum, got ${survivors}`);
  }
  let sigma = noiseMultiplier;
  if (indicatorNoiseStdDev !== undefined) {
    assertPositiveFinite(where, 'indicatorNoiseStdDev', indicatorNoiseStdDev);
    sigma = (noiseMultiplier ** -2 + (2 * indicatorNoiseStdDev) ** -2) ** -0.5;
  }
  switch (mode) {
    case 'central':
      return sigma;
    case 'distributed':
      return sigma * Math.sqrt((survivors - c) / (k - c));
    case 'local':
      return sigma * Math.sqrt(survivors - c);
    default: {
      const unreachable: never = mode;
      throw new RangeError(`${where}: unknown mode ${String(unreachable)}`);
    }
  }
}
