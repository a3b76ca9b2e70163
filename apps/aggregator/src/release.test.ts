import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io } from 'socket.io-client';
import { decodeModelPayload } from '@murmur/fl-core/model';
import { handshakeAuth } from '@murmur/fl-core/participant';
import { releaseActionResponseSchema, releaseViewSchema, statusResponseSchema, type RoundReport, type Welcome } from '@murmur/fl-core/protocol';
import { type GateDecision } from '@murmur/fl-core/round';
import { useNodeBackend } from '@murmur/fl-core/node';
import type { RunningAggregator } from './aggregator';
import { startWithEnrollment } from './enrollment/host';
import type { AggregatorConfigInput } from './config';
import { stateOfTheUnionClients } from './demo-data';
import { enroll, startVirtualClients, type VirtualClientPool } from './virtual-clients';
import { eventually, tempDataDir, TEST_ADMIN_TOKEN, TEST_PLAN_POLICY, TEST_SPEC, testConfig, testLogger } from './test-helpers';

/**
 * Release gates with a real aggregator, real secure aggregation and six virtual clients: a harmful
 * plan change (σ from 0.02 to 20: the noise of the mean is about σ·C·√d / n ≈ 300 for this
 * 8,000-parameter model) makes candidates the gate refuses while browsers keep the released
 * version; operators roll back and release with the admin token; all of it survives a restart.
 */

/** Large enough to destroy the test model in one round, well inside the admin API's bound (100). */
const HARMFUL_NOISE = 20;
const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' };

