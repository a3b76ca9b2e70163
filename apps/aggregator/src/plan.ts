import { z } from 'zod';
import type { Logger } from 'pino';
import {
  numberWithin,
  PLAN_LIMITS,
  protocolFailure,
  type LivePlan,
  type PlanBound,
  type PlanChangeResponse,
  type PlanLimitPath,
  type ProtocolResult,
} from '@murmur/fl-core/protocol';
import { trainingPlanSchema } from '@murmur/fl-core/train';
import type { AuditLog } from './audit';
import type { AggregatorConfig } from './config';
import type { DataStore } from './store';

/**
 * The bounds an operator may set each numeric plan field within: fl-core's PLAN_LIMITS (the
 * table GET /api/admin/plan sends the dashboard), with σ never below the configured floor.
 */
export function planBounds(config: AggregatorConfig): Record<PlanLimitPath, PlanBound> {
  const floor = config.privacy.minNoiseMultiplier ?? config.privacy.noiseMultiplier;
  return { ...PLAN_LIMITS, noiseMultiplier: { ...PLAN_LIMITS.noiseMultiplier, min: Math.max(PLAN_LIMITS.noiseMultiplier.min, floor) } };
}

/** What POST /api/admin/plan accepts: every field optional, each within planBounds(config). */
export function planChangeSchema(config: AggregatorConfig) {
  const bounds = planBounds(config);
  const floor = bounds.noiseMultiplier.min;
  const field = (path: PlanLimitPath) => numberWithin(bounds[path]).optional();
  return z
    .object({
      target: field('target'),
      overSelection: field('overSelection'),
      // A sum of minReports reports must hold an honest noise share: c < minReports (config.privacy.colluders).
      minReports: field('minReports').refine((v) => v === undefined || v > config.privacy.colluders, {
        message: `minReports must exceed privacy.colluders (${config.privacy.colluders})`,
      }),
      pauseMs: field('pauseMs'),
      checkinMs: field('checkinMs'),
      // Without the training plan's defaults (trainingPlanSchema.partial() keeps them, and a
      // default would reset a field the change does not name).
      training: z
        .object({
          epochs: field('training.epochs'),
          batchSize: field('training.batchSize'),
          optimizer: trainingPlanSchema.shape.optimizer.unwrap().optional(),
          adamEpsilon: field('training.adamEpsilon'),
          sampledSoftmax: field('training.sampledSoftmax'),
          learningRate: field('training.learningRate'),
          maxExamples: field('training.maxExamples'),
          timeBudgetMs: field('training.timeBudgetMs'),
          targets: trainingPlanSchema.shape.targets.unwrap().optional(),
        })
        .strict()
        .optional(),
      clipNorm: field('clipNorm'),
      noiseMultiplier: z
        .number()
        .max(bounds.noiseMultiplier.max)
        .refine((v) => v >= floor, { message: `noiseMultiplier may not go below the configured floor ${floor}` })
        .optional(),
    })
    .strict();
}

export type PlanChange = z.output<ReturnType<typeof planChangeSchema>>;

/** The plan rounds run with before any admin change: the configuration (and, with adaptive clipping, the last adapted C). */
export function configuredPlan(config: AggregatorConfig, store: DataStore): LivePlan {
  const { round, training, privacy } = config;
  return {
    target: round.target,
    overSelection: round.overSelection,
    minReports: round.minReports,
    pauseMs: round.pauseMs,
    checkinMs: round.checkinMs,
    training,
    clipNorm: (privacy.adaptiveClipping ? store.clipNorm : null) ?? privacy.clipNorm,
    noiseMultiplier: privacy.noiseMultiplier,
  };
}

function stripUndefined<T extends object>(value: T): { [K in keyof T]-?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as { [K in keyof T]-?: Exclude<T[K], undefined> };
}

/** `current` with `change` applied field by field (training too), or why the result is not a plan. */
export function applyPlanChange(current: LivePlan, change: PlanChange): ProtocolResult<LivePlan> {
  const { training, ...rest } = change;
  const next: LivePlan = {
    ...current,
    ...stripUndefined(rest),
    training: trainingPlanSchema.parse({ ...current.training, ...stripUndefined(training ?? {}) }),
  };
  if (next.minReports > next.target) return protocolFailure('OUT_OF_BOUNDS', `plan change: minReports ${next.minReports} exceeds target ${next.target}`);
  return { ok: true, value: next };
}

/** Two changes as one: the later wins field by field, inside `training` as well. */
export function mergePlanChanges(earlier: PlanChange, later: PlanChange): PlanChange {
  const { training: before, ...restBefore } = earlier;
  const { training: after, ...restAfter } = later;
  const training = before || after ? { ...before, ...stripUndefined(after ?? {}) } : undefined;
  return { ...restBefore, ...stripUndefined(restAfter), ...(training ? { training } : {}) };
}

