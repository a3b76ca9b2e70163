import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request as httpRequest } from 'node:http';
import { io, type Socket } from 'socket.io-client';
import { enrollDevice, EnrollmentFailure, type DeviceIdentity } from '@murmur/fl-core/identity';
import { handshakeAuth } from '@murmur/fl-core/participant';
import { useNodeBackend } from '@murmur/fl-core/node';
import type { RoundPlan } from '@murmur/fl-core/protocol';
import { stateOfTheUnionClients } from './demo-data';
import { startWithEnrollment, type HostedAggregator } from './enrollment/host';
import { eventually, tempDataDir, TEST_PLAN_POLICY, TEST_SPEC, testConfig, testLogger } from './test-helpers';
import { startVirtualClients, type VirtualClientPool } from './virtual-clients';

/**
 * A fake-client swarm from one network (issue 16, "Colluders and fake clients"): every address of
 * 127.0.0.0/24 it likes, against the enrollment limits and the per-network cohort cap, over real
 * HTTP and Socket.IO on loopback. Linux routes all of 127.0.0.0/8 to loopback, so sockets bound to
 * 127.0.0.x and 127.0.N.2 are distinct addresses and distinct /24 networks on one machine.
 */
const SWARM_ADDRESSES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7'];
const HONEST_ADDRESSES = ['127.0.1.2', '127.0.2.2', '127.0.3.2', '127.0.4.2'];
const PER_ADDRESS = 3;
const PER_NETWORK = 8;
const MAX_PER_NETWORK = 2;

/** fetch, as enrollDevice uses it (POST JSON, status and text), from a chosen local address. */
function fetchFrom(localAddress: string): typeof fetch {
  return ((url: string | URL, init?: RequestInit) =>
    new Promise<Response>((resolve, reject) => {
      const request = httpRequest(String(url), { method: init?.method ?? 'GET', localAddress, headers: { 'content-type': 'application/json' } }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve(new Response(text, { status: response.statusCode ?? 0 })));
      });
      request.on('error', reject);
      request.end(typeof init?.body === 'string' ? init.body : undefined);
    })) as typeof fetch;
}

const data = tempDataDir();
let aggregator: HostedAggregator;
const swarm: DeviceIdentity[] = [];
const honest: DeviceIdentity[] = [];
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  await useNodeBackend('wasm');
  const config = testConfig(data.dir, {
    // q = min(1, 16 / eligible) = 1: without the cap every Sybil checked in would be drawn.
    round: { target: 16, overSelection: 1, minReports: 4, maxPerNetwork: MAX_PER_NETWORK, exemptLoopback: false, checkinMs: 5_000 },
    limits: { enrollPerMinute: PER_ADDRESS, enrollPerMinutePerNetwork: PER_NETWORK, enrollPerMinuteGlobal: 40, enrollProofOfWorkBits: 8 },
  });
  aggregator = await startWithEnrollment(config, { logger: testLogger() });
}, 60_000);

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await aggregator.close();
  data.remove();
});

describe('a fake-client swarm from one network', () => {
  it('enrolls no more than the network allows, however many addresses it uses; other networks still enroll', async () => {
    const started = performance.now();
    const refusals: string[] = [];
    for (const address of SWARM_ADDRESSES) {
      for (let attempt = 0; attempt < PER_ADDRESS + 1; attempt++) {
        try {
          swarm.push(await enrollDevice({ baseUrl: aggregator.url, fetch: fetchFrom(address) }));
        } catch (error) {
          if (!(error instanceof EnrollmentFailure) || error.status !== 429) throw error;
          refusals.push(error.message);
        }
      }
    }
    const elapsedMs = performance.now() - started;
    // 6 addresses × 3 per address would be 18; the /24 gets 8 (the bucket's burst), plus what
    // refills at 8 a minute while the swarm tries (one more per 7.5 s).
    expect(swarm.length).toBeGreaterThanOrEqual(PER_NETWORK);
    expect(swarm.length).toBeLessThanOrEqual(PER_NETWORK + Math.floor(elapsedMs / 7_500));
    expect(refusals.some((m) => m.includes('from this network (127.0.0.0/24)'))).toBe(true);
    expect(refusals.some((m) => m.includes('from this address'))).toBe(true);
    // Honest devices of other networks are not held back by the swarm's network.
    for (const address of HONEST_ADDRESSES) honest.push(await enrollDevice({ baseUrl: aggregator.url, fetch: fetchFrom(address) }));
    expect(honest).toHaveLength(HONEST_ADDRESSES.length);
  }, 60_000);

  it('places at most maxPerNetwork clients in a cohort; the honest clients of other networks commit the round', async () => {
    expect(swarm.length).toBeGreaterThanOrEqual(PER_NETWORK);
    expect(honest).toHaveLength(HONEST_ADDRESSES.length);
    // The swarm checks in from its own network and drops out as soon as it is selected (so that
    // each round closes without waiting on it); it records which round selected whom.
    const selectedIn = new Map<string, number>();
    const sybils: Socket[] = swarm.map((identity, i) => {
      const socket = io(aggregator.url, {
        auth: handshakeAuth(identity),
        transports: ['websocket'],
        reconnection: false,
        ...({ localAddress: SWARM_ADDRESSES[i % SWARM_ADDRESSES.length] } as object),
      });
      socket.on('welcome', () => socket.emit('checkIn', { eligibility: { consent: true, idle: true, backend: 'wasm' } }));
      socket.on('roundPlan', (plan: RoundPlan) => {
        selectedIn.set(plan.roundId, (selectedIn.get(plan.roundId) ?? 0) + 1);
        socket.disconnect();
      });
      return socket;
    });
    cleanups.push(() => sybils.forEach((socket) => socket.disconnect()));
    // Every Sybil waits in the pool before the honest clients connect: the first draw sees them all.
    await eventually(() => (aggregator.coordinator.poolSize >= swarm.length ? true : undefined), 20_000, 'the swarm checked in');
    const pool: VirtualClientPool = await startVirtualClients({
      url: aggregator.url,
      clients: stateOfTheUnionClients(TEST_SPEC, HONEST_ADDRESSES.length),
      // Enrolled from their own networks above: 127.0.0.1 is in the swarm's /24, whose budget is spent.
      identities: honest,
      localAddress: (index) => HONEST_ADDRESSES[index],
      planPolicy: TEST_PLAN_POLICY,
    });
    cleanups.push(() => pool.close());
    const committed = await eventually(() => aggregator.store.rounds.filter((r) => r.status === 'committed').at(0), 60_000, 'a committed round');
    // The first round drew from everyone checked in (q = 1), and the cap let two of the swarm in.
    const first = aggregator.store.rounds[0];
    expect(first?.cohort.eligible).toBe(swarm.length + HONEST_ADDRESSES.length);
    for (const [roundId, count] of selectedIn) expect(count, `Sybils selected in ${roundId}`).toBeLessThanOrEqual(MAX_PER_NETWORK);
    expect(selectedIn.get(first?.roundId ?? '')).toBe(MAX_PER_NETWORK);
    expect(committed.cohort.selected).toBeLessThanOrEqual(HONEST_ADDRESSES.length + MAX_PER_NETWORK);
    expect(committed.cohort.masked).toBeGreaterThanOrEqual(HONEST_ADDRESSES.length);
  }, 90_000);
});
