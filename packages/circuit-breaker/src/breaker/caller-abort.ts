/**
 * Whom a breaker call follows for aborts, without creating a signal. Given an eager signal (the
 * caller's), the call listens to it; inside a pipeline, where the options are an outer policy's
 * lazy context, the call follows that policy's `LazyAbortController` through a callback, and the
 * signal `fn` receives is created only if `fn` reads `ctx.signal`. Measured on Node 20.20 (2-core
 * VM) in the `pipeline/five-strategies` bench suite: reading the inner timeout's signal on every
 * call (the first read of an `AbortController#signal` costs about 4 µs on Node 20), as this breaker
 * and the retry around it did, was most of the pipeline's +14.3 µs per call; following the lazy
 * controllers instead, it added +1.75 µs.
 */
import {
  abortableSignal,
  type ExecuteOptions,
  type ExecutionContext,
  type LazyAbortController,
  lazyAbortSourceOf,
  lazyContext,
  neverAbortedSignal,
  raceAbort,
  raceLazyAbort,
} from '@breakwater/core';

/** The caller's signal, or the lazy controller of the policy around the breaker. */
export type CallerAbort = AbortSignal | LazyAbortController;

/**
 * Whom a call with these options follows: `undefined` when nothing can abort it (no signal, or
 * the shared never-aborted one).
 */
export function callerAbortOf(options: ExecuteOptions | undefined): CallerAbort | undefined {
  return lazyAbortSourceOf(options) ?? abortableSignal(options?.signal);
}

/** Whether `caller` is a lazy controller (it has `onAbort`; an `AbortSignal` has `onabort`). */
export function isLazy(caller: CallerAbort): caller is LazyAbortController {
  return typeof (caller as Partial<LazyAbortController>).onAbort === 'function';
}

/**
 * Runs `fn` with a context that follows `caller`, and settles like its result or rejects with the
 * caller's reason as soon as the caller aborts.
 */
export function runFollowing<T>(
  fn: (ctx: ExecutionContext) => T | PromiseLike<T>,
  caller: CallerAbort,
): Promise<T> {
  if (isLazy(caller)) return raceLazyAbort(fn(lazyContext(caller)), caller);
  return raceAbort(fn({ signal: caller }), caller);
}

/** The signal a fallback function receives: the caller's, created now if it is lazy. */
export function signalOf(caller: CallerAbort | undefined): AbortSignal {
  if (caller === undefined) return neverAbortedSignal();
  return isLazy(caller) ? caller.signal : caller;
}

/**
 * Follows `caller` until the returned function is called: `onAbort` runs once if it aborts
 * first. Adds nothing to a signal that already aborted (check `aborted` before).
 */
export function follow(caller: CallerAbort, onAbort: () => void): () => void {
  if (isLazy(caller)) return caller.onAbort(onAbort);
  caller.addEventListener('abort', onAbort, { once: true });
  return () => caller.removeEventListener('abort', onAbort);
}
