import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { useNodeBackend } from '@murmur/fl-core/node';
import { startAggregator } from './server';

const HELP = `Usage: npm start -- [flags]

  --port N        HTTP port (env PORT)                               (default 8080)
  --host H        interface to bind (env HOST)                       (default 127.0.0.1)
  --model NAME    tiny | reference: the global model's preset         (default tiny)
  --seed S        seed of the initial global model                   (default 1)
  -h, --help      this text
`;

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.PORT ?? '8080' },
    host: { type: 'string', default: process.env.HOST ?? '127.0.0.1' },
    model: { type: 'string', default: 'tiny' },
    seed: { type: 'string', default: '1' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const port = Number(values.port);
const seed = Number(values.seed);
if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0–65535, got ${values.port}`);
if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got ${values.seed}`);
if (values.model !== 'tiny' && values.model !== 'reference') throw new Error(`--model must be tiny or reference, got ${values.model}`);

const logger = pino({ name: 'aggregator' });
await useNodeBackend('wasm');
const aggregator = await startAggregator({
  port,
  host: values.host,
  seed,
  model: values.model,
  staticDir: fileURLToPath(new URL('../../web-client/dist', import.meta.url)),
  logger,
});
console.log(`Murmur aggregator: ${aggregator.url}`);
const shutdown = (signal: string) => {
  logger.info({ signal }, 'shutting down');
  void aggregator.close().then(() => process.exit(0));
};
process.once('SIGINT', () => shutdown('SIGINT'));
process.once('SIGTERM', () => shutdown('SIGTERM'));
