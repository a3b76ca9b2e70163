/**
 * The SecAgg server's last step, in a thread of its own (unmask-thread.ts): reconstructing the
 * dropped clients' pairwise masks and every survivor's self mask expands one PRG stream of d words
 * per mask, seconds of CPU for a large model, which on the main thread would stall every socket,
 * heartbeat and dashboard of the process. The state comes in by structured clone (plain data).
 */
import { parentPort } from 'node:worker_threads';
import { defaultSuite, secAggServerStep, type SecAggServerState } from '@murmur/fl-core/secagg';

const port = parentPort;
if (!port) throw new Error('unmask.worker.ts runs as a worker thread');
const suite = await defaultSuite();
port.on('message', (request: { id: number; state: SecAggServerState }) => {
  secAggServerStep(request.state, { type: 'closeStage', stage: 'unmasking' }, { suite }).then(
    (step) => port.postMessage({ id: request.id, ok: true, step }),
    (error: unknown) => port.postMessage({ id: request.id, ok: false, error: error instanceof Error ? error.message : String(error) }),
  );
});
port.postMessage({ ready: true });
