import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
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
