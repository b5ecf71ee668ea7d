/**
 * Cancellation helpers shared by the policies.
 *
 * The rule every helper and every policy follows: no listener on a signal that can never abort.
 * Calls given no signal share one never-aborted signal ({@link neverAbortedSignal}); a listener per
 * call on it would never run, would pile up while calls are in flight (Node prints
 * `MaxListenersExceededWarning` past 10) and would cost an add and a remove per call. Policies
 * read the caller's signal through {@link abortableSignal}, which answers `undefined` for it.
 */
import { followsAbort } from './abort-marks.js';
import type { LazyAbortController } from './lazy-abort.js';

/** Where the shared never-aborted signal lives, so that two copies of this package share it. */
const NEVER_ABORTED = Symbol.for('@breakwater/core/never-aborted-signal');

let sharedNeverAborted: AbortSignal | undefined;

/**
 * A signal that never aborts, shared by every call that was given none (creating one per call
 * would cost an AbortController allocation on the hot path). Nothing listens to it: see
 * {@link abortableSignal}.
 */
export function neverAbortedSignal(): AbortSignal {
  if (sharedNeverAborted === undefined) {
    const registry = globalThis as { [NEVER_ABORTED]?: AbortSignal };
    registry[NEVER_ABORTED] ??= new AbortController().signal;
    sharedNeverAborted = registry[NEVER_ABORTED];
  }
  return sharedNeverAborted;
}

let sharedContextWithoutSignal: { readonly signal: AbortSignal } | undefined;

/**
 * The context a policy hands `fn` for a call given no signal: one object for all such calls
 * (internal to core; `fallback()` and `chaos()` share it), its signal {@link neverAbortedSignal}.
 */
export function contextWithoutSignal(): { readonly signal: AbortSignal } {
  sharedContextWithoutSignal ??= { signal: neverAbortedSignal() };
  return sharedContextWithoutSignal;
}

/**
 * `signal`, or `undefined` when it can never abort: when there is none, or it is the shared
 * {@link neverAbortedSignal} an outer policy passed for a call that was given none. Read the
 * caller's signal through this before listening to it (an identity check: it costs nothing).
 *
 * @example
 * const signal = abortableSignal(options?.signal);
 * if (signal !== undefined) signal.addEventListener('abort', onAbort, { once: true });
 */
export function abortableSignal(signal: AbortSignal | null | undefined): AbortSignal | undefined {
  if (signal === undefined || signal === null) return undefined;
  return signal === (sharedNeverAborted ?? neverAbortedSignal()) ? undefined : signal;
}

/**
 * Settles like `promise`, except that it rejects with `signal.reason` as soon as `signal` aborts.
 * The listener is removed when either happens. Without a signal (or with one that can never abort,
 * see {@link abortableSignal}), returns `promise` itself and adds no listener.
 */
export function raceAbort<T>(
  promise: T | PromiseLike<T>,
  signal: AbortSignal | undefined,
): Promise<T> {
  if (!signal || abortableSignal(signal) === undefined) return Promise.resolve(promise);
  if (signal.aborted) {
    // The caller no longer waits, but a late rejection must not surface as unhandled.
    Promise.resolve(promise).catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    Promise.resolve(promise).then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * {@link raceAbort} for a {@link LazyAbortController}: follows its abort through a callback, so no
 * signal is created. A promise marked as following the controller already (`markFollowsAbort`,
 * inside a pipeline: the promise of the next policy in) is handed back as it is, not raced again.
 */
export function raceLazyAbort<T>(
  promise: T | PromiseLike<T>,
  controller: LazyAbortController,
): Promise<T> {
  if (controller.aborted) {
    Promise.resolve(promise).catch(() => {});
    return Promise.reject(controller.reason);
  }
  if (followsAbort(promise, controller)) return promise as Promise<T>;
  return new Promise<T>((resolve, reject) => {
    controller.addAbortListener(reject);
    Promise.resolve(promise).then(
      (value) => {
        controller.removeAbortListener(reject);
        resolve(value);
      },
      (error: unknown) => {
        controller.removeAbortListener(reject);
        reject(error);
      },
    );
  });
}

/**
 * `raceLazyAbort(pending, controller).then(onFulfilled, onRejected)` with one promise and one
 * reaction fewer: for a policy that follows a lazy parent and then judges the outcome (a retry's
 * first attempt, a breaker's call). If the controller aborts first, `onRejected` gets its reason
 * (in a microtask, as after the race). What a handler returns (or a promise of it) settles the
 * result; what it throws rejects it.
 *
 * Why: the race followed by a `.then` costs a promise and a microtask more per call, on the hot
 * path of every policy inside a pipeline. Measured on Node 20.20 (2-core VM, loops of 200,000
 * awaited calls, five interleaved rounds), with this a retry and a breaker inside a lazy parent
 * cost +188 and +205 ns per call, against +97 and +109 ns with no parent.
 */
export function raceLazyAbortThen<T, R>(
  pending: T | PromiseLike<T>,
  controller: LazyAbortController,
  onFulfilled: (value: T) => R | PromiseLike<R>,
  onRejected: (error: unknown) => R | PromiseLike<R>,
): Promise<R> {
  if (controller.aborted) {
    Promise.resolve(pending).catch(() => {});
    return Promise.reject(controller.reason).then(undefined, onRejected);
  }
  // Marked as following the controller already (see abort-marks.ts): judged, not raced again.
  if (followsAbort(pending, controller)) {
    return (pending as Promise<T>).then(onFulfilled, onRejected);
  }
  return new Promise<R>((resolve, reject) => {
    let settled = false;
    const onAbort = (reason: unknown) => {
      settled = true;
      queueMicrotask(() => settleWith(onRejected, reason, resolve, reject));
    };
    controller.addAbortListener(onAbort);
    Promise.resolve(pending).then(
      (value) => {
        if (settled) return;
        settled = true;
        controller.removeAbortListener(onAbort);
        settleWith(onFulfilled, value, resolve, reject);
      },
      (error: unknown) => {
        if (settled) return;
        settled = true;
        controller.removeAbortListener(onAbort);
        settleWith(onRejected, error, resolve, reject);
      },
    );
  });
}

function settleWith<V, R>(
  handler: (value: V) => R | PromiseLike<R>,
  value: V,
  resolve: (result: R | PromiseLike<R>) => void,
  reject: (reason: unknown) => void,
): void {
  try {
    resolve(handler(value));
  } catch (error) {
    reject(error);
  }
}

/**
 * A child of `parent`: an AbortController whose signal aborts (with the parent's reason) when the
 * parent does. Call `dispose()` once the work is done so the parent does not keep a listener. A
 * parent that can never abort (see {@link abortableSignal}) gets no listener.
 */
export function childAbortController(parent: AbortSignal | undefined): {
  controller: AbortController;
  dispose(): void;
} {
  const controller = new AbortController();
  if (!parent || abortableSignal(parent) === undefined) return { controller, dispose: noop };
  if (parent.aborted) {
    controller.abort(parent.reason);
    return { controller, dispose: noop };
  }
  const onAbort = () => controller.abort(parent.reason);
  parent.addEventListener('abort', onAbort, { once: true });
  return { controller, dispose: () => parent.removeEventListener('abort', onAbort) };
}

const noop = () => {};
