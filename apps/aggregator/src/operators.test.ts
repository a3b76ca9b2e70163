import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import {
  PLAN_LIMITS,
  planChangeResponseSchema,
  planViewSchema,
  releaseActionResponseSchema,
  releaseViewSchema,
  type PlanLimitPath,
} from '@murmur/fl-core/protocol';
import { useNodeBackend } from '@murmur/fl-core/node';
import { adminOperatorsOf, type RunningAggregator } from './aggregator';
import { startWithEnrollment } from './enrollment/host';
import { loadConfig, parseOperatorTokens } from './config';
import { stateOfTheUnionClients } from './demo-data';
import { tokensFileProblem } from './http';
import { planBounds, planChangeSchema } from './plan';
import { operatorKeys, operatorOf } from './tokens';
import { startVirtualClients, type VirtualClientPool } from './virtual-clients';
import { eventually, tempDataDir, TEST_ADMIN_TOKEN, TEST_PLAN_POLICY, TEST_SPEC, testConfig, testLogger } from './test-helpers';

/**
 * Named operators (issue 17: the audit log says who): each operator has a token of their own, the
 * audit log records the name of the one who acted, and a token no operator holds is refused.
 */

const silent = pino({ level: 'silent' });
const ALICE = 'alice-token-0123456789abcdef';
const BOB = 'bob-token-0123456789abcdef:with-colon';

describe('operator tokens', () => {
  it('parses name:token lists from a flag (commas) or a file (lines, # comments); a token may hold ":"', () => {
    expect(parseOperatorTokens(`alice:${ALICE},bob:${BOB}`, 'x')).toEqual({
      ok: true,
      value: [
        { name: 'alice', token: ALICE },
        { name: 'bob', token: BOB },
      ],
    });
    expect(parseOperatorTokens(`# operators\nalice:${ALICE}\n\n  bob:${BOB}  \n`, 'x')).toMatchObject({
      ok: true,
      value: [{ name: 'alice' }, { name: 'bob' }],
    });
  });

  it('refuses bad entries naming where, never echoing a token', () => {
    for (const [text, expected] of [
      [`alice${ALICE}`, /entry 1: expected name:token/],
      [`:${ALICE}`, /entry 1: expected name:token/],
      ['alice:short', /entry 1 \(token\)/],
      [`gate:${ALICE}`, /entry 1 \(name\): 'gate' names the release gate/],
      [`alice:${ALICE},b ob:${BOB}`, /entry 2 \(name\)/],
    ] as const) {
      const parsed = parseOperatorTokens(text, 'adminTokens');
      expect(parsed.ok).toBe(false);
      if (parsed.ok) continue;
      expect(parsed.message).toMatch(expected);
      expect(parsed.message).not.toContain(ALICE);
      expect(parsed.message).not.toContain('short');
    }
  });

  it('comes from --admin-tokens, MURMUR_ADMIN_TOKENS or a JSON config, beside the default admin token', () => {
    expect(loadConfig(['--admin-tokens', `alice:${ALICE}`], {})).toMatchObject({ ok: true, config: { adminTokens: [{ name: 'alice', token: ALICE }] } });
    expect(loadConfig([], { MURMUR_ADMIN_TOKENS: `alice:${ALICE},bob:${BOB}`, MURMUR_ADMIN_TOKEN: TEST_ADMIN_TOKEN })).toMatchObject({
      ok: true,
      config: { adminToken: TEST_ADMIN_TOKEN, adminTokens: [{ name: 'alice' }, { name: 'bob' }] },
    });
    const refused = loadConfig(['--admin-tokens', 'alice:tooshort'], {});
    expect(refused).toMatchObject({ ok: false, message: expect.stringMatching(/^--admin-tokens: entry 1 \(token\)/) });
    expect(loadConfig([], { MURMUR_ADMIN_TOKENS: 'alice' })).toMatchObject({ ok: false, message: 'env MURMUR_ADMIN_TOKENS: entry 1: expected name:token' });
    // Without any, the default operator's token is generated at start (as before named operators).
    const none = loadConfig([], {});
    expect(none.ok && [none.config.adminToken, none.config.adminTokens]).toEqual([undefined, undefined]);
  });

  it('keeps the single default token working as "admin", generated when none is configured', () => {
    const data = tempDataDir();
    try {
      const config = testConfig(data.dir, { adminToken: undefined });
      const [only, ...rest] = adminOperatorsOf(config, silent);
      expect(rest).toEqual([]);
      expect(only?.name).toBe('admin');
      expect(readFileSync(join(data.dir, 'admin-token'), 'utf8').trim()).toBe(only?.token);
      // Named operators alone: no default token is generated.
      const other = tempDataDir();
      try {
        expect(adminOperatorsOf(testConfig(other.dir, { adminToken: undefined, adminTokens: [{ name: 'alice', token: ALICE }] }), silent)).toEqual([
          { name: 'alice', token: ALICE },
        ]);
        expect(existsSync(join(other.dir, 'admin-token'))).toBe(false);
      } finally {
        other.remove();
      }
    } finally {
      data.remove();
    }
  });

  it('adds the operators of a tokens file, and refuses shared names or shared tokens', () => {
    const data = tempDataDir();
    try {
      const file = join(data.dir, 'operators');
      writeFileSync(file, `# who may act\ncarol:carol-token-0123456789\n`, { mode: 0o600 });
      const operators = adminOperatorsOf(testConfig(data.dir, { adminTokens: [{ name: 'alice', token: ALICE }], adminTokensFile: file }), silent);
      expect(operators.map((o) => o.name)).toEqual(['admin', 'alice', 'carol']);
      expect(() => adminOperatorsOf(testConfig(data.dir, { adminTokens: [{ name: 'admin', token: ALICE }] }), silent)).toThrow(/'admin' is given twice/);
      expect(() => adminOperatorsOf(testConfig(data.dir, { adminTokens: [{ name: 'alice', token: TEST_ADMIN_TOKEN }] }), silent)).toThrow(
        /'alice' has the token of another operator/,
      );
      expect(() => adminOperatorsOf(testConfig(data.dir, { adminTokensFile: join(data.dir, 'missing') }), silent)).toThrow(/admin tokens file/);
    } finally {
      data.remove();
    }
  });

  it('refuses to start with the tokens file inside the static directory, which is served whole', async () => {
    const data = tempDataDir();
    const www = tempDataDir();
    try {
      const file = join(www.dir, 'operators.txt');
      writeFileSync(file, `alice:${ALICE}\n`, { mode: 0o600 });
      await expect(startWithEnrollment(testConfig(data.dir, { adminTokensFile: file }), { logger: testLogger(), staticDir: www.dir })).rejects.toThrow(
        /refusing to start: admin tokens file .* is inside the static directory/,
      );
      expect(tokensFileProblem(join(data.dir, 'operators.txt'), www.dir)).toBeNull();
    } finally {
      data.remove();
      www.remove();
    }
  });

  it('names the operator whose token is presented, compares every one, and refuses anything else', () => {
    const keys = operatorKeys([
      { name: 'admin', token: TEST_ADMIN_TOKEN },
      { name: 'alice', token: ALICE },
      { name: 'bob', token: BOB },
    ]);
    expect(operatorOf(`Bearer ${ALICE}`, keys)).toBe('alice');
    expect(operatorOf(`Bearer ${BOB}`, keys)).toBe('bob');
    expect(operatorOf(`Bearer ${TEST_ADMIN_TOKEN}`, keys)).toBe('admin');
    for (const header of [undefined, '', 'Bearer ', ALICE, `bearer ${ALICE}`, `Bearer ${ALICE} `, `Bearer ${ALICE.slice(0, -1)}`, `Basic ${ALICE}`])
      expect(operatorOf(header, keys)).toBeNull();
    expect(operatorOf('Bearer ', operatorKeys([{ name: 'x', token: '' }]))).toBeNull();
  });
});

