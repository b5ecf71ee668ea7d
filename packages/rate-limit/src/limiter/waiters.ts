/**
 * First-come, first-served turns per key for `acquire()`. Only the waiter at the head of a key's
 * line talks to the store; the others wait for it. Without this, every waiter would wake at the
 * same `retryAfterMs`, all ask the store, and all but one be denied again: one round trip per
 * waiter per admission instead of one per admission.
 */
import { type Clock, expectNonNegative, raceAbort } from '@breakwater/core';

/** A place in a key's line. */
export interface Turn {
  /** Resolves when every earlier waiter of the key has left. */
  readonly ready: Promise<void>;
  /** Whether nobody was in line: the turn is there at once. */
  readonly first: boolean;
  /** Leaves the line (admitted, rejected or aborted); the next waiter gets its turn. */
  leave(): void;
}

const NOW: Promise<void> = Promise.resolve();

/** The lines of all keys of one limiter. */
export class WaitLines {
  /** Per key, a promise that resolves once the last waiter in line has left. */
  private readonly tails = new Map<string, Promise<void>>();

  /** Joins the line of `key`. */
  join(key: string): Turn {
    const previous = this.tails.get(key);
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    // Leaving early (an abort) must not let the waiters behind jump the ones in front.
    const tail = previous === undefined ? mine : previous.then(() => mine);
    this.tails.set(key, tail);
    return {
      ready: previous ?? NOW,
      first: previous === undefined,
      leave: () => {
        release();
        if (this.tails.get(key) === tail) this.tails.delete(key);
      },
    };
  }
}

/**
 * Waits for `ready` (the earlier waiters of a key leaving), at most `maxWaitMs`. Resolves `true`
 * when the turn came, `false` when the time ran out; rejects with the reason of `signal`.
 */
export async function waitForTurn(
  ready: Promise<void>,
  maxWaitMs: number,
  signal: AbortSignal | undefined,
  clock: Clock,
): Promise<boolean> {
  if (maxWaitMs === Number.POSITIVE_INFINITY) {
    await raceAbort(ready, signal);
    return true;
  }
  const timer = new AbortController();
  const onAbort = () => timer.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  let timedOut = false;
  try {
    await Promise.race([
      ready,
      clock.sleep(maxWaitMs, timer.signal).then(() => {
        timedOut = true;
      }),
    ]);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    timer.abort();
  }
  signal?.throwIfAborted();
  return !timedOut;
}

/** Validates `maxWaitMs` of `acquire()`: ≥ 0 or `Infinity`; `fallback` when not given. */
export function expectMaxWait(value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (value === Number.POSITIVE_INFINITY) return value;
  return expectNonNegative('maxWaitMs', value);
}
