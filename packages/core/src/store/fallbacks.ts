/**
 * The answers a policy gives when its store fails, one per `onStoreError` mode. A policy builds its
 * {@link StoreFallbacks} once, at construction; the store layer picks the one the user chose, so a
 * policy never branches on the mode.
 */
import type { StoreError } from '../errors.js';
import type { OnStoreError } from './options.js';

/**
 * One answer per {@link OnStoreError} mode. Each receives the store error and the operation's
 * argument, may return a value or a promise, and may throw (a `'fail-closed'` answer usually throws
 * the policy's rejection error with the store error as its `cause`).
 */
export interface StoreFallbacks<T, A = void> {
  /** Answer for `'fail-open'`: what the policy does when it assumes the store would allow the call. */
  failOpen(error: StoreError, arg: A): T | PromiseLike<T>;
  /** Answer for `'fail-closed'`: what the policy does when it assumes the store would refuse it. */
  failClosed(error: StoreError, arg: A): T | PromiseLike<T>;
  /** Answer for `'local'`: the decision taken from in-process state instead. */
  local(error: StoreError, arg: A): T | PromiseLike<T>;
}

/** The answer of one mode, as {@link chooseFallback} returns it. */
export type StoreFallback<T, A = void> = (error: StoreError, arg: A) => T | PromiseLike<T>;

/**
 * The fallback of `mode`, bound to `fallbacks`. A fallback that is the same in every mode may be
 * given as one function.
 */
export function chooseFallback<T, A>(
  mode: OnStoreError,
  fallbacks: StoreFallbacks<T, A> | StoreFallback<T, A>,
): StoreFallback<T, A> {
  if (typeof fallbacks === 'function') return fallbacks;
  switch (mode) {
    case 'fail-open':
      return (error, arg) => fallbacks.failOpen(error, arg);
    case 'fail-closed':
      return (error, arg) => fallbacks.failClosed(error, arg);
    default:
      return (error, arg) => fallbacks.local(error, arg);
  }
}
