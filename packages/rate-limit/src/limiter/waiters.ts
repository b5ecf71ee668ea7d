/**
 * First-come, first-served turns per key for `acquire()`. Only the waiter at the head of a key's
 * line talks to the store; the others wait for it. Without this, every waiter would wake at the
 * same `retryAfterMs`, all ask the store, and all but one be denied again: one round trip per
 * waiter per admission instead of one per admission.
 */
import { type Clock, expectNonNegative, raceAbort } from '@breakwater/core';
import type { CompiledLimit } from '../algorithms/limit.js';
import type { RateLimitDecision } from '../decision.js';
import { RateLimitedError } from '../errors.js';
import type { LimiterTelemetry } from '../telemetry.js';

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

/** What `acquire()` (and `execute()` with `maxWaitMs`) needs from its limiter. */
export interface WaitContext {
  readonly name: string;
  readonly lines: WaitLines;
  readonly clock: Clock;
  readonly telemetry: LimiterTelemetry;
  /** One decision (`limit()`'s path), arguments validated. */
  readonly decide: (
    key: string,
    cost: number,
    signal: AbortSignal | undefined,
  ) => Promise<RateLimitDecision>;
  /** The refusal of a denied decision. */
  readonly rejection: (decision: RateLimitDecision, message?: string) => RateLimitedError;
  /** The first limit `key` is known to have, for a refusal made before any decision. */
  readonly firstLimit: (key: string) => CompiledLimit;
}

/**
 * Waits in the key's line, then until the store admits `cost` (sleeping `retryAfterMs` between
 * decisions, never polling), at most `maxWaitMs` in all.
 * @throws {RateLimitedError} when the wait would exceed `maxWaitMs`, or the key has no valid limits.
 */
export async function waitForAdmission(
  context: WaitContext,
  key: string,
  cost: number,
  maxWaitMs: number,
  signal: AbortSignal | undefined,
): Promise<RateLimitDecision> {
  signal?.throwIfAborted();
  const { clock } = context;
  const started = clock.now();
  const turn = context.lines.join(key);
  let outcome: 'acquired' | 'rejected' | 'aborted' = 'aborted';
  try {
    if (!turn.first && !(await waitForTurn(turn.ready, maxWaitMs, signal, clock))) {
      throw turnTimedOut(context, key, maxWaitMs);
    }
    for (;;) {
      const decision = await context.decide(key, cost, signal);
      const waited = clock.now() - started;
      if (decision.allowed) {
        outcome = 'acquired';
        return decision;
      }
      // A key without valid limits gets none by waiting: refused at once.
      if (waited + decision.retryAfterMs > maxWaitMs || decision.error !== undefined) {
        throw context.rejection(decision);
      }
      await clock.sleep(decision.retryAfterMs, signal);
    }
  } catch (error) {
    if (error instanceof RateLimitedError) outcome = 'rejected';
    throw error;
  } finally {
    turn.leave();
    context.telemetry.wait(Math.max(0, clock.now() - started) / 1000, outcome);
  }
}

/** The refusal of a waiter whose earlier waiters were still in line when `maxWaitMs` ran out. */
function turnTimedOut(context: WaitContext, key: string, maxWaitMs: number): RateLimitedError {
  const first = context.firstLimit(key);
  return context.rejection(
    {
      allowed: false,
      limit: first.limit,
      intervalMs: first.intervalMs,
      remaining: 0,
      retryAfterMs: Math.max(1, Math.ceil(first.emissionMs)),
      resetAfterMs: 0,
      source: 'local-cache',
    },
    `Rate limit "${context.name}": earlier callers of the key were still waiting after ${maxWaitMs} ms`,
  );
}
