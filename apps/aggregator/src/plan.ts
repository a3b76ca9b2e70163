import { z } from 'zod';
import type { Logger } from 'pino';
import { protocolFailure, trainingPlanSchema, type LivePlan, type PlanChangeResponse, type ProtocolResult } from '@murmur/fl-core';
import type { AuditLog } from './audit';
import type { AggregatorConfig } from './config';
import type { DataStore } from './store';

/** Bounds of what the admin API may change; σ never below the configured floor. */
export function planChangeSchema(config: AggregatorConfig) {
  const fields = trainingPlanSchema.shape;
  const floor = config.privacy.minNoiseMultiplier ?? config.privacy.noiseMultiplier;
  return z
    .object({
      target: z.number().int().min(2).max(100_000).optional(),
      overSelection: z.number().min(1).max(3).optional(),
      minReports: z.number().int().min(2).max(100_000).optional(),
      pauseMs: z.number().int().min(0).max(86_400_000).optional(),
      checkinMs: z.number().int().min(0).max(3_600_000).optional(),
      // The plan's own field schemas without their defaults (trainingPlanSchema.partial() keeps
      // them, and a default would reset a field the change does not name).
      training: z
        .object({
          epochs: fields.epochs.unwrap().optional(),
          batchSize: fields.batchSize.unwrap().optional(),
          optimizer: fields.optimizer.unwrap().optional(),
          adamEpsilon: fields.adamEpsilon,
          sampledSoftmax: fields.sampledSoftmax,
          learningRate: fields.learningRate.unwrap().optional(),
          maxExamples: fields.maxExamples.unwrap().optional(),
          timeBudgetMs: fields.timeBudgetMs.unwrap().optional(),
          targets: fields.targets.unwrap().optional(),
        })
        .strict()
        .optional(),
      clipNorm: z.number().positive().max(1e6).optional(),
      noiseMultiplier: z
        .number()
        .max(100)
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
    logger.info({ revision, change: parsed.data, plan: next.value }, 'plan changed by admin: saved; applies from the next round');
    return {
      ok: true,
      value: {
        plan: next.value,
        revision,
        persisted: true,
        message: `Plan revision ${revision} saved in the data directory (plan.json): it applies from the next round to start and survives a restart.`,
        audit: entry,
      },
    };
  }
}
