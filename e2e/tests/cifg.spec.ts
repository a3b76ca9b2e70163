import { test, expect, waitForReady, QA_QUERY } from './fixtures';

// What `npm start` serves: the CIFG-LSTM over the 10,004-word vocabulary (a 5 MB payload), trained
// with the aggregator's default plan (a loss at every position of non-overlapping windows).
test.use({ model: 'cifg' });

test('the default CIFG model: the page downloads it, suggests with it, trains it at every position in a round and takes the next version @full', async ({
  page,
  aggregator,
  virtualClients,
}) => {
  // Calibrating four backends on a 1.27M-parameter model is slow on software WebGPU/WebGL.
  test.setTimeout(420_000);
  await virtualClients(2);
  await page.goto(`${aggregator.url}/?seed=0&${QA_QUERY}`);
  await waitForReady(page);
  await expect(page.getByTestId('model-version')).toContainText('model v0 (1,266,068 parameters');
  const probe = 'Gentlemen of the Senate and of the ';
  await page.getByTestId('composer').fill(probe);
  await expect(page.getByTestId('suggestion-strip')).toHaveAttribute('data-for', probe);
  await expect(page.getByTestId('suggestion')).toHaveCount(3);
  await page.getByTestId('composer').fill('');

  await page.getByRole('link', { name: 'Privacy' }).click();
  await page.getByTestId('consent').check();
  await expect(page.getByTestId('contribution-row').first()).toContainText('contributed', { timeout: 240_000 });
  // The round's exact counts are withheld from /api/rounds under privacy noise: the aggregator's own record in its data directory.
  const report = aggregator.storedRounds().find((r) => r.status === 'committed');
  if (!report) throw new Error('no committed round in the data directory');
  expect(report.cohort.masked).toBe(3);
  // 1,266,068 weights and 6 metrics, 32-bit words: the page's masked input went through whole.
  expect(report.secagg.vectorLength).toBe(1_266_068 + 6);
  expect(report.bytes.received).toBeGreaterThan(3 * 1_266_068 * 4);
  await expect(page.getByTestId('model-version')).not.toContainText('model v0 ', { timeout: 60_000 });
  await expect(page.getByTestId('model-version')).toContainText('1,266,068 parameters, network');
});
