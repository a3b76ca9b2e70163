// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { contributionRecordSchema, participationRecordSchema, type ContributionRecord, type ParticipationRecord } from '../storage/schema';
import { FakeRuntime } from '../ui/fake-runtime';
import { RuntimeContext } from '../ui/use-runtime';
import { PrivacyPage } from './PrivacyPage';
import { epsilonStrength, PrivacyInPlainWords } from './PrivacyInPlainWords';

afterEach(cleanup);

const summary = { texts: 1, demoTexts: 0, characters: 1, examples: 60, models: [], contributions: 1, participations: 1, calibrations: 1, identity: null };

function contribution(at: number, epsilon: number | null): ContributionRecord {
  // Parsed, so the test cannot pass on a record the worker could never have logged.
  return contributionRecordSchema.parse({
    at,
    roundId: `r${at}`,
    modelVersion: 1,
    status: 'contributed',
    reason: null,
    bytesSent: 2048,
    bytesReceived: 1024,
    epsilon,
    delta: epsilon === null ? null : 1e-5,
    backend: 'wasm',
    durationMs: 1500,
    numExamples: 60,
  });
}

function participation(roundId: string, change: Partial<ParticipationRecord> = {}): ParticipationRecord {
  return participationRecordSchema.parse({
    roundId,
    round: 1,
    at: 1,
    mode: 'distributed',
    noiseMultiplier: 1,
    clipIndicatorNoiseStdDev: null,
    minSurvivors: 3,
    threshold: 3,
    colluders: 0,
    discrete: null,
    ...change,
  });
}

function renderPage(runtime: FakeRuntime) {
  render(
    <RuntimeContext.Provider value={runtime.asRuntime()}>
      <PrivacyPage />
    </RuntimeContext.Provider>,
  );
}

