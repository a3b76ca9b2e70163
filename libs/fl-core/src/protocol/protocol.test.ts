import { describe, expect, expectTypeOf, it } from 'vitest';
import { CIFG_SPEC, parameterCount, TINY_SPEC } from '../model/spec';
import { parseTrainingPlan, trainingPlanSchema } from '../train/plan';
import {
  contributionMetricsSpec,
  dashboardEventSchemas,
  parseClientEvent,
  parseServerEvent,
  secAggMessageLimit,
  packSecAgg,
  type ClientEventMessages,
  type ClientToServerEvents,
  type ServerToClientEvents,
} from './events';
import { findForbiddenKey, findNonFinite, normalizeBinary, payloadBytes } from './binary';
import { packBinary, unpackBinary, type PackedMessage } from './frame';
import { PROTOCOL_VERSION, type CheckIn, type RoundPlan, type SecAggUp, type TaskProgress } from './schemas';
import {
  budgetChangeRequestSchema,
  livePlanSchema,
  MAX_ROUNDS_LIMIT,
  numberWithin,
  operatorNameSchema,
  PLAN_LIMITS,
  planViewSchema,
  releaseActionRequestSchema,
  roundsQuerySchema,
  type ReleaseActionRequest,
  type RoundsQuery,
} from './http';

const eligibility = { consent: true, idle: true, backend: 'wasm' };

function plan(): RoundPlan {
  const training = parseTrainingPlan({ maxExamples: 64 });
  return {
    protocolVersion: PROTOCOL_VERSION,
    roundId: 'r-1',
    round: 1,
    model: { version: 0, hash: 'a'.repeat(64), url: '/api/model/0', spec: TINY_SPEC },
    participantId: 2,
    secagg: { roundId: 'r-1', clientCount: 5, threshold: 3, vectorLength: 10, modulusBits: 32, graph: { kind: 'full' } },
    training,
    evaluationFraction: 0.2,
    privacy: { mode: 'distributed', clipNorm: 1, noiseMultiplier: 0.5, expectedCohortSize: 5, minSurvivors: 3 },
    encoding: { clipRange: 1, modulusBits: 32, maxClients: 5 },
    metrics: contributionMetricsSpec(training),
    deadlines: { advertiseKeysMs: 1000, shareKeysMs: 1000, maskedInputMs: 1000, unmaskingMs: 1000 },
  };
}

