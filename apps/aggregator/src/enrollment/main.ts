import { pino } from 'pino';
import { enrollmentHelpText, loadEnrollmentConfig } from './config';
import { startEnrollmentServer } from './host';

/** `npm run enrollment -- [flags]`: the enrollment service as its own process. */
const loaded = loadEnrollmentConfig(process.argv.slice(2), process.env, process.cwd());
if (!loaded.ok) {
  console.error(loaded.message);
  process.exit(2);
}
if (loaded.help) {
  console.log(enrollmentHelpText());
  process.exit(0);
}
const { config } = loaded;
const logger = pino({ name: 'enrollment', level: config.logLevel });
const running = await startEnrollmentServer(config, logger);
console.log(
  `Murmur enrollment service: ${running.url}  (issuer "${running.service.issuer.name}"; give aggregators --enrollment-issuer ${config.dataDir}/issuer.json; admin token ${config.adminToken ? 'from config' : `in ${config.dataDir}/admin-token`})`,
);
const shutdown = (signal: string) => {
  logger.info({ signal }, 'shutting down');
  void running.close().then(() => process.exit(0));
};
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