async function post(aggregator: RunningAggregator, path: string, body: unknown, headers: Record<string, string> = auth) {
  const response = await fetch(`${aggregator.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** The version GET /api/model/released serves (header and payload agree). */
async function servedVersion(aggregator: RunningAggregator, path = '/api/model/released'): Promise<number> {
  const response = await fetch(`${aggregator.url}${path}`);
  expect(response.status).toBe(200);
  const payload = decodeModelPayload(new Uint8Array(await response.arrayBuffer()));
  expect(response.headers.get('x-model-version')).toBe(String(payload.version));
  expect(response.headers.get('cache-control')).toBe('no-cache');
  return payload.version;
}

async function welcomeVersion(aggregator: RunningAggregator): Promise<number> {
  const socket = io(aggregator.url, { auth: handshakeAuth(await enroll(aggregator.url)), transports: ['websocket'], reconnection: false });
  try {
    return await new Promise<number>((resolve, reject) => {
      socket.once('welcome', (welcome: Welcome) => resolve(welcome.modelVersion));
      socket.once('connect_error', reject);
    });
  } finally {
    socket.disconnect();
  }
}

const decisionsAfter = (aggregator: RunningAggregator, version: number): GateDecision[] =>
  aggregator.store.release.decisions.filter((d) => d.version >= version);

/** The first committed round that ran with plan `revision`: the one that made the first harmful candidate. */
const firstRoundWithRevision = (aggregator: RunningAggregator, revision: number): RoundReport | undefined =>
  aggregator.store.rounds.find((r) => r.status === 'committed' && r.planRevision === revision);

function gateConfig(dir: string, release: AggregatorConfigInput['release']) {
  return testConfig(dir, { release, round: { target: 6, minReports: 4, checkinMs: 300, pauseMs: 50 } });
}

describe("release gates, policy 'candidate' (the default)", () => {
  const data = tempDataDir();
  let aggregator: RunningAggregator;
  let pool: VirtualClientPool | null = null;

  beforeAll(async () => {
    await useNodeBackend('wasm');
    // A loose norm bound: here the federated evaluation is what must catch the harm.
    aggregator = await startWithEnrollment(gateConfig(data.dir, { maxUpdateNorm: 1e6 }), { logger: testLogger() });
    pool = await startVirtualClients({ url: aggregator.url, clients: stateOfTheUnionClients(TEST_SPEC, 6), planPolicy: TEST_PLAN_POLICY });
  });
  afterAll(async () => {
    await pool?.close();
    await aggregator.close();
    data.remove();
  });

  it('releases candidates that evaluate no worse, and refuses one after a harmful σ while suggestions stay on the released version', async () => {
    // Version 1 is released only once round 2 evaluated it: suggestions lag training by a round.
    await eventually(() => (aggregator.store.release.released >= 2 ? true : undefined), 90_000, 'two released versions');
    const early = aggregator.store.release.decisions.find((d) => d.outcome === 'released');
    expect(early?.checks.map((c) => [c.check, c.result])).toEqual([
      ['finite', 'passed'],
      ['updateNorm', 'passed'],
      ['evaluation', 'passed'],
      ['loss', 'passed'],
      ['top1', 'passed'],
    ]);
    expect(early?.candidateEvaluation?.round).toBe((early?.candidateEvaluation?.version ?? 0) + 1);

    const change = await post(aggregator, '/api/admin/plan', { noiseMultiplier: HARMFUL_NOISE });
    expect(change).toMatchObject({ status: 200, body: { revision: 1, persisted: true, plan: { noiseMultiplier: HARMFUL_NOISE } } });

    const harmful = await eventually(() => firstRoundWithRevision(aggregator, 1), 60_000, 'a round with the harmful plan');
    const candidate = harmful.modelVersion.to;
    const refused = await eventually(
      () => aggregator.store.release.decisions.find((d) => d.version === candidate && d.outcome !== 'pending'),
      60_000,
      `the gate's decision on v${candidate}`,
    );
    expect(refused.outcome).toBe('refused');
    expect(refused.checks.find((c) => c.check === 'loss')).toMatchObject({ result: 'failed', limit: 0.05 });
    expect(refused.reason).toMatch(/^refused: eval loss \d+\.\d{3} vs \d+\.\d{3} \(\+\d+\.\d{3} nats; tolerance \+0\.05\)/);
    expect(refused.candidateEvaluation?.loss).toBeGreaterThan((refused.releasedEvaluation?.loss ?? Infinity) + 0.05);

    // Browsers keep the released version: the REST endpoint, its old name and the welcome event.
    const released = aggregator.store.release.released;
    expect(released).toBeLessThan(candidate);
    expect(await servedVersion(aggregator)).toBe(released);
    expect(await servedVersion(aggregator, '/api/model/latest')).toBe(released);
    expect(await welcomeVersion(aggregator)).toBe(released);
    // Training went on from the refused candidate (policy 'candidate'), and nothing after it was released.
    await eventually(() => (aggregator.store.modelVersion > candidate + 1 ? true : undefined), 60_000, 'more rounds from the refused candidate');
    expect(decisionsAfter(aggregator, candidate).every((d) => d.outcome !== 'released')).toBe(true);
    expect(aggregator.store.rounds.find((r) => r.status === 'committed' && r.modelVersion.from === candidate)).toBeDefined();

    const view = releaseViewSchema.parse(await (await fetch(`${aggregator.url}/api/release`)).json());
    expect(view.policy).toBe('candidate');
    expect(view.decisions[0]?.version).toBeGreaterThan(candidate);
    expect(view.audit.map((e) => [e.action, e.actor])).toContainEqual(['plan', 'admin']);
    expect(view.audit.filter((e) => e.action === 'release').every((e) => e.actor === 'gate')).toBe(true);
    const status = statusResponseSchema.parse(await (await fetch(`${aggregator.url}/api/status`)).json());
    expect(status.release).toMatchObject({ released, policy: 'candidate' });
    expect(status.planRevision).toBe(1);
    const metrics = await (await fetch(`${aggregator.url}/metrics`)).text();
    expect(metrics).toContain(`murmur_released_model_version ${released}`);
    expect(metrics).toMatch(/murmur_release_gate_decisions_total\{outcome="refused"\} [1-9]/);
  }, 240_000);

  it('rolls back and releases only with the admin token, audited, and all of it (plan included) survives a restart', async () => {
    expect((await post(aggregator, '/api/admin/pause', {})).status).toBe(200);
    await eventually(() => (aggregator.coordinator.phase === 'paused' ? true : undefined), 60_000, 'the pause');
    const released = aggregator.store.release.released;
    const older = released - 1;

    expect(await post(aggregator, '/api/admin/rollback', { version: older }, { 'content-type': 'application/json' })).toMatchObject({
      status: 401,
      body: { code: 'UNAUTHORIZED' },
    });
    expect(aggregator.store.release.released).toBe(released);
    expect(await post(aggregator, '/api/admin/rollback', { version: 99_999 })).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
    expect(await post(aggregator, '/api/admin/rollback', { version: released })).toMatchObject({ status: 409, body: { code: 'CONFLICT' } });
    expect(await post(aggregator, '/api/admin/rollback', { version: 'v1' })).toMatchObject({ status: 400, body: { code: 'MALFORMED' } });
    expect(await post(aggregator, '/api/admin/release', { version: older })).toMatchObject({ status: 409, body: { code: 'CONFLICT' } });

    const rollback = await post(aggregator, '/api/admin/rollback', { version: older, note: 'σ = 20 was a mistake' });
    expect(rollback.status).toBe(200);
    const rolled = releaseActionResponseSchema.parse(rollback.body);
    expect(rolled.release).toMatchObject({ released: older, trainingBase: older, candidate: null });
    expect(rolled.audit).toMatchObject({
      action: 'rollback',
      actor: 'admin',
      version: older,
      before: { released },
      after: { released: older, trainingBase: older },
      note: 'σ = 20 was a mistake',
    });
    expect(await servedVersion(aggregator)).toBe(older);

    const release = await post(aggregator, '/api/admin/release', { version: released });
    expect(release.status).toBe(200);
    // Training followed the rollback to the released version, so it follows this release too.
    expect(releaseActionResponseSchema.parse(release.body).release).toMatchObject({ released, trainingBase: released });

    // A restart on the same data directory: the release, the training base, the audit log and the operator's plan are all back.
    await pool?.close();
    pool = null;
    await aggregator.close();
    aggregator = await startWithEnrollment(gateConfig(data.dir, { maxUpdateNorm: 1e6 }), { logger: testLogger() });
    const status = statusResponseSchema.parse(await (await fetch(`${aggregator.url}/api/status`)).json());
    expect(status.release).toMatchObject({ released, trainingBase: released });
    expect(status.plan.noiseMultiplier).toBe(HARMFUL_NOISE);
    expect(status.planRevision).toBe(1);
    expect(await servedVersion(aggregator)).toBe(released);
    const view = releaseViewSchema.parse(await (await fetch(`${aggregator.url}/api/release`)).json());
    expect(view.audit.slice(0, 2).map((e) => [e.action, e.actor, 'version' in e ? e.version : null])).toEqual([
      ['release', 'admin', released],
      ['rollback', 'admin', older],
    ]);
    expect(view.audit.find((e) => e.action === 'plan')).toMatchObject({
      revision: 1,
      before: { noiseMultiplier: 0.02 },
      after: { noiseMultiplier: HARMFUL_NOISE },
    });
    expect(view.audit.map((e) => e.seq)).toEqual([...view.audit.map((e) => e.seq)].sort((a, b) => b - a));
    // The next plan change continues the revisions.
    expect(await post(aggregator, '/api/admin/plan', { noiseMultiplier: 0.02 })).toMatchObject({ status: 200, body: { revision: 2 } });
  }, 120_000);
});

