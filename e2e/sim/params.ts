import { z } from 'zod';
import { core } from './core';

/** The secure-aggregation phases a fault can be injected at (the aggregator's phase names). */
export const FAULT_PHASES = core.SECAGG_PHASES;
export type FaultPhase = (typeof FAULT_PHASES)[number];

/** Accepts the kebab-case spelling QA types (`masked-input`) as well as the aggregator's name. */
const phaseName = z
  .string()
  .transform((raw) => raw.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()))
  .pipe(z.enum(FAULT_PHASES, { error: `expected one of ${FAULT_PHASES.map((p) => p.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)).join(', ')}` }));

/**
 * One simulation's parameters: parsed from the CLI's flags, handed to the Playwright spec as JSON
 * in MURMUR_SIM_PARAMS and parsed again there (the environment is a trust boundary too).
 */
export const simParamsSchema = z
  .object({
    /** Browser contexts, each its own device: own IndexedDB, own `?seed=<i>` partition. */
    clients: z.number().int().min(3).max(16),
    /** Rounds to finish (committed or aborted, as /api/rounds records them). */
    rounds: z.number().int().min(1).max(50),
    /** Share of each round's cohort dropped by a fault (closed page or offline context). */
    dropout: z.number().min(0).max(0.5),
    /** Seeds the fault schedule (which client, which phase, which kind) and the initial model. */
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1),
    /** SIGKILL the aggregator process when it enters this phase in one round, then restart it. */
    killAggregatorAt: phaseName.nullable(),
    /** Report folder (absolute). */
    out: z.string().min(1),
  })
  .strict();

export type SimParams = z.output<typeof simParamsSchema>;

/** The environment variable the CLI passes the parameters in. */
export const PARAMS_ENV = 'MURMUR_SIM_PARAMS';
/** A JSON-lines file the spec appends progress to and the CLI renders from. */
export const PROGRESS_ENV = 'MURMUR_SIM_PROGRESS';

/** Progress lines (one JSON object per line), written by the spec, read by the CLI. */
export const progressEventSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('stage'), text: z.string() }),
  z.object({ kind: z.literal('phase'), round: z.number(), phase: z.string(), pending: z.number(), cohort: z.number() }),
  z.object({ kind: z.literal('round'), round: z.number(), status: z.string() }),
  z.object({ kind: z.literal('fault'), text: z.string() }),
]);
export type ProgressEvent = z.output<typeof progressEventSchema>;
