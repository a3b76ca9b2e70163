import { StrictMode } from 'react';
import { z } from 'zod';
import { createRoot } from 'react-dom/client';
import { issuerFromText, type EnrollmentIssuer } from '@murmur/fl-core/identity';
import { enrollmentIssuerSchema } from '@murmur/fl-core/protocol';
import { registerSW } from 'virtual:pwa-register';
import { App, leaveForDashboard } from './App';
import { MurmurRuntime } from './runtime';
import { RuntimeContext } from './ui/use-runtime';
import { DEFAULT_POLICY, type ParticipationPolicy } from './scheduler/eligibility';
import './styles.css';

// The aggregator's CSP allows no eval: zod would probe `new Function` once and report a violation.
z.config({ jitless: true });

const params = new URLSearchParams(window.location.search);
/** QA knobs in the query string: only ever make this device more willing to train, never less private. */
const numberParam = (name: string, fallback: number) => {
  const value = params.get(name);
  return value !== null && /^\d+$/.test(value) ? Number(value) : fallback;
};
const policy: ParticipationPolicy = {
  ...DEFAULT_POLICY,
  minExamples: numberParam('minExamples', DEFAULT_POLICY.minExamples),
  idleMs: numberParam('idleMs', DEFAULT_POLICY.idleMs),
};

/**
 * The enrollment service this build trusts, when the deployment names it at build time:
 * VITE_ENROLLMENT_ISSUER is the service's issuer.json ({ name, publicKey }). Without it the device
 * trusts the issuer of its first enrollment (TOFU; docs/web-client.md).
 */
function configuredIssuer(): EnrollmentIssuer | null {
  const raw = import.meta.env.VITE_ENROLLMENT_ISSUER as string | undefined;
  if (!raw) return null;
  const parsed = enrollmentIssuerSchema.safeParse(JSON.parse(raw));
  if (!parsed.success) throw new Error(`VITE_ENROLLMENT_ISSUER: expected the enrollment service's issuer.json: ${parsed.error.message}`);
  return issuerFromText(parsed.data);
}

/** The participant app: the runtime (IndexedDB, the training worker, the model), its service worker and the UI. */
function startApp(): void {
  const runtime = new MurmurRuntime({
    origin: window.location.origin,
    seed: params.get('seed'),
    policy,
    defaultConsent: import.meta.env.VITE_DEMO_CONSENT === 'true',
    calibration: {
      candidates: ['webgpu', 'webgl', 'wasm', 'cpu'],
      batches: numberParam('calibrationBatches', 3),
      batchSize: 32,
      budgetMsPerBackend: 4_000,
    },
    modelRefreshMs: numberParam('modelRefreshMs', 60_000),
    enrollment: { baseUrl: (import.meta.env.VITE_ENROLLMENT_URL as string | undefined) ?? window.location.origin, issuer: configuredIssuer() },
    createWorker: () => new Worker(new URL('./worker/training.worker.ts', import.meta.url), { type: 'module', name: 'murmur-training' }),
  });

  registerSW({ immediate: true });
  void runtime.start();

  const root = document.getElementById('root');
  if (!root) throw new Error('index.html has no #root element');
  createRoot(root).render(
    <StrictMode>
      <RuntimeContext.Provider value={runtime}>
        <App />
      </RuntimeContext.Provider>
    </StrictMode>,
  );
}

if (!leaveForDashboard(window.location)) startApp();
