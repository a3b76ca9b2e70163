import { core } from './core';
import type { SimResult } from './simulation';

const FUNNEL = core.COHORT_FUNNEL;
const fixed = (value: number | null | undefined, digits: number) => (value === null || value === undefined ? '—' : value.toFixed(digits));
const pct = (value: number | null | undefined) => (value === null || value === undefined ? '—' : `${(value * 100).toFixed(1)}%`);
const seconds = (ms: number | undefined) => (ms === undefined ? '—' : (ms / 1000).toFixed(1));

/** The JSON report: the whole result, plus the per-round dropouts spelled out (stage → clients lost there). */
export function toJson(result: SimResult): unknown {
  return {
    ...result,
    rounds: result.rounds.map((r) => ({
      ...r,
      // Clients lost at each stage: those that answered the stage before but not this one.
      dropouts: Object.fromEntries(
        FUNNEL.slice(2).map((stage, i) => [stage, r.record.cohort[FUNNEL[i + 1] as (typeof FUNNEL)[number]] - r.record.cohort[stage]]),
      ),
      committedInputs: r.record.status === 'committed' ? r.record.cohort.masked : 0,
      totalMs: Date.parse(r.record.endedAt) - Date.parse(r.record.startedAt),
    })),
  };
}

/** The markdown summary: what QA reads first (and what docs/qa.md shows for one real run). */
export function toMarkdown(result: SimResult): string {
  const p = result.params;
  const lines: string[] = [];
  lines.push(`# Murmur browser simulation, ${result.startedAt}`);
  lines.push('');
  lines.push(
    `${p.clients} Chromium contexts, ${p.rounds} rounds, dropout ${p.dropout}, seed ${p.seed}${p.killAggregatorAt ? `, aggregator SIGKILLed at ${p.killAggregatorAt}` : ''}. ` +
      `Wall time ${seconds(result.wallMs)} s (set-up ${seconds(result.setupMs)} s: pages, calibration, consent). Aggregator restarts: ${result.restarts}.`,
  );
  lines.push('');
  lines.push('## Rounds');
  lines.push('');
  lines.push(
    '| round | status | eligible → selected → advertised → shared → masked → unmasked | in sum | faults | Σ examples (exact?) | eval loss | top-1 | top-3 | ε | duration s (train+keys / share / mask / unmask) |',
  );
  lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of result.rounds) {
    const c = r.record.cohort;
    const d = r.record.durationsMs;
    const faults =
      [...r.faults.filter((f) => f.applied).map((f) => `#${f.client} ${f.kind}@${f.phase}`), ...(r.killedHere ? ['aggregator SIGKILL'] : [])].join(', ') || '—';
    const status = r.record.status === 'aborted' ? `aborted (${r.record.abort?.code ?? '?'})` : 'committed';
    const exact = r.exact ? `${r.exact.securelySummed} (${r.exact.exact ? 'yes' : 'NO'})` : '—';
    const m = r.record.metrics;
    lines.push(
      `| ${r.record.round} | ${status} | ${FUNNEL.map((s) => c[s]).join(' → ')} | ${r.record.status === 'committed' ? c.masked : 0} | ${faults} | ${exact} | ${fixed(m?.eval.loss, 3)} | ${pct(m?.eval.top1)} | ${pct(m?.eval.top3)} | ${fixed(r.record.privacy.epsilon, 2)} | ${seconds(Date.parse(r.record.endedAt) - Date.parse(r.record.startedAt))} (${core.SECAGG_PHASES.map((k) => seconds(d[k])).join(' / ')}) |`,
    );
  }
  lines.push('');
  lines.push('Exact aggregation, per committed round:');
  lines.push('');
  for (const r of result.rounds) if (r.exact) lines.push(`- round ${r.record.round}: ${r.exact.detail}`);
  lines.push('');
  lines.push('## Clients');
  lines.push('');
  lines.push('| client | partition | backend | rounds contributed (its log) | log entries | faults |');
  lines.push('| --- | --- | --- | --- | --- | --- |');
  for (const c of result.clients)
    lines.push(`| ${c.index} | ${c.partition} | ${c.backend ?? '—'} | ${c.roundsContributed.join(', ') || '—'} | ${c.logEntries} | ${c.faults} |`);
  lines.push('');
  const skipped = result.rounds.flatMap((r) => r.faults.filter((f) => !f.applied));
  if (skipped.length)
    lines.push(
      'Faults scheduled but not applied:',
      '',
      ...skipped.map((f) => `- round ${f.round}, client ${f.client}, ${f.kind} at ${f.phase}: ${f.note}`),
      '',
    );
  return lines.join('\n');
}