describe("release gates, policy 'released' with a tight norm bound", () => {
  const data = tempDataDir();
  let aggregator: RunningAggregator;
  let pool: VirtualClientPool;

  beforeAll(async () => {
    await useNodeBackend('wasm');
    // An honest round moves this model by at most C + noise ≈ 1.3; σ = 20 by about 300.
    aggregator = await startWithEnrollment(gateConfig(data.dir, { maxUpdateNorm: 10, trainFrom: 'released' }), { logger: testLogger() });
    pool = await startVirtualClients({ url: aggregator.url, clients: stateOfTheUnionClients(TEST_SPEC, 6), planPolicy: TEST_PLAN_POLICY });
  });
  afterAll(async () => {
    await pool.close();
    await aggregator.close();
    data.remove();
  });

  it('refuses a candidate by its update norm at once, and trains from the released version after it', async () => {
    await eventually(() => (aggregator.store.release.released >= 1 ? true : undefined), 90_000, 'a released version');
    expect((await post(aggregator, '/api/admin/plan', { noiseMultiplier: HARMFUL_NOISE })).status).toBe(200);
    const harmful = await eventually(() => firstRoundWithRevision(aggregator, 1), 60_000, 'a round with the harmful plan');
    const decision = aggregator.store.release.decisions.find((d) => d.version === harmful.modelVersion.to);
    // Decided at the commit that made it, without waiting for an evaluation.
    expect(decision).toMatchObject({ outcome: 'refused', round: harmful.round });
    expect(decision?.checks.find((c) => c.check === 'updateNorm')).toMatchObject({ result: 'failed', limit: 10 });
    expect(decision?.reason).toMatch(/^refused: ‖candidate − released‖₂ = \d+(\.\d+)? > 10$/);
    const released = aggregator.store.release.released;
    expect(released).toBeLessThan(harmful.modelVersion.to);
    // The rounds after it train from the released version, and their candidates are refused too.
    const after = await eventually(
      () => aggregator.store.rounds.find((r) => r.status === 'committed' && r.round > harmful.round),
      60_000,
      'a round after the refusal',
    );
    expect(after.modelVersion.from).toBe(released);
    expect(aggregator.store.release.decisions.find((d) => d.version === after.modelVersion.to)?.outcome).toBe('refused');
    expect(await servedVersion(aggregator)).toBe(released);
  }, 180_000);
});
