import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

export const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');

export type Cell = string | number | boolean | null;
export type Row = Record<string, Cell>;

export interface BenchReport {
  /** File stem under bench/results/, e.g. "train-node". */
  name: string;
  title: string;
  /** Column order for the table; every row should have these keys. */
  columns: string[];
  rows: Row[];
  /** Free-form parameters of the run (model spec, sizes, repetitions). */
  config: Record<string, unknown>;
  /** Lines printed under the table: targets met or missed, ratios. */
  notes?: string[];
}

function formatCell(value: Cell | undefined): string {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'number') {
    if (Number.isInteger(value)) return value.toLocaleString('en-US');
    return Math.abs(value) >= 100 ? value.toFixed(1) : value.toPrecision(3);
  }
  return String(value);
}

export function markdownTable(columns: string[], rows: Row[]): string {
  const header = `| ${columns.join(' | ')} |`;
  const rule = `| ${columns.map(() => '---').join(' | ')} |`;
  const body = rows.map((row) => `| ${columns.map((c) => formatCell(row[c])).join(' | ')} |`);
  return [header, rule, ...body].join('\n');
}

/** Writes bench/results/<name>.json and .md and prints the table. */
export function writeReport(report: BenchReport): void {
  mkdirSync(resultsDir, { recursive: true });
  const machine = {
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  };
  const measuredAt = new Date().toISOString();
  writeFileSync(join(resultsDir, `${report.name}.json`), `${JSON.stringify({ ...report, machine, measuredAt }, null, 2)}\n`);
  const table = markdownTable(report.columns, report.rows);
  const markdown = [
    `# ${report.title}`,
    '',
    `Measured ${measuredAt} on ${machine.cpuModel} (${machine.cpus} cores), Node ${machine.node}.`,
    '',
    table,
    '',
    ...(report.notes ?? []).map((n) => `- ${n}`),
    '',
  ].join('\n');
  writeFileSync(join(resultsDir, `${report.name}.md`), markdown);
  console.log(`\n${report.title}\n\n${table}\n${(report.notes ?? []).map((n) => `- ${n}`).join('\n')}`);
  console.log(`\nwrote bench/results/${report.name}.json and .md`);
}
