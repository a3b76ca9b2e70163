import { after, describe, it } from 'node:test';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuleTester } from 'eslint';
import tseslint from 'typescript-eslint';
import { moduleBoundaries } from './module-boundaries.mjs';

RuleTester.describe = describe;
RuleTester.it = it;
RuleTester.afterAll = after;

// A throwaway workspace with one package of each type, so the test does not depend on this repo's graph.
const root = mkdtempSync(join(tmpdir(), 'module-boundaries-'));
after(() => rmSync(root, { recursive: true, force: true }));
const write = (dir, manifest) => {
  mkdirSync(join(root, dir, 'src'), { recursive: true });
  writeFileSync(join(root, dir, 'package.json'), JSON.stringify(manifest));
};
writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'ws', workspaces: ['libs/*', 'apps/*', 'e2e', 'bench', 'loose'] }));
write('libs/core', { name: '@murmur/core', nx: { tags: ['type:lib'] } });
write('libs/extra', { name: '@murmur/extra', nx: { tags: ['type:lib'] } });
write('apps/web', { name: '@murmur/web', nx: { tags: ['type:app'] }, dependencies: { '@murmur/core': '*' } });
write('apps/server', { name: '@murmur/server', nx: { tags: ['type:app'] }, dependencies: { '@murmur/core': '*', '@murmur/web': '*' } });
write('e2e', { name: '@murmur/e2e', nx: { tags: ['type:e2e'] }, dependencies: { '@murmur/core': '*', '@murmur/server': '*' } });
write('bench', { name: '@murmur/bench', nx: { tags: ['type:bench'] }, dependencies: { '@murmur/e2e': '*', '@murmur/core': '*' } });
write('loose', { name: '@murmur/loose' });

const file = (dir) => join(root, dir, 'src', 'index.ts');
const options = [{ root }];
const tester = new RuleTester({ languageOptions: { parser: tseslint.parser } });

tester.run('module-boundaries', moduleBoundaries, {
  valid: [
    { filename: file('apps/web'), options, code: "import { x } from '@murmur/core';" },
    { filename: file('apps/web'), options, code: "import { x } from '@murmur/core/node';" },
    { filename: file('e2e'), options, code: "import type { Config } from '@murmur/server'; const m = await import('@murmur/core');" },
    { filename: file('e2e'), options, code: "type Server = typeof import('@murmur/server/testing');" },
    { filename: file('bench'), options, code: "export { launch } from '@murmur/e2e/chromium';" },
    { filename: file('libs/core'), options, code: "import { y } from '@murmur/core/sub'; import fs from 'node:fs';" },
  ],
  invalid: [
    { filename: file('libs/core'), options, code: "import { x } from '@murmur/web';", errors: [{ messageId: 'forbidden' }] },
    { filename: file('apps/server'), options, code: "import { x } from '@murmur/web';", errors: [{ messageId: 'forbidden' }] },
    { filename: file('apps/web'), options, code: "export * from '@murmur/e2e';", errors: [{ messageId: 'forbidden' }] },
    { filename: file('apps/web'), options, code: "const m = await import('@murmur/bench');", errors: [{ messageId: 'forbidden' }] },
    { filename: file('e2e'), options, code: "type W = typeof import('@murmur/web/testing');", errors: [{ messageId: 'undeclared' }] },
    { filename: file('apps/web'), options, code: "import { x } from '@murmur/extra';", errors: [{ messageId: 'undeclared' }] },
    { filename: file('apps/web'), options, code: "import { x } from '@murmur/nowhere';", errors: [{ messageId: 'unknown' }] },
    { filename: file('loose'), options, code: "import { x } from '@murmur/core';", errors: [{ messageId: 'untagged' }] },
  ],
});