describe('protocol events', () => {
  it('pins the event maps', () => {
    expectTypeOf<Parameters<ClientToServerEvents['checkIn']>[0]>().toEqualTypeOf<CheckIn>();
    expectTypeOf<Parameters<ClientToServerEvents['secagg']>[0]>().toEqualTypeOf<PackedMessage>();
    expectTypeOf<ClientEventMessages['secagg']>().toEqualTypeOf<SecAggUp>();
    expectTypeOf<Parameters<ServerToClientEvents['roundPlan']>[0]>().toEqualTypeOf<RoundPlan>();
    expectTypeOf<keyof ClientToServerEvents>().toEqualTypeOf<'checkIn' | 'secagg'>();
  });

  it('accepts a valid check-in and rejects unknown fields, wrong types and missing consent', () => {
    expect(parseClientEvent('checkIn', { eligibility }, { maxBytes: 4096 })).toEqual({ ok: true, value: { eligibility } });
    const extra = parseClientEvent('checkIn', { eligibility: { ...eligibility, name: 'Alice' } }, { maxBytes: 4096 });
    expect(extra).toMatchObject({ ok: false, error: { code: 'MALFORMED' } });
    const wrong = parseClientEvent('checkIn', { eligibility: { ...eligibility, idle: 'yes' } }, { maxBytes: 4096 });
    expect(wrong.ok ? null : wrong.error.message).toMatch(/idle/);
    expect(parseClientEvent('checkIn', { eligibility: { backend: 'wasm' } }, { maxBytes: 4096 })).toMatchObject({
      ok: false,
      error: { code: 'MALFORMED' },
    });
    expect(parseClientEvent('checkIn', 'hello', { maxBytes: 4096 })).toMatchObject({ ok: false, error: { code: 'MALFORMED' } });
  });

  it('refuses a check-in that carries an example count (protocol 8): the size of the text never crosses the wire', () => {
    for (const exampleCount of [0, 120, 10_000_000]) {
      const result = parseClientEvent('checkIn', { eligibility: { ...eligibility, exampleCount } }, { maxBytes: 4096 });
      expect(result).toMatchObject({ ok: false, error: { code: 'MALFORMED', message: expect.stringContaining('exampleCount') } });
    }
    expectTypeOf<CheckIn['eligibility']>().not.toHaveProperty('exampleCount');
  });

  it('names NaN and ±Infinity with their path, and what JSON turns them into is malformed', () => {
    for (const bad of [Number.NaN, Infinity, -Infinity]) {
      const result = parseClientEvent('checkIn', { eligibility: { ...eligibility, idle: bad } }, { maxBytes: 4096 });
      expect(result).toEqual({ ok: false, error: { code: 'NON_FINITE', message: 'checkIn event: eligibility.idle is not a finite number' } });
    }
    // Over Socket.IO, JSON.stringify sends NaN as null.
    const wire = JSON.parse(JSON.stringify({ eligibility: { ...eligibility, idle: Number.NaN } }));
    expect(parseClientEvent('checkIn', wire, { maxBytes: 4096 })).toMatchObject({ ok: false, error: { code: 'MALFORMED' } });
    expect(findNonFinite({ a: [1, { b: Number.NaN }] })).toBe('a[1].b');
  });

  it('refuses payloads above their bound before parsing them', () => {
    const result = parseClientEvent('checkIn', { eligibility: { ...eligibility, backend: 'x'.repeat(10_000) } }, { maxBytes: 4096 });
    expect(result).toMatchObject({ ok: false, error: { code: 'TOO_LARGE' } });
    // So many values that the size walk stops at its budget (4 × 4096 + 1024 nodes) before the sum is known.
    const wide = parseClientEvent('checkIn', { eligibility: Array.from({ length: 20_000 }, () => 0) }, { maxBytes: 4096 });
    expect(wide).toEqual({ ok: false, error: { code: 'TOO_LARGE', message: 'checkIn event: payload is over 4096 bytes, expected at most 4096' } });
    const huge = packSecAgg({ type: 'maskedInput', roundId: 'r', maskedInput: new Uint8Array(2_000_000) });
    expect(payloadBytes(huge)).toBeGreaterThan(2_000_000);
    expect(parseClientEvent('secagg', huge, { maxBytes: 1_000_000 })).toMatchObject({ ok: false, error: { code: 'TOO_LARGE' } });
  });

  it('refuses __proto__, constructor and prototype keys anywhere, naming the key, where a copy would drop or follow them', () => {
    // JSON.parse makes "__proto__" an own key, as Socket.IO's parser does with what arrives.
    const wire = JSON.parse(`{"eligibility":{"consent":true,"backend":"wasm","__proto__":{"admin":true}}}`) as unknown;
    expect(parseClientEvent('checkIn', wire, { maxBytes: 4096 })).toEqual({
      ok: false,
      error: { code: 'MALFORMED', message: 'checkIn event: eligibility has the key "__proto__", expected none of __proto__, constructor, prototype' },
    });
    const primitive = JSON.parse(`{"__proto__":1,"eligibility":{"consent":true,"backend":"wasm"}}`) as unknown;
    expect(parseClientEvent('checkIn', primitive, { maxBytes: 4096 })).toMatchObject({
      ok: false,
      error: { code: 'MALFORMED', message: expect.stringContaining('(root) has the key "__proto__"') },
    });
    const withConstructor = { eligibility: { ...eligibility, constructor: { prototype: {} } } };
    expect(parseClientEvent('checkIn', withConstructor, { maxBytes: 4096 })).toMatchObject({
      ok: false,
      error: { message: expect.stringContaining('eligibility has the key "constructor"') },
    });
    // Inside a packed secagg message's shape, found after unpacking, with the path into the message.
    const packed = packSecAgg({ type: 'maskedInput', roundId: 'r', maskedInput: new Uint8Array(4) });
    const shape = JSON.parse(JSON.stringify(packed.shape).replace('"roundId"', '"extra":[{"prototype":0}],"roundId"')) as unknown;
    expect(parseClientEvent('secagg', { shape, frame: packed.frame }, { maxBytes: 1024 })).toMatchObject({
      ok: false,
      error: { code: 'MALFORMED', message: 'secagg event: extra[0] has the key "prototype", expected none of __proto__, constructor, prototype' },
    });
    expect(findForbiddenKey({ a: [{ b: new Uint8Array(2) }], c: 'constructor' })).toBeNull();
  });

  it('keeps binary binary: ArrayBuffers (browser) and Buffers (Node) both parse to Uint8Array, number arrays do not', () => {
    const packet = packSecAgg({ type: 'maskedInput', roundId: 'r', maskedInput: Uint8Array.from([1, 2, 3, 4]) });
    // A browser receives the frame as an ArrayBuffer.
    const frameBuffer = packet.frame.slice().buffer;
    const fromBrowser = parseClientEvent('secagg', { shape: packet.shape, frame: frameBuffer }, { maxBytes: 1024 });
    expect(fromBrowser.ok && fromBrowser.value.type === 'maskedInput' ? Array.from(fromBrowser.value.maskedInput) : null).toEqual([1, 2, 3, 4]);
    const asJson = parseClientEvent('secagg', packBinary({ type: 'maskedInput', roundId: 'r', maskedInput: [1, 2, 3, 4] }), { maxBytes: 1024 });
    expect(asJson).toMatchObject({ ok: false, error: { code: 'MALFORMED' } });
    const nested = normalizeBinary({ shares: [{ to: 1, ciphertext: new Uint16Array([1, 2]) }] }) as { shares: { ciphertext: Uint8Array }[] };
    expect(nested.shares[0]?.ciphertext).toBeInstanceOf(Uint8Array);
    expect(nested.shares[0]?.ciphertext.byteLength).toBe(4);
  });

  it('round-trips a round plan and rejects one with a NaN clip norm or a wrong protocol version', () => {
    const valid = plan();
    expect(parseServerEvent('roundPlan', valid, { maxBytes: 65536 })).toEqual({ ok: true, value: valid });
    expect(parseServerEvent('roundPlan', { ...valid, privacy: { ...valid.privacy, clipNorm: Number.NaN } }, { maxBytes: 65536 })).toMatchObject({
      ok: false,
      error: { code: 'NON_FINITE' },
    });
    expect(parseServerEvent('roundPlan', { ...valid, protocolVersion: PROTOCOL_VERSION + 1 }, { maxBytes: 65536 })).toMatchObject({
      ok: false,
      error: { code: 'MALFORMED' },
    });
  });

  it('carries a CIFG spec, every-position targets, a client optimizer and a sampled softmax (protocol 4), and an older plan no more', () => {
    const training = parseTrainingPlan({ maxExamples: 64, targets: 'every', optimizer: 'adam', learningRate: 0.004, sampledSoftmax: 512 });
    const cifg: RoundPlan = { ...plan(), model: { ...plan().model, spec: CIFG_SPEC }, training, metrics: contributionMetricsSpec(training) };
    expect(PROTOCOL_VERSION).toBe(9);
    expect(parseServerEvent('roundPlan', cifg, { maxBytes: 65536 })).toEqual({ ok: true, value: cifg });
    for (const older of [1, 2, 3, 6, 8]) {
      expect(parseServerEvent('roundPlan', { ...cifg, protocolVersion: older }, { maxBytes: 65536 })).toMatchObject({
        ok: false,
        error: { code: 'MALFORMED' },
      });
    }
  });

  it('reads a REST live plan with a training field it does not know, and one without targets or optimizer as last and sgd', () => {
    const live = { target: 20, overSelection: 1.3, minReports: 3, pauseMs: 2000, checkinMs: 5000, clipNorm: 1, noiseMultiplier: 0.05 };
    const training = { epochs: 1, batchSize: 16, learningRate: 1, maxExamples: 64, timeBudgetMs: 30_000 };
    const newer = livePlanSchema.parse({ ...live, training: { ...training, targets: 'every', optimizer: 'adam', someLaterField: 3 } });
    expect(newer.training).toEqual({ ...training, targets: 'every', optimizer: 'adam' });
    expect(livePlanSchema.parse({ ...live, training }).training).toMatchObject({ targets: 'last', optimizer: 'sgd' });
    expect(livePlanSchema.safeParse({ ...live, training: { ...training, targets: 'sometimes' } }).success).toBe(false);
  });

  it('reads the training bounds an operator may set from trainingPlanSchema itself, exclusive minimums included', () => {
    expect(PLAN_LIMITS['training.epochs']).toEqual({ min: 1, max: 50, integer: true });
    expect(PLAN_LIMITS['training.learningRate']).toEqual({ min: 0, max: 100, integer: false, minExclusive: true });
    expect(PLAN_LIMITS['training.maxExamples']).toEqual({ min: 0, max: 10_000_000, integer: true, minExclusive: true });
    // Each bound accepts exactly what the training plan's schema accepts at its edges.
    const fields = trainingPlanSchema.shape;
    for (const [key, field] of [
      ['epochs', fields.epochs.unwrap()],
      ['batchSize', fields.batchSize.unwrap()],
      ['adamEpsilon', fields.adamEpsilon.unwrap()],
      ['sampledSoftmax', fields.sampledSoftmax.unwrap()],
      ['learningRate', fields.learningRate.unwrap()],
      ['maxExamples', fields.maxExamples.unwrap()],
      ['timeBudgetMs', fields.timeBudgetMs.unwrap()],
    ] as const) {
      const bound = PLAN_LIMITS[`training.${key}`];
      const ours = numberWithin(bound);
      for (const value of [bound.min, bound.max, bound.max + 1, bound.min - 1, bound.min + 0.5, (bound.min + bound.max) / 2])
        expect(ours.safeParse(value).success, `training.${key} = ${value}`).toBe(field.safeParse(value).success);
    }
  });

  it('parses GET /api/admin/plan: the plan, bounds by dotted path, the operator; refuses inverted bounds and the gate as an operator', () => {
    const live = { target: 20, overSelection: 1.3, minReports: 3, pauseMs: 2000, checkinMs: 5000, clipNorm: 1, noiseMultiplier: 0.05 };
    const plan = { ...live, training: parseTrainingPlan({}) };
    const view = planViewSchema.parse(JSON.parse(JSON.stringify({ plan, bounds: PLAN_LIMITS, operator: 'alice' })));
    expect(view.bounds['training.epochs']).toEqual(PLAN_LIMITS['training.epochs']);
    expect(planViewSchema.safeParse({ plan, bounds: { target: { min: 3, max: 2, integer: true } }, operator: 'alice' }).success).toBe(false);
    expect(planViewSchema.safeParse({ plan, bounds: { 'training..epochs': PLAN_LIMITS.target }, operator: 'alice' }).success).toBe(false);
    expect(operatorNameSchema.safeParse('gate').success).toBe(false);
    expect(operatorNameSchema.safeParse('ops.alice@example').success).toBe(true);
    expect(operatorNameSchema.safeParse('a'.repeat(65)).success).toBe(false);
  });

  it('packs many binary fields into one frame and refuses hostile frames', () => {
    const unmask = {
      type: 'unmask' as const,
      roundId: 'r',
      selfMaskOf: [0, 1, 2],
      selfMaskShares: new Uint8Array(99).fill(7),
      maskingKeyOf: [3],
      maskingKeyShares: new Uint8Array(33).fill(9),
    };
    const packed = packSecAgg(unmask);
    const parsed = parseClientEvent('secagg', packed, { maxBytes: 65536, maxParts: 2 });
    expect(parsed).toEqual({ ok: true, value: unmask });
    expect(parseClientEvent('secagg', packed, { maxBytes: 65536, maxParts: 1 })).toMatchObject({ ok: false, error: { code: 'TOO_LARGE' } });
    const reused = { shape: { type: 'maskedInput', roundId: 'r', maskedInput: { $bin: 0 }, extra: { $bin: 0 } }, frame: packBinary([new Uint8Array(4)]).frame };
    expect(unpackBinary(reused, 4, 'x')).toMatchObject({ ok: false, error: { code: 'MALFORMED', message: 'x: binary part 0 is referenced twice' } });
    const truncated = { shape: packed.shape, frame: packed.frame.subarray(0, 100) };
    expect(unpackBinary(truncated, 60, 'x')).toMatchObject({ ok: false, error: { code: 'MALFORMED' } });
    expect(unpackBinary({ shape: { a: { $bin: 7 } }, frame: packBinary([]).frame }, 4, 'x')).toMatchObject({ ok: false, error: { code: 'MALFORMED' } });
    expect(unpackBinary({ shape: {}, frame: [0, 0, 0, 0] }, 4, 'x')).toMatchObject({ ok: false, error: { code: 'MALFORMED' } });
  });

  it('bounds secure-aggregation messages by the round: the masked vector or the share lists', () => {
    const full = { clientCount: 100, vectorLength: 1000, modulusBits: 32, graph: { kind: 'full' as const } };
    expect(secAggMessageLimit(full)).toBeGreaterThanOrEqual(100 * 110);
    expect(secAggMessageLimit({ ...full, vectorLength: 1_000_000 })).toBeGreaterThanOrEqual(4_000_000);
    expect(secAggMessageLimit({ ...full, graph: { kind: 'harary', degree: 10, seed: new Uint8Array(32) } })).toBeLessThan(secAggMessageLimit(full));
    // The CIFG model's masked input: 1,266,068 weights + 7 metrics, 4 bytes a word at 32 bits.
    const cifgWords = parameterCount(CIFG_SPEC) + 7;
    expect(secAggMessageLimit({ ...full, clientCount: 26, vectorLength: cifgWords })).toBeGreaterThanOrEqual(cifgWords * 4);
  });
});

