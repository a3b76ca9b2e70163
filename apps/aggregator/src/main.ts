import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { useNodeBackend } from '@murmur/fl-core/node';
import { DEFAULT_PLAN_POLICY, PRIVACY_OFF_PLAN_POLICY } from '@murmur/fl-core/participant';
import { helpText, loadConfig, resolveInvocationPaths } from './config';
import { startAggregator } from './aggregator';
import { startWithEnrollment } from './enrollment/host';
import { stateOfTheUnionClients } from './demo-data';
import { startVirtualClients, type VirtualClientPool } from './virtual-clients';

const loaded = loadConfig(process.argv.slice(2), process.env);
if (!loaded.ok) {
  console.error(loaded.message);
  process.exit(2);
}
if (loaded.help) {
  console.log(helpText());
  process.exit(0);
}
// Relative paths are relative to where `npm start` was typed (npm sets INIT_CWD; the root script
// runs launch.ts from there), not to the workspace folder npm runs a workspace script in.
const config = resolveInvocationPaths(loaded.config, process.env, process.cwd());
const logger = pino({ name: 'aggregator', level: config.logLevel });
const builtClient = fileURLToPath(new URL('../../web-client/dist', import.meta.url));
const staticDir = config.staticDir ?? (existsSync(builtClient) ? builtClient : undefined);

if (config.distributed.enabled && !config.enrollmentIssuerFile) {
  console.error(
    'distributed mode: every process must accept the same certificates: run one enrollment service (npm run enrollment) and give each process --enrollment-issuer FILE',
  );
  process.exit(2);
}
await useNodeBackend('wasm');
// Without --enrollment-issuer the demo hosts an enrollment service in this process (its own key
// in <data-dir>/enrollment; the aggregator gets only the public half).
const startOptions = { logger, ...(staticDir ? { staticDir } : {}) };
const aggregator = config.enrollmentIssuerFile ? await startAggregator(config, startOptions) : await startWithEnrollment(config, startOptions);
const generated = !config.adminToken && !config.adminTokens && !config.adminTokensFile;
console.log(
  `Murmur aggregator: ${aggregator.url}  (data: ${config.dataDir}; ${generated ? `admin token in ${config.dataDir}/admin-token` : `operators: ${aggregator.operators.map((o) => o.name).join(', ')}`}; enrollment issuer "${aggregator.issuer.name}" ${config.enrollmentIssuerFile ? `from ${config.enrollmentIssuerFile}` : `hosted here, state in ${config.dataDir}/enrollment`})`,
);

let demo: VirtualClientPool | null = null;
if (config.demo > 0) {
  // The data directory's model, not --model: an existing directory keeps the model it was made with.
  const clients = stateOfTheUnionClients(aggregator.store.spec, config.demo);
  // The demo's devices check plans as browsers do; with --dp off the operator turned privacy off for them too.
  const planPolicy = config.privacy.mode === 'off' ? PRIVACY_OFF_PLAN_POLICY : DEFAULT_PLAN_POLICY;
  demo = await startVirtualClients({ url: aggregator.url, clients, logger: logger.child({ component: 'demo' }), planPolicy });
  console.log(`started ${clients.length} virtual clients (State of the Union, natural partition)`);
}

let stopping = false;
const shutdown = (signal: string) => {
  if (stopping) {
    logger.warn({ signal }, 'second signal: exiting now');
    process.exit(1);
  }
  stopping = true;
  logger.info({ signal }, 'shutting down');
  void (async () => {
    await demo?.close();
    await aggregator.close();
    process.exit(0);
  })();
};
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
