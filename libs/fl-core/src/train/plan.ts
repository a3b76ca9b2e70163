import { z } from 'zod';

export const trainingTargetsSchema = z.enum(['last', 'every']);
export type TrainingTargets = z.infer<typeof trainingTargetsSchema>;

export const clientOptimizerSchema = z.enum(['sgd', 'adam']);
export type ClientOptimizerName = z.infer<typeof clientOptimizerSchema>;

/** How one client trains in one round; sent by the aggregator as part of the round's plan. */
export const trainingPlanSchema = z
  .object({
    epochs: z.number().int().min(1).max(50).default(1),
    batchSize: z.number().int().min(1).max(1024).default(32),
    /**
     * The client's local optimizer: plain SGD (FedAvg, McMahan et al. 2017), or Adam started fresh
     * each round (local adaptivity, Wang et al. 2021), which takes an LSTM's rare-word embeddings
     * much further in a few local steps. @default 'sgd'
     */
    optimizer: clientOptimizerSchema.default('sgd'),
    /**
     * Adam's ε: a fresh Adam's first steps are about ±lr on every weight with any gradient, and an ε
     * above a weight's gradients damps its steps (for the CIFG, larger ε measured worse; see
     * docs/learning.md). @default 1e-7 (tfjs's)
     */
    adamEpsilon: z.number().positive().max(1).optional(),
    /**
     * Train against this many sampled candidate words per step instead of the whole vocabulary
     * (sampled softmax, Jean et al. 2015): for the CIFG's 10k-word tied softmax, most of a step's
     * work. Needs a tied-softmax model. Absent: the full softmax.
     */
    sampledSoftmax: z.number().int().min(1).max(65_536).optional(),
    /** Client step size. */
    learningRate: z.number().positive().max(100).default(0.5),
    /** Cap on the examples a client trains on per round (a random subset), bounding its compute. */
    maxExamples: z.number().int().positive().max(10_000_000).default(1_000),
    /** Wall-clock cap; training stops after the batch that crosses it. */
    timeBudgetMs: z.number().int().positive().max(3_600_000).default(60_000),
    /**
     * Which next tokens a window trains on: 'last' only its target; 'every' the next token after
     * every position (Hard et al. 2018 train with a loss at each step), the targets that are not
     * <pad> or <bos>. Optional, so plans from before the field parse. @default 'last'
     */
    targets: trainingTargetsSchema.default('last'),
  })
  .strict();

export type TrainingPlan = z.output<typeof trainingPlanSchema>;
export type TrainingPlanInput = z.input<typeof trainingPlanSchema>;

export function parseTrainingPlan(input: TrainingPlanInput): TrainingPlan {
  const result = trainingPlanSchema.safeParse(input);
  if (!result.success) throw new TypeError(`invalid training plan: ${z.prettifyError(result.error)}`);
  return result.data;
}
