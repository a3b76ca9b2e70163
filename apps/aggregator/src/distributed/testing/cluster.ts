import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { useNodeBackend } from '@murmur/fl-core/node';
import { DASHBOARD_SOCKET_PATH, type RoundEnd, type TaskProgress } from '@murmur/fl-core/protocol';
import type { AggregatorConfigInput } from '../../config';
import { stateOfTheUnionClients } from '../../demo-data';
import { enrollmentConfigSchema } from '../../enrollment/config';
import { startEnrollmentServer, type RunningEnrollment } from '../../enrollment/host';
import { TEST_PLAN_POLICY, TEST_SPEC, testConfigInput, testLogger } from '../../test-helpers';
import { connectIdleDevices, enrollDevices, startVirtualClients, type IdleDevices, type VirtualClientPool } from '../../virtual-clients';
import { checkInvariants } from '../invariants';
import type { RecordStore } from '../record-store';
import { hashOfBytes } from '../replica';
import { spawnAggregator, type AggregatorProcess } from './aggregators';
import { dropSchema, freshSchema, openStore, until } from './fixtures';

/** A 'phase' event of one process's dashboard stream. */
export interface PhaseSeen {
  round: number;
  roundId: string;
  phase: string;
  at: number;
}

/** One aggregator process of the cluster: the running child, its dashboard stream, and whether the test ended it. */
export interface ClusterMember {
  index: number;
  processId: string;
  process: AggregatorProcess;
  /** Set by the test before it kills or stops the process on purpose; any other exit is a crash. */
  expectedExit: boolean;
  phases: PhaseSeen[];
  /** The task coordinator's round events this process's dashboard viewers received (fanned out from the lease holder). */
  tasks: TaskProgress[];
  dashboard: Socket;
}

export interface Cluster {
  readonly schema: string;
  readonly records: RecordStore;
  readonly members: ClusterMember[];
  /** The virtual clients of process i are pools[i]. */
  readonly pools: readonly VirtualClientPool[];
  /** Every roundEnd each client saw, by process. */
  readonly ends: { process: number; client: number; end: RoundEnd; at: number }[];
  /** Every process's pino lines so far, the dead incarnations' included. */
  logs(): Record<string, unknown>[];
  /** Spawns member `index` again on the port it had (its clients reconnect by themselves). */
  respawn(index: number): Promise<ClusterMember>;
  /** Processes that exited without the test asking for it. */
  crashed(): string[];
  /** The task's invariants (docs/scale-out.md): the violations, [] when they all hold. */
  violations(): Promise<string[]>;
  /** Every process's recent output, for failure messages. */
  dump(): string;
  close(): Promise<void>;
}

/**
 * "Enrollment server + N aggregator processes (main.ts) + M virtual clients per process" on the
 * stores that stores.sh started, one task on a schema of its own. The clients of process i
 * connect to process i only, as a consistent-hash router would keep them.
 */
