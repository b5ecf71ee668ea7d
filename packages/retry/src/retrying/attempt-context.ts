/**
 * What an attempt receives, `{ signal, attempt }`, without creating a signal the attempt does not
 * read. Retries never abort an attempt themselves, so the attempt's signal is the caller's: given
 * an eager signal (or none), the context carries it as a value; inside a pipeline, where the
 * caller is an outer policy's lazy context, the context shares that policy's
 * `LazyAbortController`, and the signal is only created if `fn` reads `ctx.signal`. Measured on
 * Node 20.20 (2-core VM) in the `pipeline/five-strategies` bench suite, where a retry inside a
 * timeout read its signal on every call: the first read of an `AbortController#signal` costs
 * about 4 µs there, and the pipeline went from +14.3 µs to +1.75 µs per call once the retry and
 * the breaker stopped reading it.
 */
import {
  type LazyAbortController,
  LazyExecutionContext,
  neverAbortedSignal,
} from '@breakwater/core';
import type { RetryContext } from '../retry.js';

/**
 * Whom a call follows for aborts: the caller's signal, or the lazy controller of the policy around
 * it. Both say `aborted` and `reason` without creating anything.
 */
export type CallerAbort = AbortSignal | LazyAbortController;

/** An attempt's context inside a pipeline: `attempt` on the instance, a lazy `signal` on the prototype. */
class LazyAttemptContext extends LazyExecutionContext implements RetryContext {
  readonly attempt: number;

  constructor(controller: LazyAbortController, attempt: number) {
    super(controller);
    this.attempt = attempt;
  }
}

/** The context of attempt number `attempt`. */
export function attemptContext(
  caller: CallerAbort | undefined,
  lazyParent: LazyAbortController | undefined,
  attempt: number,
): RetryContext {
  if (lazyParent !== undefined) return new LazyAttemptContext(lazyParent, attempt);
  return { signal: (caller as AbortSignal | undefined) ?? neverAbortedSignal(), attempt };
}

/**
 * The signal a backoff wait or a budget request listens to. A lazy caller's signal is created
 * here: a wait arms a timer anyway (and a budget request may go to a store), so the signal costs
 * little next to it, and both take an `AbortSignal` (a user's `Clock` or budget may be given one).
 */
export function waitSignalOf(
  caller: CallerAbort | undefined,
  lazyParent: LazyAbortController | undefined,
): AbortSignal | undefined {
  return lazyParent !== undefined ? lazyParent.signal : (caller as AbortSignal | undefined);
}
