import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { io, type Socket } from 'socket.io-client';
import { asParticipantSocket, connectParticipant, handshakeAuth, type ParticipantConnection } from '@murmur/fl-core/participant';
import { packSecAgg, unpackBinary, type ClientToServerEvents, type ServerToClientEvents } from '@murmur/fl-core/protocol';
import { CERTIFICATE_REF_BYTES } from '@murmur/fl-core/secagg';
import { useNodeBackend } from '@murmur/fl-core/node';
import { startWithEnrollment } from '../enrollment/host';
import { stateOfTheUnionClients } from '../demo-data';
import { ATTACKER_PLAN_POLICY } from '../hostile-clients';
import { enroll, startVirtualClients } from '../virtual-clients';
import { eventually, tempDataDir, TEST_PLAN_POLICY, TEST_SPEC, testConfig, testLogger } from '../test-helpers';

/**
 * Issue 15, aggregator side: rounds run the authenticated SecAgg protocol, the coordinator verifies
 * signed messages before relaying them, and a client that corrupts what it reveals gets the round
 * refused rather than a silently wrong sum. Real Socket.IO on 127.0.0.1, certified devices.
 */
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
beforeAll(async () => {
  await useNodeBackend('wasm');
});

type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/**
 * A certified client that runs the protocol honestly but rewrites one kind of its secagg messages
 * on the way out (after its own machine signed them), and records the protocol errors it is sent.
 */
async function startTamperingClient(url: string, tamper: (message: Record<string, unknown>) => Record<string, unknown> | null) {
  const identity = await enroll(url);
  const socket: ClientSocket = io(url, { auth: handshakeAuth(identity), transports: ['websocket'], reconnectionDelay: 250 });
  const errors: string[] = [];
  const tampered: string[] = [];
  /** What each peerKeys it received carried: peers, certificate references, certificates in full. */
  const peerKeys: { roundId: string; peers: number; refs: number; certificates: number }[] = [];
  socket.on('protocolError', (error) => errors.push(`${error.code}`));
  socket.on('secagg', (payload) => {
    const unpacked = unpackBinary(payload, 8, 'test');
    const message = unpacked.ok ? (unpacked.value as Record<string, unknown>) : null;
    if (message?.type !== 'peerKeys') return;
    peerKeys.push({
      roundId: String(message.roundId),
      // A bitset over its neighbours: count the set bits.
      peers: Array.from(message.peers as Uint8Array).reduce((count, byte) => count + byte.toString(2).replaceAll('0', '').length, 0),
      refs: (message.certificateRefs as Uint8Array).length / CERTIFICATE_REF_BYTES,
      certificates: ((message.certificates as string[] | undefined) ?? []).length,
    });
  });
  const wrapped = {
    on: socket.on.bind(socket),
    off: socket.off.bind(socket),
    emit: (event: string, payload: unknown) => {
      if (event === 'secagg') {
        const unpacked = unpackBinary(payload, 8, 'test');
        if (unpacked.ok) {
          const rewritten = tamper(unpacked.value as Record<string, unknown>);
          if (rewritten) {
            tampered.push(String(rewritten.type));
            return (socket.emit as (e: string, p: unknown) => unknown)('secagg', packSecAgg(rewritten as never));
          }
        }
      }
      return (socket.emit as (e: string, p: unknown) => unknown)(event, payload);
    },
  };
  const connection: ParticipantConnection = connectParticipant(asParticipantSocket(wrapped), {
    eligibility: () => ({ consent: true, exampleCount: 500, idle: true, charging: true, backend: 'wasm' }),
    identity,
    enrollmentIssuer: identity.issuer,
    planPolicy: ATTACKER_PLAN_POLICY,
    contribute: async (plan) => ({ ok: true, value: new Uint32Array(plan.secagg.vectorLength) }),
  });
  cleanups.push(() => {
    connection.stop();
    socket.disconnect();
  });
  return { errors, tampered, peerKeys };
}