describe('plan bounds (GET /api/admin/plan)', () => {
  const config = testConfig('/nonexistent', { privacy: { noiseMultiplier: 0.5, minNoiseMultiplier: 0.2 } });
  const schema = planChangeSchema(config);
  /** A change setting the field at `path` to `value`. */
  const change = (path: string, value: number) => {
    const [head, inner] = path.split('.') as [string, string | undefined];
    return inner === undefined ? { [head]: value } : { [head]: { [inner]: value } };
  };

  it('are exactly what the plan change schema enforces, field by field (σ floored at the configured minimum)', () => {
    const bounds = planBounds(config);
    expect(Object.keys(bounds).sort()).toEqual(Object.keys(PLAN_LIMITS).sort());
    expect(bounds.noiseMultiplier).toMatchObject({ min: 0.2, max: 100 });
    expect(bounds['training.epochs']).toEqual({ min: 1, max: 50, integer: true });
    expect(bounds['training.learningRate']).toEqual({ min: 0, max: 100, integer: false, minExclusive: true });
    for (const [path, bound] of Object.entries(bounds) as [PlanLimitPath, (typeof bounds)[PlanLimitPath]][]) {
      const ok = (value: number) => schema.safeParse(change(path, value)).success;
      expect(ok(bound.max), `${path} = max ${bound.max}`).toBe(true);
      expect(ok(bound.max + (bound.integer ? 1 : bound.max * 1e-6)), `${path} above max`).toBe(false);
      expect(ok(bound.min), `${path} = min ${bound.min}`).toBe(!('minExclusive' in bound && bound.minExclusive));
      expect(ok(bound.min - (bound.integer ? 1 : Math.max(1e-9, Math.abs(bound.min) * 1e-6))), `${path} below min`).toBe(false);
      if (bound.integer) expect(ok(bound.min + 0.5), `${path} fractional`).toBe(false);
    }
  });
});

