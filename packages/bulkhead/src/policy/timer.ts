/**
 * One-shot timers on a {@link Clock}. The system clock gets a bare `setTimeout` (no promise, no
 * AbortController); any other clock (a test's fake clock) is driven through its `sleep`.
 */
import { type Clock, systemClock } from '@breakwater/core';

/** Cancels a scheduled callback; calling it after the callback ran is harmless. */
export type CancelTimer = () => void;

const noop = (): void => {};

/** Runs `callback` after `ms` on `clock`; returns a function that cancels it. */
export function schedule(clock: Clock, ms: number, callback: () => void): CancelTimer {
  if (clock === systemClock) {
    const timer = setTimeout(callback, ms);
    return () => clearTimeout(timer);
  }
  const controller = new AbortController();
  clock.sleep(ms, controller.signal).then(callback, noop);
  return () => controller.abort();
}
