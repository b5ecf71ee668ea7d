/**
 * Racing an abort once per pipeline instead of once per policy (issue #18).
 *
 * Inside a pipeline, the policies under an outer `timeout()` (or under any lazy context) all
 * follow the same {@link LazyAbortController}, and each raced the promise of the call it ran
 * against that controller's abort. But the promise a policy runs is, inside a pipeline, the
 * promise of the next policy in, which already settles as soon as the controller aborts: racing it
 * again buys nothing. So a policy whose returned promise settles promptly once its lazy parent
 * aborts says so with {@link markFollowsAbort}, and the race helpers the policy around it calls
 * (`raceLazyAbort`, `raceLazyAbortThen` in abort.ts), finding with {@link followsAbort} that the
 * promise its `fn` returned is that very promise, following the same controller, pass it on or
 * judge it with a plain `.then` rather than racing it. The innermost policy,
 * which runs the caller's `fn`, still races; the others pass its rejection on.
 *
 * "Promptly" is the contract a marker signs: once the controller aborts, the marked promise
 * rejects with the controller's reason (or whatever the policy answers an abort with) within a few
 * microtasks, whatever the function under it does, and without waiting for I/O, a timer or user
 * code (a fallback, a dead-letter sink, a store write). A policy marks only the calls where that
 * holds; a promise no one marked is raced as before.
 *
 * The mark is one module-level slot, not a property of the promise: set by the policy as it returns
 * its promise, read (and cleared) by the policy around it right after its `fn` returned. Matching
 * the promise by identity makes a stale or foreign mark harmless: a `fn` that transforms the
 * promise it got (`.then(...)`) returns another promise, which is raced. A second copy of this
 * package has its own slot, so policies of different copies simply race as before. The slot holds
 * the last marked promise (one object) until the next mark or check.
 *
 * Measured on Node 20.20 (2-core VM shared with other jobs) on the five-strategy pipeline of the
 * `pipeline/five-strategies` bench suite (a bulkhead, a timeout, a retry, a timeout, a breaker:
 * three races on the outer timeout's controller per call, one with marks): CPU time of 100,000
 * awaited calls, median of 11 rounds, both variants in one process, two runs: +837 → +787 and
 * +886 → +843 ns per call (+834 → +805 and +911 → +846 ns when `fn` reads `ctx.signal`);
 * callgrind, instructions per call (difference of two run lengths): 11,550 → 9,972.
 */
import type { LazyAbortController } from './lazy-abort.js';

let markedPromise: PromiseLike<unknown> | undefined;
let markedController: LazyAbortController | undefined;

/**
 * Marks `promise` as settling promptly once `controller` aborts (see the module comment for what
 * "promptly" promises), and returns it. Call it on the promise a policy returns, as it returns it,
 * only on paths where the promise keeps that promise.
 */
export function markFollowsAbort<T>(
  promise: Promise<T>,
  controller: LazyAbortController,
): Promise<T> {
  markedPromise = promise;
  markedController = controller;
  return promise;
}

/**
 * Whether `pending`, what a policy's `fn` just returned, is a promise marked with
 * {@link markFollowsAbort} as settling promptly once `controller` (the policy's lazy parent)
 * aborts: the policy may then handle it without racing it against `controller`. Clears the mark
 * either way. Call it right after `fn` returned, before anything else can mark a promise.
 */
export function followsAbort(pending: unknown, controller: LazyAbortController): boolean {
  const follows = pending === markedPromise && controller === markedController;
  markedPromise = undefined;
  markedController = undefined;
  return follows;
}
