/**
 * A coordinator stand-in as a real process, for the lease tests: it keeps the task's lease with
 * LeaseKeeper and commits rounds when told on stdin; it reports on stdout, one JSON object a line.
 *
 *   argv[2]: JSON { schema, taskId, holder, ttlMs, renewMs, d }
 *   stdin:   commit | prepare | commit-prepared | loop N [pauseMs] | exit
 *   stdout:  { event: 'acquired' | 'lost' | 'committed' | 'refused' | 'prepared' | 'loop-done' | 'crash', … }
 *
 * `commit` and `commit-prepared` use the last grant this process acquired, whatever its lease
 * keeper believes now: the point is that the database, not the process, decides whether a paused
 * holder may still commit.
 */
import { createInterface } from 'node:readline';
import { isDistributedError } from '../errors';
import { LeaseKeeper, type LeaseGrant } from '../lease';
import { RecordStore } from '../record-store';
import { commitNext, commitPrepared, groupSumBytes, prepareCommit, storesConfig, type PreparedCommit } from './fixtures';

interface HolderArgs {
  schema: string;
  taskId: string;
  holder: string;
  ttlMs: number;
  renewMs: number;
  d: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as HolderArgs;
const emit = (event: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify({ ...event, pid: process.pid, holder: args.holder })}\n`);
};

process.on('uncaughtException', (error) => {
  emit({ event: 'crash', message: String(error) });
  process.exit(1);
});
process.on('unhandledRejection', (error) => {
  emit({ event: 'crash', message: String(error) });
  process.exit(1);
});

const store = await RecordStore.open(storesConfig({ pgSchema: args.schema, pgPoolSize: 2 }), () => undefined);
let grant: LeaseGrant | null = null;
let prepared: PreparedCommit | null = null;
const keeper = new LeaseKeeper(store.leases, {
  taskId: args.taskId,
  holder: args.holder,
  ttlMs: args.ttlMs,
  renewMs: args.renewMs,
  onAcquired: (g) => {
    grant = g;
    emit({ event: 'acquired', epoch: g.epoch });
  },
  onLost: (error) => emit({ event: 'lost', code: isDistributedError(error) ? error.code : 'ERROR', message: error.message }),
});
keeper.start();

function refused(error: unknown): void {
  if (isDistributedError(error)) emit({ event: 'refused', code: error.code, message: error.message });
  else throw error;
}

async function handle(line: string): Promise<void> {
  const [command, argument, pause] = line.trim().split(/\s+/);
  switch (command) {
    case 'commit': {
      if (!grant) return emit({ event: 'refused', code: 'NO_GRANT', message: 'never acquired' });
      try {
        const head = await commitNext(store, args.taskId, grant, args.d);
        emit({ event: 'committed', round: head.nextRound - 1, version: head.modelVersion, epoch: grant.epoch });
      } catch (error) {
        refused(error);
      }
      return;
    }
    case 'prepare': {
      const head = await store.head(args.taskId);
      prepared = await prepareCommit(store, args.taskId, groupSumBytes(head.nextRound, 'solo', args.d));
      return emit({ event: 'prepared', round: prepared.round, parentVersion: prepared.parent.version, epoch: grant?.epoch ?? null });
    }
    case 'commit-prepared': {
      if (!grant || !prepared) return emit({ event: 'refused', code: 'NO_GRANT', message: 'nothing prepared' });
      try {
        const head = await commitPrepared(store, args.taskId, grant, prepared);
        emit({ event: 'committed', round: head.nextRound - 1, version: head.modelVersion, epoch: grant.epoch });
      } catch (error) {
        refused(error);
      }
      return;
    }
    case 'loop': {
      // Commits rounds back to back, through database restarts: an unavailable store is retried,
      // an unknown outcome is looked up (findRound) before the next attempt.
      const rounds = Number(argument);
      const pauseMs = Number(pause ?? 0);
      let done = 0;
      while (done < rounds) {
        const fence = keeper.fence();
        if (!fence) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          continue;
        }
        let round = 0;
        try {
          const head = await store.head(args.taskId);
          round = head.nextRound;
          const after = await commitNext(store, args.taskId, fence, args.d);
          emit({ event: 'committed', round: after.nextRound - 1, version: after.modelVersion, epoch: fence.epoch });
          done++;
          if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
        } catch (error) {
          if (!isDistributedError(error)) throw error;
          if (error.code === 'COMMIT_OUTCOME_UNKNOWN') {
            const found = await lookUp(round);
            emit({ event: 'outcome-unknown', round, resolved: found });
            if (found === 'committed') done++;
          } else {
            emit({ event: 'retry', round, code: error.code });
          }
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      return emit({ event: 'loop-done', rounds });
    }
    case 'exit':
      await keeper.stop();
      await store.close();
      emit({ event: 'exit' });
      process.exit(0);
      return;
    default:
      emit({ event: 'refused', code: 'UNKNOWN_COMMAND', message: line });
  }
}

/** After COMMIT_OUTCOME_UNKNOWN: whether the round is in the record, retrying while the store is down. */
async function lookUp(round: number): Promise<'committed' | 'absent'> {
  for (;;) {
    try {
      return (await store.findRound(args.taskId, round))?.status === 'committed' ? 'committed' : 'absent';
    } catch (error) {
      if (!isDistributedError(error, 'STORE_UNAVAILABLE')) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

// One command at a time, in order.
let queue = Promise.resolve();
createInterface({ input: process.stdin }).on('line', (line) => {
  queue = queue.then(() => handle(line));
});
emit({ event: 'started' });
