/**
 * `npm run bench -- <name> [flags]` runs bench/<name>.ts, which writes bench/results/<name>*.json
 * and a markdown table. `npm run bench -- --list` lists them.
 */
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.replace(/\.bench\.ts$/, ''))
  .sort();

const [name, ...rest] = process.argv.slice(2);
if (!name || name === '--list' || name === '--help') {
  console.log(`usage: npm run bench -- <name> [flags]\n\navailable: ${available.join(', ')}`);
  process.exit(name ? 0 : 1);
}
if (!available.includes(name)) {
  console.error(`unknown bench "${name}"; available: ${available.join(', ')}`);
  process.exit(2);
}
const module = (await import(`./${name}.bench.ts`)) as { main(argv: string[]): Promise<void> };
await module.main(rest);
