import type { Page } from '@playwright/test';
import { core } from '../sim/core';
import { test, expect, waitForReady, roundReportSchema, QA_QUERY, type AggregatorHandle } from './fixtures';

/** What the page's IndexedDB holds as its identity, read in the page (the key itself stays there). */
interface StoredIdentity {
  clientId: string;
  certificate: string;
  isCryptoKey: boolean;
  extractable: boolean;
  type: string;
  algorithm: string;
  usages: string[];
  exportRefused: boolean;
  signs: boolean;
}

function readIdentity(page: Page): Promise<StoredIdentity | null> {
  return page.evaluate(async () => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const open = indexedDB.open('murmur');
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
    });
    try {
      if (!db.objectStoreNames.contains('identity')) return null;
      const record = await new Promise<Record<string, unknown> | undefined>((resolve, reject) => {
        const request = db.transaction('identity').objectStore('identity').get('device');
        request.onsuccess = () => resolve(request.result as Record<string, unknown> | undefined);
        request.onerror = () => reject(request.error);
      });
      if (!record) return null;
      const key = record.privateKey as CryptoKey;
      let exportRefused = false;
      try {
        await crypto.subtle.exportKey('pkcs8', key);
      } catch {
        exportRefused = true;
      }
      const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key, new TextEncoder().encode('probe'));
      return {
        clientId: String(record.clientId),
        certificate: String(record.certificate),
        isCryptoKey: key instanceof CryptoKey,
        extractable: key.extractable,
        type: key.type,
        algorithm: `${key.algorithm.name}/${(key.algorithm as { namedCurve?: string }).namedCurve ?? ''}`,
        usages: [...key.usages],
        exportRefused,
        signs: signature.byteLength === 64,
      };
    } finally {
      db.close();
    }
  });
}

async function committedWith(page: Page, aggregator: AggregatorHandle, after: number) {
  // /api/rounds withholds exact counts under privacy noise: the number unmasked is the aggregator's own record.
  const published = (await (await page.request.get(`${aggregator.url}/api/rounds?limit=100`)).json()) as { rounds: unknown[] };
  const finished = new Set(published.rounds.map((r) => roundReportSchema.parse(r).round));
  return (
    aggregator
      .storedRounds()
      .filter((r) => finished.has(r.round))
      .filter((r) => r.status === 'committed' && r.cohort.unmasked >= 3 && Date.parse(r.startedAt) > after)
      // Signed identities: only an authenticated round (signed key advertisements, signed masking
      // claims) runs Round 3, ConsistencyCheck, and so has a duration for it.
      .filter((r) => r.durationsMs.consistencyCheck !== undefined)
  );
}

for (const device of [
  { name: 'desktop', viewport: { width: 1280, height: 800 } },
  { name: 'phone', viewport: { width: 390, height: 844 } },
]) {
  test.describe(`device identity (${device.name}, ${device.viewport.width}×${device.viewport.height})`, () => {
    test.use({ viewport: device.viewport });

    test('enrolls with a non-extractable key, keeps its client id across a reload, contributes to a committed round, and is cut off when revoked', async ({
      page,
      aggregator,
      virtualClients,
    }) => {
      await virtualClients(2);
      await page.goto(`${aggregator.url}/?seed=1&${QA_QUERY}`);
      await waitForReady(page);
      // No identity before consent: enrolling is part of offering to train.
      expect(await readIdentity(page)).toBeNull();
      await page.getByRole('link', { name: 'Privacy' }).click();
      const consentedAt = Date.now();
      await page.getByTestId('consent').check();
      await expect(page.getByTestId('participation')).toHaveAttribute('data-connection', 'connected');

      const first = await readIdentity(page);
      expect(first).toMatchObject({
        isCryptoKey: true,
        extractable: false,
        type: 'private',
        algorithm: 'ECDSA/P-256',
        usages: ['sign'],
        exportRefused: true,
        signs: true,
      });
      // Certified by the enrollment service whose public key the aggregator holds, for this client id.
      const claims = await core.verifyCertificate(first!.certificate, aggregator.running.issuer, Date.now());
      expect(claims.clientId).toBe(first!.clientId);

      await expect(page.getByTestId('contribution-row').first()).toContainText('contributed', { timeout: 120_000 });
      await expect.poll(async () => (await committedWith(page, aggregator, consentedAt)).length, { timeout: 60_000 }).toBeGreaterThan(0);
      await expect(page.getByTestId('storage-identity')).toContainText(aggregator.running.issuer.name);

      await page.reload();
      await waitForReady(page);
      await expect(page.getByTestId('participation')).toHaveAttribute('data-connection', 'connected');
      const again = await readIdentity(page);
      expect(again?.clientId).toBe(first!.clientId);
      expect(again?.certificate).toBe(first!.certificate);

      // The aggregator knows the browser by its certificate's client id: revoking it cuts this page off.
      const revoked = await page.request.post(`${aggregator.url}/api/admin/revoke`, {
        headers: { authorization: `Bearer ${aggregator.running.adminToken}` },
        data: { clientId: first!.clientId },
      });
      expect(revoked.status()).toBe(200);
      await expect(page.getByTestId('participation')).toHaveAttribute('data-connection', 'off', { timeout: 30_000 });
      expect((await readIdentity(page))?.clientId).toBe(first!.clientId);
    });
  });
}