export async function startCluster(input: {
  prefix: string;
  taskId: string;
  processes: number;
  clientsPerProcess: number;
  /** Enrolled devices per process that stay connected and never check in. */
  idlePerProcess?: number;
  /** MURMUR_* overrides (lease TTL, pool-count TTL, …). */
  env?: Record<string, string>;
  round?: AggregatorConfigInput['round'];
}): Promise<Cluster> {
  await useNodeBackend('wasm');
  const schema = freshSchema(input.prefix);
  const dir = mkdtempSync(join(tmpdir(), `murmur-${input.prefix}-`));
  const records = await openStore(schema);
  const members: ClusterMember[] = [];
  const retired: AggregatorProcess[] = [];
  const pools: VirtualClientPool[] = [];
  const idle: IdleDevices[] = [];
  const ends: Cluster['ends'] = [];
  let enrollment: RunningEnrollment | undefined;
  const env = { ...process.env, MURMUR_PG_SCHEMA: schema, ...input.env };
  const configOf = (index: number, port = 0): AggregatorConfigInput =>
    testConfigInput(join(dir, `agg${index}`), {
      port,
      logLevel: 'info',
      enrollmentIssuerFile: join(dir, 'enrollment', 'issuer.json'),
      distributed: { enabled: true, taskId: input.taskId, population: 'test', processId: `agg${index}` },
      // Real processes, as deployed: unmasking in its worker thread.
      round: { target: input.processes * input.clientsPerProcess, minReports: 3, unmaskInWorker: true, ...input.round },
    });
  const spawnMember = async (index: number, port = 0): Promise<ClusterMember> => {
    const processId = `agg${index}`;
    const child = await spawnAggregator({ dir: join(dir, processId), processId, config: configOf(index, port), env });
    const phases: PhaseSeen[] = [];
    const dashboard = io(child.url, { path: DASHBOARD_SOCKET_PATH, transports: ['websocket'], reconnectionDelay: 250, reconnectionDelayMax: 1000 });
    dashboard.on('phase', (event: { round: number; roundId: string; phase: string }) =>
      phases.push({ round: event.round, roundId: event.roundId, phase: event.phase, at: Date.now() }),
    );
    const tasks: TaskProgress[] = [];
    dashboard.on('task', (event: TaskProgress) => tasks.push(event));
    const member: ClusterMember = { index, processId, process: child, expectedExit: false, phases, tasks, dashboard };
    members[index] = member;
    return member;
  };

  const cluster: Cluster = {
    schema,
    records,
    members,
    pools,
    ends,
    logs: () => [...retired, ...members.map((m) => m.process)].flatMap((p) => p.logs()),
    async respawn(index) {
      const old = members[index];
      if (!old) throw new Error(`respawn: no member ${index}`);
      old.dashboard.close();
      await old.process.exited;
      retired.push(old.process);
      return spawnMember(index, Number(new URL(old.process.url).port));
    },
    crashed: () => members.filter((m) => !m.expectedExit && (m.process.child.exitCode !== null || m.process.child.signalCode !== null)).map((m) => m.processId),
    async violations() {
      return (await checkInvariants(records.pool, schema, input.taskId, { hashOf: hashOfBytes(TEST_SPEC) })).violations;
    },
    dump: () => members.map((m) => `--- ${m.processId}\n${m.process.output().slice(-5000)}`).join('\n'),
    async close() {
      // MURMUR_TEST_LOG_DIR: every incarnation's full output is kept there (for debugging a failure).
      const keep = process.env.MURMUR_TEST_LOG_DIR;
      if (keep) {
        mkdirSync(keep, { recursive: true });
        for (const p of [...retired, ...members.map((m) => m.process)]) writeFileSync(join(keep, `${p.processId}-${p.child.pid}.log`), p.output());
      }
      for (const pool of pools) await pool.close();
      for (const devices of idle) devices.close();
      for (const member of members) {
        member.dashboard.close();
        member.expectedExit = true;
        // A stopped process does not act on SIGTERM: wake it first.
        member.process.child.kill('SIGCONT');
        member.process.child.kill('SIGTERM');
      }
      const exits = members.map((m) => m.process.exited);
      const timer = setTimeout(() => members.forEach((m) => m.process.child.kill('SIGKILL')), 20_000);
      await Promise.all(exits);
      clearTimeout(timer);
      await enrollment?.close();
      await dropSchema(records).catch(() => undefined);
      await records.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    enrollment = await startEnrollmentServer(
      enrollmentConfigSchema.parse({
        port: 0,
        dataDir: join(dir, 'enrollment'),
        proofOfWorkBits: 0,
        // Every test device enrolls from 127.0.0.1: one network.
        enrollPerMinute: 1000,
        enrollPerMinutePerNetwork: 1000,
        logLevel: 'silent',
      }),
      testLogger(),
    );
    for (let i = 0; i < input.processes; i++) await spawnMember(i);
    const data = stateOfTheUnionClients(TEST_SPEC, input.processes * input.clientsPerProcess);
    for (const [i, member] of members.entries()) {
      pools.push(
        await startVirtualClients({
          url: member.process.url,
          enrollmentUrl: enrollment.url,
          clients: data.slice(i * input.clientsPerProcess, (i + 1) * input.clientsPerProcess),
          planPolicy: TEST_PLAN_POLICY,
          onEvent: (client, event) => {
            if (event.type === 'roundEnd') ends.push({ process: i, client, end: event.result, at: Date.now() });
          },
        }),
      );
      if (input.idlePerProcess)
        idle.push(await connectIdleDevices({ url: member.process.url, identities: await enrollDevices(enrollment.url, input.idlePerProcess) }));
    }
  } catch (error) {
    await cluster.close().catch(() => undefined);
    throw error;
  }
  return cluster;
}

/** The first log line (from `from` on) with this msg that matches `fields`, waiting up to timeoutMs. */
export function waitLog(
  cluster: Cluster,
  msg: string,
  match: (line: Record<string, unknown>) => boolean = () => true,
  timeoutMs = 60_000,
  from = 0,
): Promise<Record<string, unknown>> {
  return until(
    `log "${msg}"`,
    () =>
      cluster
        .logs()
        .filter((line) => Number(line.time ?? 0) >= from)
        .find((line) => line.msg === msg && match(line)),
    timeoutMs,
  ).catch((error: unknown) => {
    throw new Error(`${String(error)}\n${cluster.dump()}`);
  });
}
