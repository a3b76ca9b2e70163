import { beforeAll, describe, expect, it } from 'vitest';
import { useNodeBackend } from '../node/backend';
import { buildModel } from '../model/build';
import { getFlatWeights } from '../model/weights';
import { createVocabulary, textToExamples } from '../text/index';
import { createSeededRandom } from '../random/index';
import { createMetricsLayout, decodeSumWithMetrics, encodingParams } from '../encode/index';
import { createSecAggServer, secAggServerStep, type Outbound } from '../secagg/server';
import { l2Norm } from '../privacy/clip';
import type { RoundPlan, SecAggUp } from '../protocol/schemas';
import { prepareContribution, type Contribution } from './contribution';
import { TEST_SPEC, testPlan } from './test-plan';
import { participantOutcome, participantStep, startParticipant, type ParticipantState } from './participant';
import { certifiedCohort } from '../secagg/attacks/harness';
import { roundPlanHash } from '../round/plan-hash';

const TEXTS = [
  ['The people of the United States have the right to know.', 'We will work for the people and the nation.'],
  ['The state of the union is strong.', 'It is the duty of the government to serve the people.'],
  ['We have made progress in the world.', 'The nation will not fail in this time of need.'],
];

/** Without privacy and with threshold 2: the tests here check the arithmetic of one round. */
function makePlan(n: number): RoundPlan {
  return testPlan(n, {
    secagg: { threshold: 2 },
    privacy: { mode: 'off', clipNorm: 0.5, noiseMultiplier: 0, minSurvivors: 2 },
    encoding: { clipRange: 0.5 },
  });
}

beforeAll(async () => {
  await useNodeBackend('wasm');
});

