import { existsSync } from 'node:fs';
import type { LaunchOptions } from '@playwright/test';

/**
 * How Murmur launches headless Chromium, for the Playwright specs and the browser benchmarks alike.
 * Playwright cannot download its browsers here: use Debian's Chromium (CHROMIUM_PATH, default
 * /usr/bin/chromium) and fall back to Playwright's own where that is missing (a developer machine).
 */
export function chromiumLaunchOptions(): LaunchOptions {
  const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  return {
    ...(existsSync(chromiumPath) ? { executablePath: chromiumPath } : {}),
    args: [
      '--no-sandbox',
      // Without these Chromium floods the closed network with refused connections.
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
      // Exposes the software WebGPU adapter where there is no GPU, so the WebGPU path is exercised.
      '--enable-unsafe-webgpu',
    ],
  };
}