describe('the privacy page', () => {
  it('counts one note as "1 note", not "1 notes", and lists the rounds kept for the own ε', () => {
    renderPage(new FakeRuntime({ storage: summary }));
    const list = screen.getByTestId('storage-summary');
    expect(list.textContent).toContain('1 note (1 character)');
    expect(list.textContent).toContain('1 contribution log entry');
    expect(list.textContent).toContain('1 round recorded for your own ε');
    expect(list.textContent).not.toMatch(/1 notes|1 characters|1 contribution log entries|1 rounds/);
  });

  it("lists the data and battery choices and the month's upload count among what is stored", () => {
    const runtime = new FakeRuntime({ storage: summary });
    runtime.state.upload = { ...runtime.state.upload, usedBytes: 2_500_000 };
    renderPage(runtime);
    expect(screen.getByTestId('storage-controls').textContent).toMatch(/data and battery choices.*this month \(2\.5 MB;/);
  });

  it('says "off until you turn it on" only while it is off', () => {
    const runtime = new FakeRuntime();
    renderPage(runtime);
    expect(screen.getByTestId('consent-hint').textContent).toMatch(/^Off until you turn it on/);
    fireEvent.click(screen.getByTestId('consent'));
    expect(runtime.consentChanges).toEqual([true]);
    expect(screen.getByTestId('consent-hint').textContent).toMatch(/^On\./);
    expect(screen.getByTestId('consent-hint').textContent).not.toMatch(/Off until/);
  });

  it('explains why it waits without pointing to the page it is on', () => {
    renderPage(new FakeRuntime());
    expect(screen.getByTestId('eligibility-detail').textContent).not.toMatch(/Privacy page|^off:/);
  });

  it('explains the newest ε it was shown, as a population figure, and labels every log cell for the phone layout', () => {
    const runtime = new FakeRuntime({ contributions: [contribution(3, 2918), contribution(2, 2793)], storage: summary });
    renderPage(runtime);
    const current = screen.getByTestId('privacy-current-epsilon').textContent ?? '';
    expect(current).toContain('ε = 2,918');
    expect(current).toMatch(/practically no guarantee/);
    expect(current).toMatch(/one figure for everyone taking part/);
    expect(current).toMatch(/not calculated for this device/);
    for (const cell of within(screen.getByTestId('contribution-log')).getAllByRole('cell')) expect(cell.getAttribute('data-label')).toBeTruthy();
  });

  it("shows the person's own ε next to everyone's, each with the assumption it rests on", () => {
    const rounds = ['r1', 'r2', 'r3', 'r4'].map((id) => participation(id));
    const runtime = new FakeRuntime({ participations: rounds, contributions: [contribution(4, 0.8)], storage: summary });
    renderPage(runtime);
    // Four rounds of σ = 1 at t = k_min = 3: 27.8158 (fl-core device-epsilon.test.ts, from mpmath), shown as 28.
    const own = screen.getByTestId('own-epsilon').textContent ?? '';
    expect(own).toMatch(/^Your own guarantee: ε = 28 after 4 rounds you took part in \(δ = 1e-6\)/);
    expect(own).toContain('holds even if the Murmur server is dishonest');
    expect(own).toContain('assuming the other devices in each round are genuine');
    expect(own).toContain('including rounds that ended without a result');
    const population = screen.getByTestId('population-epsilon').textContent ?? '';
    expect(population).toMatch(/^Across everyone: ε = 0\.80 \(δ = 1e-5\)/);
    expect(population).toContain('assumes the server picks devices at random');
    expect(population).toContain('not from the server, which knows who took part');
    expect(within(screen.getByTestId('contribution-log')).getByRole('columnheader', { name: 'ε for everyone' })).toBeTruthy();
  });

  it("states the plan's colluder assumption when a round's plan tolerated more fakes than the device assumes", () => {
    // Three rounds of σ = 1, k_min = 6, c = 2, t = 5: 27.8159 (participation-record.test.ts, from mpmath), shown as 28.
    const rounds = ['r1', 'r2', 'r3'].map((id) => participation(id, { minSurvivors: 6, threshold: 5, colluders: 2 }));
    renderPage(new FakeRuntime({ participations: [participation('r0'), ...rounds], storage: summary }));
    const own = screen.getByTestId('own-epsilon').textContent ?? '';
    expect(own).toContain(
      "assuming at most as many of the other devices in each round are fake or work with the server as that round's plan allowed for (up to 2)",
    );
    expect(own).not.toContain('are genuine');
  });

  it('says plainly when there is no own ε to show yet, or no guarantee at all', () => {
    renderPage(new FakeRuntime());
    expect(screen.getByTestId('own-epsilon').textContent).toBe('Your own guarantee: ε = 0, as this device has not trained for any round yet.');
    expect(screen.getByTestId('population-epsilon').textContent).toMatch(/^Across everyone: not reported yet/);
    cleanup();
    renderPage(new FakeRuntime({ participations: [participation('r1'), participation('r2', { mode: 'off', noiseMultiplier: 0 })] }));
    expect(screen.getByTestId('own-epsilon').textContent).toMatch(/^Your own guarantee: none\. In 1 of the 2 rounds you took part in/);
  });

  it('names the rounds logged before the device kept its own count instead of silently leaving them out', () => {
    // r5 was recorded; r3 was logged as contributed before participations were kept; r2 never trained.
    const contributions = [contribution(5, 1), contribution(3, 1), { ...contribution(2, null), status: 'aborted' as const }];
    renderPage(new FakeRuntime({ participations: [participation('r5')], contributions }));
    expect(screen.getByTestId('own-epsilon').textContent).toMatch(
      /after 1 round you took part in .* 1 round logged before this device kept its own count is not included\.$/,
    );
  });

  it('logs a refused round with its reasons in words', () => {
    const refused = contributionRecordSchema.parse({
      ...contribution(6, null),
      status: 'refused',
      reason: 'the server asked to train without any privacy noise (privacy mode off), which this device does not accept',
    });
    renderPage(new FakeRuntime({ contributions: [refused] }));
    expect(screen.getByTestId('contribution-row').textContent).toContain(
      'refused: the server asked to train without any privacy noise (privacy mode off), which this device does not accept',
    );
  });

  it('says there is no ε yet before any round reported one', () => {
    renderPage(new FakeRuntime({ contributions: [contribution(1, null)] }));
    expect(screen.getByTestId('privacy-current-epsilon').textContent).toMatch(/No ε has been reported yet/);
  });

  it('re-reads the consent switch when the runtime changes it', () => {
    const runtime = new FakeRuntime();
    renderPage(runtime);
    act(() => runtime.update({ settings: { consent: true, consentChangedAt: 5 } }));
    expect((screen.getByTestId('consent') as HTMLInputElement).checked).toBe(true);
  });
});

describe('privacy in plain words', () => {
  it('reads ε by the ranges the page states', () => {
    expect(epsilonStrength(0.5)).toBe('strong');
    expect(epsilonStrength(1)).toBe('strong');
    expect(epsilonStrength(8)).toBe('moderate');
    expect(epsilonStrength(10.01)).toBe('weak');
    expect(() => epsilonStrength(Number.NaN)).toThrow(/expected a finite ε ≥ 0, got NaN/);
  });

  it('says the budget is enforced, and how much of it is used', () => {
    render(<PrivacyInPlainWords epsilon={6} delta={1e-5} epsilonBudget={8} audience="operator" />);
    const budget = screen.getByTestId('privacy-budget').textContent ?? '';
    expect(budget).toContain('budget is 8.00 (75% used)');
    expect(budget).toMatch(/enforced: no round starts that would take ε past it/);
    expect(budget).not.toMatch(/not enforced/);
  });

  it('says when no budget is set, and does not pretend to know when the page cannot tell', () => {
    render(<PrivacyInPlainWords epsilon={null} delta={null} epsilonBudget={null} audience="operator" />);
    expect(screen.getByTestId('privacy-budget').textContent).toMatch(/No ε budget is set/);
    cleanup();
    render(<PrivacyInPlainWords epsilon={null} delta={null} audience="person" />);
    expect(screen.getByTestId('privacy-budget').textContent).toMatch(/may set an ε budget/);
  });

  it('names what ε does not cover: the server knows who took part, selection is not purely random, evaluation is not noised and not published', () => {
    render(<PrivacyInPlainWords epsilon={2} delta={1e-5} epsilonBudget={null} audience="person" />);
    const text = screen.getByTestId('privacy-plain-words').textContent ?? '';
    expect(text).toMatch(/server knows which devices took part/);
    expect(text).toMatch(/not purely random/);
    expect(text).toMatch(/get no noise/);
    expect(text).toMatch(/does not publish them/);
  });
});