describe('authenticated secure aggregation through the coordinator', () => {
  it('a client that corrupts its share of another survivor’s b gets the round refused (RECONSTRUCTION_FAILED)', async () => {
    const data = tempDataDir();
    cleanups.push(() => data.remove());
    // n = 3 with minReports 3: t = 3, so every revealed share is used in reconstruction.
    const config = testConfig(data.dir, { round: { target: 3, overSelection: 1, minReports: 3, checkinMs: 300 } });
    const aggregator = await startWithEnrollment(config, { logger: testLogger() });
    cleanups.push(() => aggregator.close());
    const pool = await startVirtualClients({ url: aggregator.url, clients: stateOfTheUnionClients(TEST_SPEC, 2), planPolicy: TEST_PLAN_POLICY });
    cleanups.push(() => pool.close());
    const corrupter = await startTamperingClient(aggregator.url, (message) => {
      if (message.type !== 'unmask') return null;
      const shares = (message.selfMaskShares as Uint8Array).slice();
      const own = (message.selfMaskOf as number[]).length;
      if (own < 2) return null;
      // Flip the low bit of the last share (another survivor's): still a field element, silently wrong.
      shares[shares.length - 1] = (shares[shares.length - 1] as number) ^ 1;
      return { ...message, selfMaskShares: shares };
    });
    const report = await eventually(
      () => aggregator.store.rounds.find((r) => r.status === 'aborted' && r.abort?.code === 'RECONSTRUCTION_FAILED'),
      90_000,
      'a round refused for a corrupt share',
    );
    expect(corrupter.tampered).toContain('unmask');
    expect(report.modelVersion.to).toBe(report.modelVersion.from);
    expect(aggregator.store.rounds.filter((r) => r.status === 'committed')).toEqual([]);
  }, 120_000);

  it('a key advertisement whose signature does not verify is refused as a protocol error, before relaying', async () => {
    const data = tempDataDir();
    cleanups.push(() => data.remove());
    const config = testConfig(data.dir, { round: { target: 3, overSelection: 1, minReports: 2, checkinMs: 300 } });
    const aggregator = await startWithEnrollment(config, { logger: testLogger() });
    cleanups.push(() => aggregator.close());
    const pool = await startVirtualClients({ url: aggregator.url, clients: stateOfTheUnionClients(TEST_SPEC, 2), planPolicy: TEST_PLAN_POLICY });
    cleanups.push(() => pool.close());
    const forger = await startTamperingClient(aggregator.url, (message) => {
      if (message.type !== 'advertiseKeys') return null;
      const encryptionPublicKey = (message.encryptionPublicKey as Uint8Array).slice();
      encryptionPublicKey[0] = (encryptionPublicKey[0] as number) ^ 1;
      return { ...message, encryptionPublicKey };
    });
    await eventually(() => (forger.errors.includes('BAD_SIGNATURE') ? true : undefined), 90_000, 'BAD_SIGNATURE sent to the forger');
    expect(forger.tampered).toContain('advertiseKeys');
  }, 120_000);

  it('certificates go once per connection: a later round names them and still commits', async () => {
    const data = tempDataDir();
    cleanups.push(() => data.remove());
    const config = testConfig(data.dir, { round: { target: 3, overSelection: 1, minReports: 3, checkinMs: 300 } });
    const aggregator = await startWithEnrollment(config, { logger: testLogger() });
    cleanups.push(() => aggregator.close());
    const pool = await startVirtualClients({ url: aggregator.url, clients: stateOfTheUnionClients(TEST_SPEC, 2), planPolicy: TEST_PLAN_POLICY });
    cleanups.push(() => pool.close());
    const observer = await startTamperingClient(aggregator.url, () => null);
    await eventually(
      () => (observer.peerKeys.length >= 2 && aggregator.store.rounds.filter((r) => r.status === 'committed').length >= 2 ? true : undefined),
      90_000,
      'two committed rounds with this client',
    );
    const [first, later] = observer.peerKeys as [(typeof observer.peerKeys)[number], (typeof observer.peerKeys)[number]];
    expect(first).toMatchObject({ peers: 2, refs: 2, certificates: 2 });
    // The same peers on the same connections: named by reference, verified from the client's cache.
    expect(later).toMatchObject({ peers: 2, refs: 2, certificates: 0 });
    expect(observer.errors).toEqual([]);
  }, 120_000);
});
