// Package boundaries from the Nx `type:` tags in each workspace package.json: a library depends
// only on libraries, an app only on libraries, e2e on apps and libraries, bench on all three; and
// every @murmur/* import is declared in the importing package's dependencies (hoisting would
// otherwise hide a missing one until a clean install). Written here rather than taken from
// @nx/eslint-plugin because the newest release on our registry targets Nx 23 and would install a
// second Nx beside the workspace's 24.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Which `type:` tags a package of each type may import. */
export const ALLOWED_DEPENDENCIES = {
  'type:lib': ['type:lib'],
  'type:app': ['type:lib'],
  'type:e2e': ['type:app', 'type:lib'],
  'type:bench': ['type:app', 'type:lib', 'type:e2e'],
};

const manifestCache = new Map();

/** The nearest package.json at or above `dir`, parsed, with its folder; null at the file system root. */
function owningPackage(dir) {
  if (manifestCache.has(dir)) return manifestCache.get(dir);
  const file = join(dir, 'package.json');
  let found = null;
  if (existsSync(file)) found = { dir, manifest: JSON.parse(readFileSync(file, 'utf8')) };
  else if (dirname(dir) !== dir) found = owningPackage(dirname(dir));
  manifestCache.set(dir, found);
  return found;
}

function typeTag(manifest) {
  const tags = manifest.nx?.tags ?? [];
  return tags.find((tag) => tag.startsWith('type:')) ?? null;
}

/** The workspace package named `name`, found through the workspaces globs of the root package.json. */
function workspacePackage(root, name) {
  const workspaces = owningPackage(root)?.manifest.workspaces ?? [];
  for (const pattern of workspaces) {
    const base = pattern.endsWith('/*') ? join(root, pattern.slice(0, -2)) : null;
    const candidates = base ? [join(base, name.split('/')[1])] : [join(root, pattern)];
    for (const dir of candidates) {
      const file = join(dir, 'package.json');
      if (!existsSync(file)) continue;
      const manifest = JSON.parse(readFileSync(file, 'utf8'));
      if (manifest.name === name) return manifest;
    }
  }
  return null;
}

/** @type {import('eslint').Rule.RuleModule} */
export const moduleBoundaries = {
  meta: {
    type: 'problem',
    docs: { description: 'Workspace packages import each other only along the allowed `type:` tag edges, and declare what they import.' },
    schema: [{ type: 'object', properties: { root: { type: 'string' } }, required: ['root'], additionalProperties: false }],
    messages: {
      untagged: 'Package {{pkg}} has no `type:` tag in its package.json nx.tags, so its imports cannot be checked.',
      forbidden: '{{from}} ({{fromType}}) may not import {{to}} ({{toType}}): a {{fromType}} package imports only {{allowed}}.',
      undeclared: '{{from}} imports {{to}} without declaring it in its package.json dependencies.',
      unknown: '{{to}} is not a package of this workspace.',
    },
  },
  create(context) {
    const { root } = context.options[0];
    const owner = owningPackage(dirname(context.filename));
    if (!owner || owner.dir === root || !owner.manifest.name?.startsWith('@murmur/')) return {};
    const from = owner.manifest.name;
    const fromType = typeTag(owner.manifest);

    function check(node, source) {
      if (typeof source !== 'string' || !source.startsWith('@murmur/')) return;
      const to = source.split('/').slice(0, 2).join('/');
      if (to === from) return;
      if (!fromType) return context.report({ node, messageId: 'untagged', data: { pkg: from } });
      const target = workspacePackage(root, to);
      if (!target) return context.report({ node, messageId: 'unknown', data: { to } });
      const toType = typeTag(target);
      const allowed = ALLOWED_DEPENDENCIES[fromType] ?? [];
      if (!toType || !allowed.includes(toType)) {
        return context.report({
          node,
          messageId: 'forbidden',
          data: { from, fromType, to, toType: toType ?? 'untagged', allowed: allowed.join(', ') || 'nothing' },
        });
      }
      const declared = { ...owner.manifest.dependencies, ...owner.manifest.devDependencies, ...owner.manifest.peerDependencies };
      if (!(to in declared)) context.report({ node, messageId: 'undeclared', data: { from, to } });
    }

    const fromSource = (node) => node.source && check(node.source, node.source.value);
    return {
      ImportDeclaration: fromSource,
      ExportNamedDeclaration: fromSource,
      ExportAllDeclaration: fromSource,
      ImportExpression: (node) => node.source.type === 'Literal' && check(node.source, node.source.value),
      TSImportType: (node) => {
        const literal = node.argument?.literal ?? node.argument;
        if (literal?.type === 'Literal') check(node, literal.value);
      },
    };
  },
};