describe('REST requests the aggregator validates and the dashboard builds', () => {
  it('reads a rounds query as decimal integers only, with defaults and the page cap', () => {
    expect(roundsQuerySchema.parse({})).toEqual({ limit: 20, offset: 0 });
    expect(roundsQuerySchema.parse({ limit: String(MAX_ROUNDS_LIMIT), offset: '7' } satisfies RoundsQuery)).toEqual({ limit: MAX_ROUNDS_LIMIT, offset: 7 });
    for (const limit of ['1.5', '1e1', '0x10', '', ' 5']) expect(roundsQuerySchema.safeParse({ limit }).success, limit).toBe(false);
    for (const limit of ['0', String(MAX_ROUNDS_LIMIT + 1)]) expect(roundsQuerySchema.safeParse({ limit }).success, limit).toBe(false);
    expect(roundsQuerySchema.safeParse({ offset: '-1' }).success).toBe(false);
    // The refusal says what was expected (the aggregator's validator quotes it).
    expect(roundsQuerySchema.description).toContain(`1..${MAX_ROUNDS_LIMIT}`);
  });

  it('reads a release or rollback: a version and an optional, trimmed, non-empty note; nothing else', () => {
    expect(releaseActionRequestSchema.parse({ version: 3, note: '  ok  ' } satisfies ReleaseActionRequest)).toEqual({ version: 3, note: 'ok' });
    expect(releaseActionRequestSchema.parse({ version: 0 })).toEqual({ version: 0 });
    for (const body of [{}, { version: -1 }, { version: 1.5 }, { version: 1, note: '   ' }, { version: 1, note: 'x'.repeat(501) }, { version: 1, extra: true }])
      expect(releaseActionRequestSchema.safeParse(body).success, JSON.stringify(body)).toBe(false);
  });

  it('reads a budget change: a positive ε up to 1e6, or null for none', () => {
    expect(budgetChangeRequestSchema.parse({ epsilonBudget: null })).toEqual({ epsilonBudget: null });
    expect(budgetChangeRequestSchema.parse({ epsilonBudget: 1e6 })).toEqual({ epsilonBudget: 1e6 });
    for (const epsilonBudget of [0, -1, 1e6 + 1, 'lots', undefined])
      expect(budgetChangeRequestSchema.safeParse({ epsilonBudget }).success, String(epsilonBudget)).toBe(false);
  });
});