describe('named operators against a real aggregator on 127.0.0.1', () => {
  const data = tempDataDir();
  let aggregator: RunningAggregator;
  let pool: VirtualClientPool | null = null;

  const call = async (method: 'GET' | 'POST', path: string, token: string | null, body?: unknown) => {
    const response = await fetch(`${aggregator.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as unknown };
  };

  beforeAll(async () => {
    await useNodeBackend('wasm');
    const config = testConfig(data.dir, {
      adminTokens: [
        { name: 'alice', token: ALICE },
        { name: 'bob', token: BOB },
      ],
      release: { maxUpdateNorm: 1e6, requireEvaluation: false },
    });
    aggregator = await startWithEnrollment(config, { logger: testLogger() });
    pool = await startVirtualClients({ url: aggregator.url, clients: stateOfTheUnionClients(TEST_SPEC, 6), planPolicy: TEST_PLAN_POLICY });
  });
  afterAll(async () => {
    await pool?.close();
    await aggregator.close();
    data.remove();
  });

  it('records each operator by name for plan changes, releases and rollbacks, and refuses a wrong token without a trace', async () => {
    expect(aggregator.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    // GET /api/admin/plan: the plan, its bounds (fl-core's schema) and who asked.
    const view = await call('GET', '/api/admin/plan', ALICE);
    expect(view.status).toBe(200);
    const parsed = planViewSchema.parse(view.body);
    expect(parsed.operator).toBe('alice');
    expect(parsed.bounds).toEqual(JSON.parse(JSON.stringify(planBounds(aggregator.config))));
    expect(parsed.plan).toEqual(aggregator.coordinator.plan);
    expect(planViewSchema.parse((await call('GET', '/api/admin/plan', TEST_ADMIN_TOKEN)).body).operator).toBe('admin');
    // A value past a bound the view gave is refused by the server with the same bound.
    expect(await call('POST', '/api/admin/plan', ALICE, { target: parsed.bounds.target!.max + 1 })).toMatchObject({
      status: 400,
      body: { code: 'OUT_OF_BOUNDS' },
    });

    const byAlice = planChangeResponseSchema.parse((await call('POST', '/api/admin/plan', ALICE, { pauseMs: 60 })).body);
    expect(byAlice.audit).toMatchObject({ actor: 'alice', action: 'plan', revision: 1 });
    expect(byAlice.bounds).toEqual(parsed.bounds);
    const byBob = planChangeResponseSchema.parse((await call('POST', '/api/admin/plan', BOB, { pauseMs: 70 })).body);
    expect(byBob.audit).toMatchObject({ actor: 'bob', action: 'plan', revision: 2 });

    // Wrong, truncated, missing: 401, and nothing reaches the audit log or the plan.
    const before = aggregator.audit.total;
    for (const token of ['not-a-token-of-anyone-here', ALICE.slice(0, -1), `${BOB}x`, null]) {
      expect(await call('POST', '/api/admin/plan', token, { pauseMs: 999 })).toMatchObject({ status: 401, body: { code: 'UNAUTHORIZED' } });
      expect(await call('POST', '/api/admin/rollback', token, { version: 0 })).toMatchObject({ status: 401, body: { code: 'UNAUTHORIZED' } });
      expect((await call('GET', '/api/admin/plan', token)).status).toBe(401);
    }
    expect(aggregator.audit.total).toBe(before);
    expect(aggregator.coordinator.plan.pauseMs).toBe(70);

    // A release and a rollback by two different operators.
    await eventually(() => (aggregator.store.release.released >= 1 ? true : undefined), 90_000, 'a released version');
    expect((await call('POST', '/api/admin/pause', ALICE)).status).toBe(200);
    await eventually(() => (aggregator.coordinator.phase === 'paused' ? true : undefined), 60_000, 'the pause');
    const released = aggregator.store.release.released;
    const rollback = await call('POST', '/api/admin/rollback', BOB, { version: released - 1, note: 'bob checks' });
    expect(rollback.status).toBe(200);
    expect(releaseActionResponseSchema.parse(rollback.body).audit).toMatchObject({ actor: 'bob', action: 'rollback', version: released - 1 });
    const release = await call('POST', '/api/admin/release', ALICE, { version: released });
    expect(release.status).toBe(200);
    expect(releaseActionResponseSchema.parse(release.body).audit).toMatchObject({ actor: 'alice', action: 'release', version: released });

    // The audit log as the dashboard reads it (newest first), and on disk.
    const audit = releaseViewSchema.parse(await (await fetch(`${aggregator.url}/api/release`)).json()).audit.filter((e) => e.actor !== 'gate');
    expect(audit.map((e) => [e.action, e.actor])).toEqual([
      ['release', 'alice'],
      ['rollback', 'bob'],
      ['plan', 'bob'],
      ['plan', 'alice'],
    ]);
    const lines = readFileSync(join(data.dir, 'audit.jsonl'), 'utf8').trim().split('\n');
    expect(lines.map((line) => (JSON.parse(line) as { actor: string }).actor).filter((actor) => actor !== 'gate')).toEqual(['alice', 'bob', 'bob', 'alice']);
    // No token is ever written to the audit log.
    for (const token of [ALICE, BOB, TEST_ADMIN_TOKEN]) expect(lines.join('\n')).not.toContain(token);
  }, 180_000);
});
