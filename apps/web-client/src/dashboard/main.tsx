import { StrictMode } from 'react';
import { z } from 'zod';
import { createRoot } from 'react-dom/client';
import { DashboardPage } from './DashboardPage';
import '../styles.css';

/**
 * The operator's page (dashboard.html, served at /dashboard): the round dashboard alone. It imports
 * nothing of the participant app's runtime, so opening it creates no IndexedDB database, no
 * training worker and no service worker, downloads no model and calibrates no backend
 * (vite.config.ts fails the build otherwise).
 */

// The aggregator's CSP allows no eval: zod would probe `new Function` once and report a violation.
z.config({ jitless: true });

const root = document.getElementById('root');
if (!root) throw new Error('dashboard.html has no #root element');
createRoot(root).render(
  <StrictMode>
    <div className="app wide">
      <main>
        <DashboardPage />
      </main>
    </div>
  </StrictMode>,
);
