import { useEffect, useState } from 'react';
import type { RoundReport } from '@murmur/fl-core/protocol';
import type { DashboardApi } from './api';
import { Funnel } from './Funnel';
import { formatBytes, formatNumber, formatPercent, formatSeconds, formatTime } from './format';
import { reportFunnel } from './store';

interface RoundDetailProps {
  api: DashboardApi;
  round: number;
  /** The record already in the list, shown while the server's copy loads. */
  known: RoundReport | undefined;
  onClose(): void;
}

type Loaded = { state: 'loading' } | { state: 'ready'; report: RoundReport } | { state: 'error'; message: string };

/** One round's durable record, as GET /api/rounds/:round serves it. */
export function RoundDetail({ api, round, known, onClose }: RoundDetailProps) {
  const [loaded, setLoaded] = useState<Loaded>({ state: 'loading' });
  useEffect(() => {
    const abort = new AbortController();
    setLoaded({ state: 'loading' });
    void api.round(round, abort.signal).then((result) => {
      if (abort.signal.aborted) return;
      setLoaded(result.ok ? { state: 'ready', report: result.value } : { state: 'error', message: result.error.message });
    });
    return () => abort.abort();
  }, [api, round]);

  const report = loaded.state === 'ready' ? loaded.report : known;
  return (
    <section className="dash-card dash-detail" aria-label={`Round ${round}`} data-testid="dash-round-detail">
      <header className="dash-row">
        <h3>Round {round}</h3>
        <button type="button" onClick={onClose}>
          Close
        </button>
      </header>
      {loaded.state === 'loading' && <p className="dash-muted">Loading the record from the aggregator…</p>}
      {loaded.state === 'error' && (
        <p role="alert" className="dash-error">
          {loaded.message}
        </p>
      )}
      {report && <RecordBody report={report} api={api} />}
    </section>
  );
}

function RecordBody({ report, api }: { report: RoundReport; api: DashboardApi }) {
  const { metrics, privacy, secagg } = report;
  return (
    <>
      <p>
        <strong>{report.status}</strong>
        {report.abort && (
          <>
            {' '}
            — <code>{report.abort.code}</code>: {report.abort.message}
          </>
        )}
        <br />
        {formatTime(report.startedAt)} → {formatTime(report.endedAt)} (
        {formatSeconds(Math.max(0, Date.parse(report.endedAt) - Date.parse(report.startedAt)) / 1000)}), id <code>{report.roundId}</code>
      </p>
      <p>
        Model v{report.modelVersion.from}
        {report.modelVersion.to !== report.modelVersion.from && (
          <>
            {' '}
            →{' '}
            <a href={api.modelUrl(report.modelVersion.to)} download={`murmur-model-v${report.modelVersion.to}.bin`}>
              v{report.modelVersion.to}
            </a>
          </>
        )}
      </p>
      {privacy.mode === 'off' ? (
        <Funnel stages={reportFunnel(report)} />
      ) : (
        <p className="dash-muted" data-testid="dash-detail-withheld">
          A private round: its cohort counts and securely summed metrics stay inside the aggregator, outside the privacy ledger; only the model and its ε are
          released.
        </p>
      )}
      <dl className="dash-facts">
        <dt>Examples</dt>
        <dd>{metrics ? metrics.examples.toLocaleString() : '–'}</dd>
        <dt>Train loss</dt>
        <dd>{formatNumber(metrics?.trainLoss)}</dd>
        <dt>Eval loss ({metrics?.eval.count.toLocaleString() ?? 0} examples)</dt>
        <dd>{formatNumber(metrics?.eval.loss)}</dd>
        <dt>Top-1 / top-3</dt>
        <dd>
          {formatPercent(metrics?.eval.top1)} / {formatPercent(metrics?.eval.top3)}
        </dd>
        <dt>Privacy</dt>
        <dd>
          {privacy.mode}, C = {formatNumber(privacy.clipNorm)}, σ = {formatNumber(privacy.noiseMultiplier)}
          {privacy.recordedNoiseMultiplier !== null && ` (recorded σ ${formatNumber(privacy.recordedNoiseMultiplier)})`}, q ={' '}
          {formatNumber(privacy.samplingRate, 4)}
          {privacy.mode !== 'off' && `, c = ${privacy.colluders ?? 0} (ε assumes at most that many fake or colluding reports)`}
          {privacy.noise === 'discrete' && ', discrete noise'}
        </dd>
        <dt>ε after this round</dt>
        <dd>
          {formatNumber(privacy.epsilon)} at δ = {privacy.delta.toExponential(0)}
        </dd>
        <dt>Secure aggregation</dt>
        <dd>
          {secagg.graph} graph, degree {secagg.degree}, threshold {secagg.threshold}, {secagg.modulusBits}-bit, {secagg.vectorLength.toLocaleString()} values
        </dd>
        <dt>Bytes</dt>
        <dd>
          {formatBytes(report.bytes.received)} received, {formatBytes(report.bytes.sent)} sent
        </dd>
        <dt>Phase durations</dt>
        <dd>
          {Object.entries(report.durationsMs)
            .map(([phase, ms]) => `${phase} ${formatSeconds(ms / 1000)}`)
            .join(', ') || '–'}
        </dd>
        <dt>Backends</dt>
        <dd>
          {Object.entries(report.backends)
            .map(([name, clients]) => `${name} ${clients}`)
            .join(', ') || '–'}
        </dd>
      </dl>
    </>
  );
}
