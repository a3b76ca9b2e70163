import { describe, expect, it } from 'vitest';
import { ParticipationBook, PhasePace } from './participation';

const POLICY = { silenceBenchMs: 60_000, maxBenchMs: 600_000, rejectedRoundsToBench: 3 };

function book() {
  let now = 1_000_000;
  const participation = new ParticipationBook(POLICY, () => now);
  return { participation, advance: (ms: number) => (now += ms) };
}

describe('ParticipationBook', () => {
  it('benches a silent token, doubling with each repeat up to the cap, and says why', () => {
    const { participation, advance } = book();
    expect(participation.bench('a').remainingMs).toBe(0);
    participation.silent('a', 'advertiseKeys');
    expect(participation.bench('a')).toEqual({ remainingMs: 60_000, why: 'selected and silent in advertiseKeys' });
    advance(60_000);
    expect(participation.bench('a').remainingMs).toBe(0);
    participation.silent('a', 'shareKeys');
    expect(participation.bench('a').remainingMs).toBe(120_000);
    for (let i = 0; i < 10; i++) participation.silent('a', 'shareKeys');
    expect(participation.bench('a').remainingMs).toBe(600_000);
    expect(participation.bench('b').remainingMs).toBe(0);
  });

  it('benches after the configured rejected sums in a row; a committed round in between resets the streak', () => {
    const { participation } = book();
    participation.rejected('honest');
    participation.rejected('honest');
    participation.completed('honest');
    participation.rejected('honest');
    participation.rejected('honest');
    expect(participation.bench('honest').remainingMs).toBe(0);
    for (let i = 0; i < 3; i++) participation.rejected('poisoner');
    expect(participation.bench('poisoner')).toEqual({ remainingMs: 60_000, why: 'in 3 rejected sums in a row' });
  });

  it('benches a token that comes back from the bench into another rejected sum at once, for twice as long', () => {
    const { participation, advance } = book();
    for (let i = 0; i < 3; i++) participation.rejected('poisoner');
    advance(60_000);
    participation.rejected('poisoner');
    expect(participation.bench('poisoner')).toEqual({ remainingMs: 120_000, why: 'in a rejected sum again since sitting out' });
  });

  it('a committed round takes a strike off, so an honest device that once dropped out recovers its standing', () => {
    const { participation, advance } = book();
    participation.silent('a', 'maskedInput');
    advance(60_000);
    participation.completed('a');
    participation.silent('a', 'maskedInput');
    expect(participation.bench('a').remainingMs).toBe(60_000);
  });
});

describe('PhasePace', () => {
  const policy = { enabled: true, multiplier: 2, slackMs: 1_000, minSamples: 4, window: 8 };

  it('keeps the configured deadline until enough answers were seen, then 2 × p90 + slack under that ceiling', () => {
    const pace = new PhasePace(policy);
    for (const ms of [100, 200, 300]) pace.record('advertiseKeys', ms);
    expect(pace.deadlineMs('advertiseKeys', 60_000)).toBe(60_000);
    pace.record('advertiseKeys', 400);
    // p90 of [100, 200, 300, 400] is the 4th value (⌈0.9·4⌉ = 4): 2 × 400 + 1,000.
    expect(pace.deadlineMs('advertiseKeys', 60_000)).toBe(1_800);
    expect(pace.deadlineMs('advertiseKeys', 1_500)).toBe(1_500);
    expect(pace.deadlineMs('shareKeys', 15_000)).toBe(15_000);
  });

  it('forgets answers older than its window, and does nothing when disabled', () => {
    const pace = new PhasePace(policy);
    for (let i = 0; i < 8; i++) pace.record('unmasking', 10_000);
    for (let i = 0; i < 8; i++) pace.record('unmasking', 50);
    expect(pace.deadlineMs('unmasking', 60_000)).toBe(1_100);
    const off = new PhasePace({ ...policy, enabled: false });
    for (let i = 0; i < 8; i++) off.record('unmasking', 50);
    expect(off.deadlineMs('unmasking', 60_000)).toBe(60_000);
  });
});
