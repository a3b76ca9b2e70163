import type { Page } from '@playwright/test';
import { readContributions } from '../sim/device';
import { core } from '../sim/core';
import { test, expect, waitForReady, roundReportSchema, QA_QUERY, type AggregatorHandle } from './fixtures';

async function committedRounds(page: Page, aggregator: AggregatorHandle) {
  const body = (await (await page.request.get(`${aggregator.url}/api/rounds?limit=100`)).json()) as { rounds: unknown[] };
  return body.rounds.map((r) => roundReportSchema.parse(r)).filter((r) => r.status === 'committed');
}

test('without consent a page never contributes: its log stays empty and the aggregator never sees it check in', async ({
  page,
  aggregator,
  virtualClients,
}) => {
  await page.goto(`${aggregator.url}/?seed=3&${QA_QUERY}`);
  await waitForReady(page);
  await expect(page.getByTestId('examples')).not.toHaveText(/^0 examples/);
  await virtualClients(3);
  // Two rounds the page could have joined had it consented (it has examples and is idle at once).
  await expect.poll(async () => (await committedRounds(page, aggregator)).length, { timeout: 120_000 }).toBeGreaterThanOrEqual(2);

  await expect(page.getByTestId('eligibility')).toHaveAttribute('data-state', 'off');
  await expect(page.getByTestId('participation')).toHaveAttribute('data-connection', 'off');
  await page.getByRole('link', { name: 'Privacy' }).click();
  await expect(page.getByTestId('no-contributions')).toBeVisible();
  expect(await readContributions(page)).toEqual([]);
  // The aggregator's side: only the three virtual clients ever checked in or connected.
  for (const round of await committedRounds(page, aggregator)) expect(round.cohort.eligible, `round ${round.round}`).toBe(3);
  const status = (await (await page.request.get(`${aggregator.url}/api/status`)).json()) as { connectedClients: number };
  expect(status.connectedClients).toBe(3);
});

/** What a raw Socket.IO client in the page got back for each malformed event it sent. */
interface RawSession {
  welcome: boolean;
  errors: { code: string; event: string | null; message: string }[];
  open: boolean;
}

test('a page sending malformed updates is refused with protocol errors while the other clients commit rounds', async ({ page, aggregator, virtualClients }) => {
  const pool = await virtualClients(3);
  await page.goto(`${aggregator.url}/favicon.svg`);
  // A hand-written Socket.IO v4 client (Engine.IO over a WebSocket) in real Chromium: it connects
  // with a valid handshake (a device enrolled here, its fresh proof of possession signed here),
  // then sends what no honest client would.
  const device = await core.enrollDevice({ baseUrl: aggregator.url });
  const proof = await core.signHandshakeProof(device.privateKey, device.certificate, Date.now());
  const session = await page.evaluate(
    async ({ auth }) => {
      const ws = new WebSocket(`ws://${location.host}/socket.io/?EIO=4&transport=websocket`);
      const result: RawSession = { welcome: false, errors: [], open: false };
      const malformed = [
        // A masked input as a JSON array of numbers instead of a packed binary frame.
        '42["secagg",{"type":"maskedInput","roundId":"r-1","vector":[1,2,3]}]',
        // A check-in that carries an example count (protocol 7's field; the size of a person's text stays on the device now).
        '42["checkIn",{"eligibility":{"consent":true,"exampleCount":120,"backend":"wasm"}}]',
        // An event the protocol does not have.
        '42["gradient",{"weights":[0.1,0.2]}]',
      ];
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer to every malformed event: ${JSON.stringify(result)}`)), 20_000);
        ws.onmessage = (message) => {
          const data = String(message.data);
          if (data.startsWith('0')) ws.send(`40${JSON.stringify(auth)}`);
          else if (data === '2') ws.send('3');
          else if (data.startsWith('42')) {
            const [event, payload] = JSON.parse(data.slice(2)) as [string, { code: string; event?: string; message: string }];
            if (event === 'welcome') {
              result.welcome = true;
              for (const frame of malformed) ws.send(frame);
            }
            if (event === 'protocolError') result.errors.push({ code: payload.code, event: payload.event ?? null, message: payload.message });
            if (result.errors.length === malformed.length) {
              clearTimeout(timer);
              result.open = ws.readyState === WebSocket.OPEN;
              resolve();
            }
          }
        };
        ws.onerror = () => reject(new Error('the WebSocket failed'));
      });
      ws.close();
      return result;
    },
    { auth: { protocolVersion: core.PROTOCOL_VERSION, certificate: device.certificate, proof } },
  );
  expect(session.welcome).toBe(true);
  // Unknown events are refused before any parsing, so they may answer first: compare as a set.
  expect(session.errors.map((e) => `${e.event}: ${e.code}`).sort()).toEqual(['checkIn: MALFORMED', 'gradient: UNKNOWN_EVENT', 'secagg: MALFORMED']);
  // Refused, not disconnected: one bad frame does not cost an honest client on the same link its session.
  expect(session.open).toBe(true);
  const refusedAt = Date.now();

  // The others are unaffected: the next round commits with all three virtual clients in the sum.
  await expect
    .poll(
      async () => {
        // The number in the sum is withheld from /api/rounds under privacy noise: read the aggregator's record of each committed round.
        const committed = await committedRounds(page, aggregator);
        return committed.some((r) => Date.parse(r.startedAt) > refusedAt && aggregator.storedRound(r.round).cohort.masked === 3);
      },
      { timeout: 120_000 },
    )
    .toBe(true);
  const metrics = await (await page.request.get(`${aggregator.url}/metrics`)).text();
  expect(Number(/murmur_protocol_errors_total\{code="MALFORMED"\} (\d+)/.exec(metrics)?.[1] ?? 0)).toBeGreaterThanOrEqual(2);
  expect(pool.clients.every((c) => c.socket.connected)).toBe(true);
});
