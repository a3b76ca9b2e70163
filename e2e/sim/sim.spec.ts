import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, expect } from '@playwright/test';
import { PARAMS_ENV, PROGRESS_ENV, simParamsSchema, type ProgressEvent } from './params';
import { toJson, toMarkdown } from './report';
import { runSimulation } from './simulation';

/**
 * The simulation `npm run e2e:sim` runs, as a Playwright test so that its trace, screenshots on
 * failure and the HTML report come with it. Parameters arrive from the CLI in MURMUR_SIM_PARAMS.
 */
const raw = process.env[PARAMS_ENV];
if (raw === undefined) throw new Error(`${PARAMS_ENV} is not set: run the simulation with npm run e2e:sim (see --help)`);
const params = simParamsSchema.parse(JSON.parse(raw));
const progressFile = process.env[PROGRESS_ENV];
const progress = (event: ProgressEvent) => {
  if (progressFile) appendFileSync(progressFile, `${JSON.stringify(event)}\n`);
};

test(`simulation: ${params.clients} clients, ${params.rounds} rounds, dropout ${params.dropout}, seed ${params.seed}${params.killAggregatorAt ? `, kill at ${params.killAggregatorAt}` : ''}`, async ({
  browser,
}, testInfo) => {
  test.setTimeout(60_000 + params.rounds * 240_000);
  mkdirSync(params.out, { recursive: true });
  const result = await runSimulation(browser, params, progress);
  const json = join(params.out, 'report.json');
  const markdown = join(params.out, 'summary.md');
  writeFileSync(json, `${JSON.stringify(toJson(result), null, 2)}\n`);
  writeFileSync(markdown, toMarkdown(result));
  await testInfo.attach('summary.md', { path: markdown, contentType: 'text/markdown' });
  await testInfo.attach('report.json', { path: json, contentType: 'application/json' });

  expect(result.rounds.map((r) => r.record.round)).toEqual(Array.from({ length: params.rounds }, (_, i) => i + 1));
  for (const round of result.rounds) {
    if (round.exact) expect(round.exact.exact, `round ${round.record.round}: ${round.exact.detail}`).toBe(true);
  }
  if (params.killAggregatorAt) expect(result.restarts).toBe(1);
});
