import { abortableSignal } from './abort.js';

/**
 * Time as policies see it. Policies take a `clock` option so tests can drive time by hand (see the
 * testkit's `fakeClock()`) instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since the epoch, like `Date.now()`. */
  now(): number;
  /**
   * Resolves after `ms` milliseconds, or rejects with `signal.reason` as soon as `signal` aborts.
   * Leaves no timer or listener behind either way.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock: `Date.now()` and `setTimeout`. */
export const systemClock: Clock = {
  now: readSystemClock,
  sleep(ms: number, given?: AbortSignal): Promise<void> {
    // No listener on a signal that can never abort (see `abortableSignal`).
    const signal = abortableSignal(given);
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  },
};

// --- a cheaper, slightly late reading of the system clock ---------------------------------------
//
// On a 2-core Xeon VM with Node 20.20 a `Date.now()` costs 45–50 ns (`clock_gettime` plus V8
// boxing the result), as do `performance.now()` and `process.hrtime()`: the start time of a retry
// and the bucket of a breaker's success were two of them, ~100 ns of the README pipeline's
// ~550 ns per call (CPU time of 200,000 awaited calls, median of nine alternating rounds). Those
// two only place a call in a window or start an elapsed time, so they take `coarseNow()`: the last
// reading of the system clock, reused for at most `COARSE_READS` reads and `COARSE_MS`.

/** How many reads may reuse one reading of the system clock. */
const COARSE_READS = 16;
/** How long a reading may be reused, in milliseconds (while timers run on time). */
const COARSE_MS = 1;
/**
 * `Date.now` and `setTimeout` as this module found them: a test that fakes them (vitest's or
 * sinon's fake timers) gets exact readings, and the expiry timer stays a real one.
 */
const nativeDateNow = Date.now;
const nativeSetTimeout = globalThis.setTimeout;

let lastReading = 0;
let readingsLeft = 0;
let expiry: ReturnType<typeof setTimeout> | undefined;
let expiryArmed = false;

/**
 * `Date.now()`, remembered for {@link coarseNow}: every read of {@link systemClock} is one. Arms
 * nothing: a policy that only ever reads the clock exactly (a rate limiter) fires no timer.
 */
function readSystemClock(): number {
  const now = Date.now();
  lastReading = now;
  readingsLeft = COARSE_READS;
  return now;
}

/** Ends the reuse of readings `COARSE_MS` from now (one unref'd timer, re-armed). */
function armExpiry(): void {
  expiryArmed = true;
  if (expiry === undefined) {
    expiry = nativeSetTimeout(expireReading, COARSE_MS);
    // Never keeps the process alive.
    expiry.unref?.();
  } else {
    expiry.refresh();
  }
}

function expireReading(): void {
  expiryArmed = false;
  readingsLeft = 0;
}

/**
 * `clock.now()`, cheaper for the system clock: its last reading, when that was taken less than
 * 1 ms ago (while the event loop runs timers on time) and fewer than 16 reads ago; a fresh one
 * otherwise. Never earlier than a reading of `systemClock.now()` taken before it, so times a
 * policy reads stay in order. For times that place an event in a window or start an elapsed time,
 * where a millisecond late is immaterial, not for deadlines or rate decisions.
 */
export function coarseNow(clock: Clock): number {
  if (clock !== systemClock || Date.now !== nativeDateNow) return clock.now();
  // A reading is reused only while the expiry armed by a coarse read before it has not fired.
  if (expiryArmed && readingsLeft > 0) {
    readingsLeft--;
    return lastReading;
  }
  if (!expiryArmed) armExpiry();
  return readSystemClock();
}
