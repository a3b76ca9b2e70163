import 'fake-indexeddb/auto';
import { openDB } from 'idb';
import { afterEach, describe, expect, it } from 'vitest';
import { DB_VERSION, LocalStore, MODELS_KEPT, type InvalidRecord } from './db';
import {
  DEFAULT_DEVICE_CONTROLS,
  MEGABYTE,
  type ContributionRecord,
  type IdentityRecord,
  type ModelRecord,
  type ParticipationRecord,
  type TextRecord,
} from './schema';
import { generateSigningKeyPair, sign, verify } from '@murmur/fl-core/identity';
import { deviceEpsilon } from '@murmur/fl-core/privacy';
import { CIFG_SPEC, decodeModelPayload, encodeModelPayload, modelHash, parameterCount, TINY_SPEC, type ModelSpec } from '@murmur/fl-core/model';

let counter = 0;
const uniqueName = () => `murmur-test-${++counter}`;
const open = (name: string, extra: Partial<Parameters<typeof LocalStore.open>[0]> = {}) => LocalStore.open({ name, defaultConsent: false, ...extra });

const text = (id: string, updatedAt: number, source: TextRecord['source'] = 'user'): TextRecord => ({
  id,
  body: `note ${id}. it has words.`,
  source,
  demoPartition: source === 'demo' ? '1790-george-washington' : null,
  createdAt: updatedAt,
  updatedAt,
});

const contribution = (at: number, round: string): ContributionRecord => ({
  at,
  roundId: round,
  modelVersion: 3,
  status: 'contributed',
  reason: null,
  bytesSent: 12_345,
  bytesReceived: 6_789,
  epsilon: 1.25,
  delta: 1e-5,
  backend: 'wasm',
  durationMs: 4_200,
  numExamples: 256,
});

const participation = (roundId: string, at: number): ParticipationRecord => ({
  roundId,
  round: at,
  at,
  mode: 'distributed',
  noiseMultiplier: 1,
  clipIndicatorNoiseStdDev: null,
  minSurvivors: 3,
  threshold: 3,
  colluders: 0,
  discrete: null,
});

function model(version: number, spec: ModelSpec = TINY_SPEC): ModelRecord {
  const weights = new Float32Array(parameterCount(spec)).fill(version / 100);
  return { version, spec, hash: modelHash(spec, weights), payload: encodeModelPayload({ version, spec, weights }), fetchedAt: 1 };
}

const stores: LocalStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
});

