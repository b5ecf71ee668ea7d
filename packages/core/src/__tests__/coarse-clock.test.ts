/**
 * `coarseNow()`: the system clock's last reading, reused for at most 16 reads and while its 1 ms
 * expiry timer has not fired; exact for any other clock and when `Date.now` is faked.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Clock, coarseNow, systemClock } from '../index.js';

/** Spins (without reading `Date.now` through the system clock) until it passes `epochMs`. */
function spinPast(epochMs: number): void {
  while (Date.now() <= epochMs) {
    // busy: no timer can fire meanwhile
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

afterEach(() => {
  vi.useRealTimers();
});

describe('coarseNow()', () => {
  it('reuses the last reading of the system clock for at most 16 reads', () => {
    const read = coarseNow(systemClock);
    spinPast(read + 2);
    const reused = Array.from({ length: 16 }, () => coarseNow(systemClock));
    expect(reused).toEqual(Array(16).fill(read));
    // The 17th read takes a fresh reading, and the next ones reuse that.
    const fresh = coarseNow(systemClock);
    expect(fresh).toBeGreaterThan(read + 1);
    expect(coarseNow(systemClock)).toBe(fresh);
  });

  it('takes a fresh reading once its expiry timer has fired', async () => {
    const read = coarseNow(systemClock);
    await sleep(5);
    expect(coarseNow(systemClock)).toBeGreaterThanOrEqual(read + 4);
  });

  it('is never earlier than a reading of the system clock taken before it', () => {
    for (let i = 0; i < 1_000; i++) {
      const before = systemClock.now();
      expect(coarseNow(systemClock)).toBeGreaterThanOrEqual(before);
      expect(coarseNow(systemClock)).toBeLessThanOrEqual(Date.now());
    }
  });

  it('arms no timer for exact reads of the system clock, and reuses none without it', async () => {
    await sleep(5);
    const read = systemClock.now();
    spinPast(read + 2);
    // No coarse read armed the expiry since the last one fired: this one is fresh.
    expect(coarseNow(systemClock)).toBeGreaterThan(read + 1);
  });

  it('reads any other clock exactly', () => {
    let now = 1_000;
    const clock: Clock = { now: () => now++, sleep: () => Promise.resolve() };
    expect([coarseNow(clock), coarseNow(clock), coarseNow(clock)]).toEqual([1_000, 1_001, 1_002]);
  });

  it('reads a faked Date.now exactly (fake timers)', () => {
    systemClock.now();
    vi.useFakeTimers({ now: 5_000 });
    expect(coarseNow(systemClock)).toBe(5_000);
    vi.advanceTimersByTime(250);
    expect(coarseNow(systemClock)).toBe(5_250);
  });
});