/** `value` without the field at `path` (a copy). */
function withoutPath(value: Record<string, unknown>, path: readonly PropertyKey[]): Record<string, unknown> {
  const [head, ...rest] = path;
  if (typeof head !== 'string' || !(head in value)) return value;
  const copy = { ...value };
  const inner = copy[head];
  if (rest.length === 0 || typeof inner !== 'object' || inner === null) delete copy[head];
  else copy[head] = withoutPath(inner as Record<string, unknown>, rest);
  return copy;
}

/**
 * The operator's saved changes as the current configuration allows them: a field it no longer
 * allows (σ below a floor raised since, a field this build does not know) is dropped and named,
 * the rest kept.
 */
export function validOverrides(config: AggregatorConfig, saved: Record<string, unknown>): { overrides: PlanChange; dropped: string[] } {
  const schema = planChangeSchema(config);
  let candidate = saved;
  const dropped: string[] = [];
  for (;;) {
    const parsed = schema.safeParse(candidate);
    if (parsed.success) return { overrides: parsed.data, dropped };
    const issue = parsed.error.issues[0] as z.core.$ZodIssue;
    const paths = issue.code === 'unrecognized_keys' ? issue.keys.map((key) => [...issue.path, key]) : [issue.path];
    const before = candidate;
    for (const path of paths) {
      dropped.push(`${path.join('.')}: ${issue.message}`);
      candidate = withoutPath(candidate, path);
    }
    // An issue on the whole object (none has a path here) cannot be fixed by dropping a field.
    if (candidate === before) return { overrides: {}, dropped: [...dropped, `all: ${issue.message}`] };
  }
}

export interface PlanDeskDeps {
  config: AggregatorConfig;
  store: DataStore;
  audit: AuditLog;
  logger: Logger;
}

/** Where the live plan goes when it changes: the round coordinator. */
export interface PlanHolder {
  readonly plan: LivePlan;
  readonly planRevision: number;
  setPlan(plan: LivePlan, revision: number): void;
}

/**
 * The operator's plan changes: validated against the configured bounds, audited, saved to
 * `<dataDir>/plan.json` (accumulated, field by field) before they apply, and restored on start.
 * Each change is a revision; a round record names the revision it ran with.
 */
export class PlanDesk {
  readonly #deps: PlanDeskDeps;
  #overrides: PlanChange;
  /** The plan and revision rounds start with after a restart. */
  readonly initial: { plan: LivePlan; revision: number };

  constructor(deps: PlanDeskDeps) {
    this.#deps = deps;
    const { config, store, logger } = deps;
    const configured = configuredPlan(config, store);
    const record = store.plan;
    if (!record) {
      this.#overrides = {};
      this.initial = { plan: configured, revision: 0 };
      return;
    }
    const { overrides, dropped } = validOverrides(config, record.overrides);
    if (dropped.length > 0) logger.warn({ dropped }, 'saved plan changes the configuration no longer allows were dropped');
    const applied = applyPlanChange(configured, overrides);
    let plan = configured;
    if (applied.ok) plan = applied.value;
    else logger.warn({ reason: applied.error.message }, 'saved plan changes do not fit the configuration; rounds use the configured plan');
    // With adaptive clipping, head.json holds the C the last round (or operator) set: it is newer.
    if (config.privacy.adaptiveClipping && store.clipNorm !== null) plan = { ...plan, clipNorm: store.clipNorm };
    this.#overrides = applied.ok ? overrides : {};
    this.initial = { plan, revision: record.revision };
    logger.info({ revision: record.revision, changedAt: record.changedAt, overrides: this.#overrides }, 'restored the operator’s plan changes');
  }

  /** POST /api/admin/plan: audit, save, then apply from the next round. */
  change(holder: PlanHolder, body: unknown, actor: string): ProtocolResult<PlanChangeResponse> {
    const { config, store, audit, logger } = this.#deps;
    const parsed = planChangeSchema(config).safeParse(body);
    if (!parsed.success) return protocolFailure('OUT_OF_BOUNDS', `plan change: ${z.prettifyError(parsed.error).replace(/\n/g, '; ')}`);
    const before = holder.plan;
    const next = applyPlanChange(before, parsed.data);
    if (!next.ok) return next;
    const revision = holder.planRevision + 1;
    const at = new Date();
    const overrides = mergePlanChanges(this.#overrides, parsed.data);
    const entry = audit.append({ actor, action: 'plan', revision, before, after: next.value, note: null }, at);
    store.savePlan({ revision, changedAt: at.toISOString(), overrides });
    if (config.privacy.adaptiveClipping && parsed.data.clipNorm !== undefined) store.setClipNorm(parsed.data.clipNorm);
    this.#overrides = overrides;
    holder.setPlan(next.value, revision);
    logger.info({ revision, actor, change: parsed.data, plan: next.value }, `plan changed by ${actor}: saved; applies from the next round`);
    return {
      ok: true,
      value: {
        plan: next.value,
        revision,
        persisted: true,
        message: `Plan revision ${revision} saved in the data directory (plan.json): it applies from the next round to start and survives a restart.`,
        audit: entry,
        bounds: planBounds(config),
      },
    };
  }
}