describe('participant', () => {
  it('contributes encoded, clipped updates whose secure sum decodes to the cohort totals', async () => {
    const vocabulary = createVocabulary({ size: TEST_SPEC.vocabularySize });
    const model = buildModel(TEST_SPEC, { seed: 5 });
    const globalWeights = getFlatWeights(model);
    const n = TEXTS.length;
    const base = makePlan(n);
    const contributions: Contribution[] = [];
    for (const [id, texts] of TEXTS.entries()) {
      const examples = textToExamples(texts, vocabulary, TEST_SPEC.contextLength);
      const result = await prepareContribution({ plan: { ...base, participantId: id }, model, globalWeights, examples, random: createSeededRandom(id) });
      if (!result.ok) throw new Error(result.error.message);
      contributions.push(result.value);
      expect(result.value.report.evaluation.count).toBe(Math.floor(examples.count * 0.25));
    }
    model.dispose();

    const created = createSecAggServer(base.secagg);
    if (!created.ok) throw new Error(created.error.message);
    let server = created.state;
    const states: ParticipantState[] = [];
    const deliverUp = async (from: number, message: SecAggUp | null) => {
      if (!message) return;
      const step = await secAggServerStep(server, { type: 'message', from, message });
      if (!step.ok) throw new Error(step.error.message);
      server = step.state;
    };
    for (const [id, contribution] of contributions.entries()) {
      const started = await startParticipant({ ...base, participantId: id }, contribution.input);
      if (!started.ok) throw new Error(started.error.message);
      states[id] = started.value.state;
      await deliverUp(id, started.value.outbound);
    }
    while (server.stage !== 'done' && server.stage !== 'aborted') {
      const closed = await secAggServerStep(server, { type: 'closeStage', stage: server.stage });
      if (!closed.ok) throw new Error(closed.error.message);
      server = closed.state;
      for (const { to, message } of closed.outbound as Outbound[]) {
        const step = await participantStep(states[to] as ParticipantState, message);
        if (!step.ok) throw new Error(step.error.message);
        states[to] = step.value.state;
        await deliverUp(to, step.value.outbound);
      }
    }
    expect(server.stage).toBe('done');
    expect(states.map((s) => participantOutcome(s))).toEqual(['done', 'done', 'done']);
    const layout = createMetricsLayout(base.metrics, { maxClients: n, modulusBits: 32 });
    const decoded = decodeSumWithMetrics(server.result?.sum as Uint32Array, encodingParams(base.encoding), layout, n);
    const reports = contributions.map((c) => c.report);
    // Counts ride with scale 1: the secure sum is exact.
    expect(decoded.metrics.examples).toBe(reports.reduce((s, r) => s + r.numExamples, 0));
    expect(decoded.metrics.evalCount).toBe(reports.reduce((s, r) => s + r.evaluation.count, 0));
    expect(decoded.metrics.evalTop1).toBe(reports.reduce((s, r) => s + r.evaluation.top1Hits, 0));
    expect(decoded.metrics.evalLossSum).toBeCloseTo(
      reports.reduce((s, r) => s + r.evaluation.lossSum, 0),
      3,
    );
    // Each update was clipped to C = 0.5, so the sum's norm is at most n·C (plus quantization).
    expect(l2Norm(decoded.values)).toBeLessThanOrEqual(n * 0.5 + 1e-3);
    expect(l2Norm(decoded.values)).toBeGreaterThan(0);
  });

  it('drives the signed protocol with a certified identity, and refuses a plan that turns it off', async () => {
    const n = 3;
    const cohort = await certifiedCohort(n);
    const base = makePlan(n);
    const plan: RoundPlan = { ...base, secagg: { ...base.secagg, threshold: 2, authenticated: true } };
    const d = plan.secagg.vectorLength;
    const inputs = Array.from({ length: n }, (_, id) => new Uint32Array(d).fill(id + 1));
    const created = createSecAggServer(plan.secagg, { enrollmentIssuer: cohort.enrollmentIssuer, planHash: roundPlanHash(plan) });
    if (!created.ok) throw new Error(created.error.message);
    let server = created.state;
    const states: ParticipantState[] = [];
    const optionsOf = (id: number) => {
      const identity = cohort.identities[id] as (typeof cohort.identities)[number];
      return { identity: { certificate: identity.certificate, privateKey: identity.privateKey }, enrollmentIssuer: cohort.enrollmentIssuer };
    };
    const deliverUp = async (from: number, message: SecAggUp | null) => {
      if (!message) return;
      // The aggregator's transport adds the certificate the sender's connection presented.
      const certificate = (cohort.identities[from] as (typeof cohort.identities)[number]).certificate;
      const received = message.type === 'advertiseKeys' ? { ...message, certificate } : message;
      const step = await secAggServerStep(server, { type: 'message', from, message: received });
      if (!step.ok) throw new Error(step.error.message);
      server = step.state;
    };
    for (let id = 0; id < n; id++) {
      // The plan each member hashes differs only in participantId, which the hash leaves out.
      const started = await startParticipant({ ...plan, participantId: id }, inputs[id] as Uint32Array, optionsOf(id));
      if (!started.ok) throw new Error(started.error.message);
      states[id] = started.value.state;
      await deliverUp(id, started.value.outbound);
    }
    const stages: string[] = [];
    while (server.stage !== 'done' && server.stage !== 'aborted') {
      stages.push(server.stage);
      const closed = await secAggServerStep(server, { type: 'closeStage', stage: server.stage });
      if (!closed.ok) throw new Error(closed.error.message);
      server = closed.state;
      for (const { to, message } of closed.outbound as Outbound[]) {
        const step = await participantStep(states[to] as ParticipantState, message, optionsOf(to));
        if (!step.ok) throw new Error(step.error.message);
        states[to] = step.value.state;
        await deliverUp(to, step.value.outbound);
      }
    }
    expect(stages).toEqual(['advertiseKeys', 'shareKeys', 'maskedInput', 'consistencyCheck', 'unmasking']);
    expect(server.stage).toBe('done');
    expect(Array.from(server.result?.sum.subarray(0, 3) ?? [])).toEqual([6, 6, 6]);
    // A certified client never joins a round without signatures: the server cannot downgrade it.
    const downgraded = await startParticipant(base, inputs[0] as Uint32Array, optionsOf(0));
    expect(downgraded.ok).toBe(false);
    if (!downgraded.ok) expect(downgraded.error.code).toBe('INVALID_CONFIG');
  });

  it('refuses a plan whose vector does not fit the model, and messages of another round', async () => {
    const model = buildModel(TEST_SPEC, { seed: 1 });
    const weights = getFlatWeights(model);
    const plan = makePlan(3);
    const examples = textToExamples(TEXTS[0] as string[], createVocabulary({ size: 100 }), 4);
    const bad = await prepareContribution({ plan: { ...plan, secagg: { ...plan.secagg, vectorLength: 5 } }, model, globalWeights: weights, examples });
    expect(bad).toMatchObject({ ok: false, error: { code: 'CONTRIBUTION_FAILED' } });
    const good = await prepareContribution({ plan, model, globalWeights: weights, examples });
    model.dispose();
    if (!good.ok) throw new Error(good.error.message);
    const started = await startParticipant(plan, good.value.input);
    if (!started.ok) throw new Error(started.error.message);
    const stale = await participantStep(started.value.state, { type: 'unmaskRequest', roundId: 'round-6', survivors: [0, 1] });
    expect(stale).toMatchObject({ ok: false, error: { code: 'STALE_ROUND' } });
  });
});
