import { describe, expect, it } from 'vitest';
import { ConnectionCounter, CoolDown, KeyedRateLimiter } from './rate-limit';

describe('rate limits that outlive a connection', () => {
  it('keeps one bucket per key on an injected clock, and forgets the oldest key at the bound', () => {
    let t = 0;
    const limiter = new KeyedRateLimiter(2, 3, 2, () => t);
    expect([1, 2, 3, 4].map(() => limiter.take('a'))).toEqual([true, true, true, false]);
    // 500 ms at 2/s: one token back for 'a'; 'b' starts full.
    t = 500;
    expect([limiter.take('a'), limiter.take('a'), limiter.take('b')]).toEqual([true, false, true]);
    // A third key forgets 'a' (the oldest), which then starts afresh.
    limiter.take('c');
    expect([1, 2, 3].map(() => limiter.take('a'))).toEqual([true, true, true]);
  });

  it('shuts a key out for its duration, then lets it back', () => {
    let t = 1_000;
    const coolDown = new CoolDown(60_000, 10, () => t);
    expect(coolDown.remainingMs('token')).toBe(0);
    coolDown.start('token');
    t += 59_000;
    expect(coolDown.remainingMs('token')).toBe(1_000);
    expect(coolDown.remainingMs('other')).toBe(0);
    t += 1_000;
    expect(coolDown.remainingMs('token')).toBe(0);
  });

  it('holds at most maxKeys shut out, dropping the one closest to expiry', () => {
    let t = 0;
    const coolDown = new CoolDown(1_000, 2, () => t);
    coolDown.start('a');
    t = 10;
    coolDown.start('b');
    t = 20;
    coolDown.start('c');
    expect(['a', 'b', 'c'].map((k) => coolDown.remainingMs(k))).toEqual([0, 990, 1_000]);
    // Restarting a key moves it to the back.
    t = 30;
    coolDown.start('b');
    t = 40;
    coolDown.start('d');
    expect(['b', 'c', 'd'].map((k) => coolDown.remainingMs(k))).toEqual([990, 0, 1_000]);
  });

  it('counts open connections per key up to a cap; a slot comes back once, however often it is released', () => {
    const counter = new ConnectionCounter(2);
    const first = counter.acquire('10.0.0.1');
    const second = counter.acquire('10.0.0.1');
    expect(first && second).toBeTruthy();
    expect(counter.acquire('10.0.0.1')).toBeNull();
    expect(counter.acquire('10.0.0.2')).not.toBeNull();
    first?.();
    first?.();
    expect(counter.count('10.0.0.1')).toBe(1);
    const third = counter.acquire('10.0.0.1');
    expect(third).not.toBeNull();
    expect(counter.acquire('10.0.0.1')).toBeNull();
    second?.();
    third?.();
    expect(counter.count('10.0.0.1')).toBe(0);
  });
});