describe('the task progress event (distributed mode, dashboard stream)', () => {
  const opened: TaskProgress = {
    taskId: 'next-word',
    coordinator: 'agg0',
    round: 7,
    roundId: 'r7-0badc0de',
    stage: 'opened',
    processes: 3,
    modelVersion: null,
    answered: null,
    abort: null,
    at: '2026-12-05T00:00:00.000Z',
  };

  it('reads an opened, a committed and an aborted round, as the dashboard stream carries them', () => {
    expect(dashboardEventSchemas.task.parse(opened)).toEqual(opened);
    const committed = { ...opened, stage: 'committed', modelVersion: 7, answered: 2 };
    expect(dashboardEventSchemas.task.parse(committed)).toEqual(committed);
    const aborted = { ...opened, stage: 'aborted', abort: 'BELOW_THRESHOLD' };
    expect(dashboardEventSchemas.task.parse(aborted)).toEqual(aborted);
  });

  it('refuses unknown stages, counts of clients or reports, and malformed fields', () => {
    for (const bad of [
      { ...opened, stage: 'unmasked' },
      { ...opened, reports: 12 },
      { ...opened, round: 0 },
      { ...opened, processes: -1 },
      { ...opened, answered: 1.5 },
      { ...opened, answered: undefined },
      { ...opened, coordinator: '' },
      { ...opened, abort: 'x'.repeat(65) },
      { ...opened, at: 'x'.repeat(41) },
    ]) {
      expect(dashboardEventSchemas.task.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});
