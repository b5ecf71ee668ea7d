/**
 * Cancellation helpers shared by the policies.
 */
import type { LazyAbortController } from './lazy-abort.js';

/**
 * Settles like `promise`, except that it rejects with `signal.reason` as soon as `signal` aborts.
 * The listener is removed when either happens. Without a signal, returns `promise` itself.
 */
export function raceAbort<T>(
  promise: T | PromiseLike<T>,
  signal: AbortSignal | undefined,
): Promise<T> {
  if (!signal) return Promise.resolve(promise);
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
 * signal is created.
 */
export function raceLazyAbort<T>(
  promise: T | PromiseLike<T>,
  controller: LazyAbortController,
): Promise<T> {
  if (controller.aborted) {
    Promise.resolve(promise).catch(() => {});
    return Promise.reject(controller.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const unsubscribe = controller.onAbort(reject);
    Promise.resolve(promise).then(
      (value) => {
        unsubscribe();
        resolve(value);
      },
      (error: unknown) => {
        unsubscribe();
        reject(error);
      },
    );
  });
}

/**
 * A child of `parent`: an AbortController whose signal aborts (with the parent's reason) when the
 * parent does. Call `dispose()` once the work is done so the parent does not keep a listener.
 */
export function childAbortController(parent: AbortSignal | undefined): {
  controller: AbortController;
  dispose(): void;
} {
  const controller = new AbortController();
  if (!parent) return { controller, dispose: noop };
  if (parent.aborted) {
    controller.abort(parent.reason);
    return { controller, dispose: noop };
  }
  const onAbort = () => controller.abort(parent.reason);
  parent.addEventListener('abort', onAbort, { once: true });
  return { controller, dispose: () => parent.removeEventListener('abort', onAbort) };
}

const noop = () => {};
