import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { makeConfig, resolveInvocationPaths } from './config';
import { launchPlan } from './launch';

const LAUNCH = fileURLToPath(new URL('./launch.ts', import.meta.url));

describe('npm start', () => {
  it('prints help without building the web client', () => {
    expect(launchPlan(['--help'])).toBe('help');
    expect(launchPlan(['--demo', '5', '-h'])).toBe('help');
    expect(launchPlan(['--demo', '5'])).toBe('build-and-start');
    expect(launchPlan(['--', '--help'])).toBe('build-and-start');
  });

  it('answers --help with the flag table, quickly and without running nx', () => {
    // PATH without npx: a build attempt would fail the run instead of silently taking 12 s.
    const started = Date.now();
    const run = spawnSync(process.execPath, ['--import', 'tsx', LAUNCH, '--help'], { encoding: 'utf8', env: { ...process.env, PATH: '/nonexistent' } });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('--data-dir');
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});

describe('where `./data` is (issue 17: it was apps/aggregator/data under `npm start`)', () => {
  it("the root `npm start` runs launch.ts where it was typed, not the app's own script through nx (which moved INIT_CWD)", () => {
    const root = JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { scripts: Record<string, string> };
    expect(root.scripts.start).toBe('tsx apps/aggregator/src/launch.ts');
  });

  it('resolves relative paths against INIT_CWD (where `npm start` was typed), else the working directory', () => {
    const config = makeConfig({ dataDir: './data', staticDir: 'www', adminTokensFile: 'ops/tokens' });
    expect(resolveInvocationPaths(config, { INIT_CWD: '/repo' }, '/repo/apps/aggregator')).toMatchObject({
      dataDir: '/repo/data',
      staticDir: '/repo/www',
      adminTokensFile: '/repo/ops/tokens',
    });
    expect(resolveInvocationPaths(config, {}, '/srv/murmur').dataDir).toBe('/srv/murmur/data');
    expect(resolveInvocationPaths(makeConfig({ dataDir: '/var/lib/murmur' }), { INIT_CWD: '/repo' }, '/x')).toMatchObject({ dataDir: '/var/lib/murmur' });
    expect(resolveInvocationPaths(makeConfig({}), {}, '/x').staticDir).toBeUndefined();
  });
});