describe('LocalStore', () => {
  it('survives a reopen: texts newest first, settings, contributions', async () => {
    const name = uniqueName();
    const first = await open(name);
    await first.putText(text('a', 10));
    await first.putText(text('b', 30));
    await first.putText(text('c', 20, 'demo'));
    await first.putSettings({ consent: true, consentChangedAt: 99 });
    await first.addContribution(contribution(5, 'r1'));
    await first.addContribution(contribution(7, 'r2'));
    first.close();

    const again = await open(name);
    stores.push(again);
    expect((await again.listTexts()).map((t) => t.id)).toEqual(['b', 'c', 'a']);
    expect(await again.getSettings()).toEqual({ consent: true, consentChangedAt: 99 });
    const log = await again.listContributions();
    expect(log.map((c) => c.roundId)).toEqual(['r2', 'r1']);
    expect(log[0]?.id).toBeTypeOf('number');
    expect(await again.summary()).toMatchObject({ texts: 3, demoTexts: 1, contributions: 2 });
  });

  it('defaults consent to off unless the build says otherwise', async () => {
    const off = await open(uniqueName());
    const demo = await open(uniqueName(), { defaultConsent: true });
    stores.push(off, demo);
    expect((await off.getSettings()).consent).toBe(false);
    expect((await demo.getSettings()).consent).toBe(true);
  });

  it('keeps derived examples as typed arrays and deletes them with their text', async () => {
    const store = await open(uniqueName());
    stores.push(store);
    await store.putText(text('a', 1));
    await store.putExamples({
      textId: 'a',
      vocabularyFingerprint: 'f'.repeat(64),
      contextLength: 2,
      count: 3,
      contexts: Int32Array.from([0, 2, 2, 5, 5, 6]),
      targets: Int32Array.from([5, 6, 3]),
      textUpdatedAt: 1,
    });
    const [examples] = await store.listExamples();
    expect(examples?.contexts).toBeInstanceOf(Int32Array);
    expect(Array.from(examples?.targets ?? [])).toEqual([5, 6, 3]);
    await store.deleteText('a');
    expect(await store.listExamples()).toEqual([]);
    expect(await store.getText('a')).toBeNull();
  });

  it('refuses to write an inconsistent example record', async () => {
    const store = await open(uniqueName());
    stores.push(store);
    await expect(
      store.putExamples({
        textId: 'a',
        vocabularyFingerprint: 'f'.repeat(64),
        contextLength: 2,
        count: 3,
        contexts: new Int32Array(4),
        targets: new Int32Array(3),
        textUpdatedAt: 1,
      }),
    ).rejects.toThrow(/count × contextLength/);
  });

  it('caches models by version and keeps only the newest few', async () => {
    const store = await open(uniqueName());
    stores.push(store);
    expect(await store.getLatestModel()).toBeNull();
    for (const version of [1, 2, 3, 4]) await store.putModel(model(version));
    const latest = await store.getLatestModel();
    expect(latest?.version).toBe(4);
    expect(latest?.payload).toBeInstanceOf(Uint8Array);
    expect(MODELS_KEPT).toBe(2);
    expect((await store.summary()).models.map((m) => m.version)).toEqual([3, 4]);
  });

  it('caches a CIFG model (a 5 MB payload) and hands back the same bytes', async () => {
    const store = await open(uniqueName());
    stores.push(store);
    await store.putModel(model(1));
    const cifg = model(2, CIFG_SPEC);
    expect(cifg.payload.byteLength).toBeGreaterThan(5_000_000);
    await store.putModel(cifg);
    const latest = await store.getLatestModel();
    expect(latest?.spec).toEqual(CIFG_SPEC);
    expect(latest?.payload.byteLength).toBe(cifg.payload.byteLength);
    expect(decodeModelPayload(latest?.payload as Uint8Array).hash).toBe(cifg.hash);
    expect((await store.summary()).models).toEqual([
      { version: 1, bytes: expect.any(Number) },
      { version: 2, bytes: cifg.payload.byteLength },
    ]);
  });

  it('skips and reports records that fail validation instead of using them', async () => {
    const name = uniqueName();
    const store = await open(name, { onInvalid: (issue) => issues.push(issue) });
    stores.push(store);
    const issues: InvalidRecord[] = [];
    await store.putText(text('good', 1));
    // Something other than this app wrote garbage into our stores.
    const raw = await openDB(name);
    await raw.put('texts', { id: 'bad', body: 42, source: 'user', createdAt: 1, updatedAt: 2 });
    await raw.put('settings', { consent: 'yes' }, 'app');
    raw.close();
    expect((await store.listTexts()).map((t) => t.id)).toEqual(['good']);
    expect(await store.getSettings()).toEqual({ consent: false, consentChangedAt: null });
    expect(issues.map((i) => `${i.store}:${String(i.key)}`)).toEqual(['texts:bad', 'settings:app']);
    expect(issues[0]?.message).toMatch(/body/);
  });

  it('migrates a version-1 database to the current schema and keeps its data', async () => {
    const name = uniqueName();
    const v1 = await open(name, { version: 1 });
    await v1.putText(text('old', 3));
    // Written by a build that had no enrollment token yet.
    const raw1 = await openDB(name);
    await raw1.put('settings', { consent: true, consentChangedAt: 2 }, 'app');
    raw1.close();
    v1.close();

    const current = await open(name);
    stores.push(current);
    expect((await current.listTexts()).map((t) => t.id)).toEqual(['old']);
    expect(await current.getSettings()).toEqual({ consent: true, consentChangedAt: 2 });
    await current.addContribution(contribution(1, 'r'));
    await current.putCalibration({ key: 'k', backend: 'wasm', reason: 'fastest', measurements: [], wasmThreads: 1, measuredAt: 1 });
    expect(await current.getCalibration('k')).toMatchObject({ backend: 'wasm' });
    const raw = await openDB(name);
    expect(raw.version).toBe(DB_VERSION);
    expect([...raw.objectStoreNames].sort()).toEqual([
      'calibrations',
      'contributions',
      'examples',
      'identity',
      'models',
      'participations',
      'settings',
      'texts',
      'uploads',
    ]);
    raw.close();
  });

  it('migrates a version-4 database: drops the HMAC enrollment token, keeps consent, adds the identity store', async () => {
    const name = uniqueName();
    const v4 = await open(name, { version: 4 });
    await v4.putText(text('kept', 4));
    v4.close();
    // What a version-4 build wrote: consent beside the aggregator's old token.
    const raw4 = await openDB(name);
    await raw4.put('settings', { consent: true, consentChangedAt: 7, enrollmentToken: 'm1.abc.def' }, 'app');
    raw4.close();

    const current = await open(name);
    stores.push(current);
    expect(await current.getSettings()).toEqual({ consent: true, consentChangedAt: 7 });
    expect((await current.listTexts()).map((t) => t.id)).toEqual(['kept']);
    expect(await current.getIdentity()).toBeNull();
    const raw = await openDB(name);
    expect(raw.version).toBe(DB_VERSION);
    expect(await raw.get('settings', 'app')).toEqual({ consent: true, consentChangedAt: 7 });
    expect([...raw.objectStoreNames]).toContain('identity');
    raw.close();
  });

  it('migrates a version-5 database: keeps the contribution log and adds an empty participations store', async () => {
    const name = uniqueName();
    const v5 = await open(name, { version: 5 });
    await v5.addContribution(contribution(1, 'before-v6'));
    v5.close();

    const current = await open(name);
    stores.push(current);
    expect((await current.listContributions()).map((c) => c.roundId)).toEqual(['before-v6']);
    expect(await current.listParticipations()).toEqual([]);
    await current.putParticipation(participation('r9', 9));
    expect(await current.listParticipations()).toEqual([participation('r9', 9)]);
    expect(await current.summary()).toMatchObject({ contributions: 1, participations: 1 });
  });

  it("migrates a version-6 database: participations get the plan's c = 0 and no discrete block, and count as before", async () => {
    const name = uniqueName();
    const v6 = await open(name, { version: 6 });
    await v6.addContribution(contribution(1, 'r1'));
    v6.close();
    // What a version-6 build wrote: no colluders, no discrete block (and one record that was never valid).
    const { colluders: _c, discrete: _d, ...v6Shape } = participation('r1', 1);
    const raw6 = await openDB(name);
    await raw6.put('participations', v6Shape);
    await raw6.put('participations', { ...v6Shape, roundId: 'r2', round: 2, at: 2, mode: 'local', noiseMultiplier: 2 });
    await raw6.put('participations', { ...v6Shape, roundId: 'forged', at: 3, noiseMultiplier: -1 });
    raw6.close();

    const issues: InvalidRecord[] = [];
    const current = await open(name, { onInvalid: (issue) => issues.push(issue) });
    stores.push(current);
    const records = await current.listParticipations();
    expect(records).toEqual([
      { ...v6Shape, colluders: 0, discrete: null },
      { ...v6Shape, roundId: 'r2', round: 2, at: 2, mode: 'local', noiseMultiplier: 2, colluders: 0, discrete: null },
    ]);
    expect(issues.map((i) => `${i.store}:${String(i.key)}`)).toEqual(['participations:forged']);
    // The same ε as before the migration: one distributed round at σ = 1, t = k_min = 3, and one
    // local round at σ = 2 (mpmath, 40 digits; fl-core's device-epsilon.test.ts vector).
    expect(deviceEpsilon(records, { assumedColluders: 0 }).epsilon).toBeCloseTo(13.438626799166349513, 9);
    expect((await current.listContributions()).map((c) => c.roundId)).toEqual(['r1']);
    const raw = await openDB(name);
    expect(raw.version).toBe(7);
    expect(DB_VERSION).toBe(7);
    // Rewritten on disk, not patched up on every read.
    expect(await raw.get('participations', 'r1')).toEqual({ ...v6Shape, colluders: 0, discrete: null });
    raw.close();
  });

  it('records a round once however often it is put, lists rounds oldest first, and refuses or skips bad records', async () => {
    const name = uniqueName();
    const issues: InvalidRecord[] = [];
    const store = await open(name, { onInvalid: (issue) => issues.push(issue) });
    stores.push(store);
    await store.putParticipation(participation('late', 20));
    await store.putParticipation(participation('early', 10));
    await store.putParticipation(participation('early', 10));
    expect((await store.listParticipations()).map((p) => p.roundId)).toEqual(['early', 'late']);
    await expect(store.putParticipation({ ...participation('bad', 1), mode: 'loud' as never })).rejects.toThrow();
    const raw = await openDB(name);
    await raw.put('participations', { ...participation('forged', 5), noiseMultiplier: -1 });
    raw.close();
    expect((await store.listParticipations()).map((p) => p.roundId)).toEqual(['early', 'late']);
    expect(issues.map((i) => `${i.store}:${String(i.key)}`)).toEqual(['participations:forged']);
  });

  it('keeps the identity key as a non-extractable CryptoKey across a reopen, and refuses an extractable one', async () => {
    const name = uniqueName();
    const first = await open(name);
    const device = await generateSigningKeyPair();
    const service = await generateSigningKeyPair();
    const record: IdentityRecord = {
      clientId: 'A'.repeat(22),
      certificate: 'mc1.e30.AA',
      privateKey: device.privateKey,
      publicKey: device.publicKey,
      issuer: { name: 'murmur-enrollment', publicKey: service.publicKey },
      issuerSource: 'first-use',
      enrolledAt: 1,
      expiresAtMs: 2,
    };
    await first.putIdentity(record);
    first.close();

    const issues: InvalidRecord[] = [];
    const again = await open(name, { onInvalid: (issue) => issues.push(issue) });
    stores.push(again);
    const stored = await again.getIdentity();
    expect(stored?.privateKey.extractable).toBe(false);
    expect(stored?.privateKey.type).toBe('private');
    await expect(crypto.subtle.exportKey('jwk', stored!.privateKey)).rejects.toThrow();
    // The stored key still signs for its public key.
    const message = new TextEncoder().encode('still mine');
    expect(await verify(device.publicKey, message, await sign(stored!.privateKey, message))).toBe(true);
    expect(await again.summary()).toMatchObject({ identity: { clientId: 'A'.repeat(22), issuer: 'murmur-enrollment', expiresAtMs: 2 } });

    const readable = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
    await expect(again.putIdentity({ ...record, privateKey: readable.privateKey })).rejects.toThrow(/non-extractable/);
    // Written around the app: refused on read, reported, never used.
    const raw = await openDB(name);
    await raw.put('identity', { ...record, privateKey: readable.privateKey }, 'device');
    raw.close();
    expect(await again.getIdentity()).toBeNull();
    expect(issues.map((i) => `${i.store}:${String(i.key)}`)).toEqual(['identity:device']);
  });

  it('keeps the data and battery controls next to the settings, with careful defaults until the person chooses', async () => {
    const name = uniqueName();
    const first = await open(name);
    expect(await first.getControls()).toEqual({ onlyUnmetered: true, onlyWhileCharging: true, monthlyUploadBudgetBytes: 50 * MEGABYTE, changedAt: null });
    await first.putSettings({ consent: true, consentChangedAt: 1 });
    await first.putControls({ onlyUnmetered: false, onlyWhileCharging: true, monthlyUploadBudgetBytes: null, changedAt: 5 });
    first.close();

    const again = await open(name);
    stores.push(again);
    expect(await again.getControls()).toEqual({ onlyUnmetered: false, onlyWhileCharging: true, monthlyUploadBudgetBytes: null, changedAt: 5 });
    expect(await again.getSettings()).toMatchObject({ consent: true });
    await expect(again.putControls({ ...DEFAULT_DEVICE_CONTROLS, monthlyUploadBudgetBytes: -1 })).rejects.toThrow();
  });

  it('exports everything as JSON-ready data', async () => {
    const store = await open(uniqueName());
    stores.push(store);
    await store.putText(text('a', 1));
    await store.addContribution(contribution(1, 'r1'));
    await store.putModel(model(2));
    await store.addUpload('2026-12', 700_000, 3);
    await store.putParticipation(participation('r1', 1));
    const bundle = await store.exportAll();
    const roundTrip = JSON.parse(JSON.stringify(bundle)) as typeof bundle;
    expect(roundTrip.format).toBe('murmur-export/1');
    expect(roundTrip.texts[0]?.body).toBe(text('a', 1).body);
    expect(roundTrip.contributions[0]?.epsilon).toBe(1.25);
    expect(roundTrip.models[0]).toMatchObject({ version: 2 });
    expect(roundTrip.controls).toEqual(DEFAULT_DEVICE_CONTROLS);
    expect(roundTrip.uploads).toEqual([{ month: '2026-12', bytes: 700_000, updatedAt: 3 }]);
    expect(roundTrip.participations).toEqual([participation('r1', 1)]);
  });

  it('deleteEverything deletes the database itself', async () => {
    const name = uniqueName();
    const store = await open(name);
    await store.putText(text('a', 1));
    await store.addContribution(contribution(1, 'r1'));
    await store.deleteEverything();
    const names = (await indexedDB.databases()).map((d) => d.name);
    expect(names).not.toContain(name);
    const fresh = await open(name);
    stores.push(fresh);
    expect(await fresh.listTexts()).toEqual([]);
    expect(await fresh.listContributions()).toEqual([]);
  });
});
