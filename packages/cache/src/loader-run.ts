/**
 * Runs a loader under the hard timeout. The loader gets a signal of its own that aborts when the
 * hard timeout passes (with the `TimeoutError` as reason) or when the cache closes; callers that
 * stop waiting do not abort it, since other callers may share the load.
 *
 * Closing is signalled through a plain set of callbacks the cache owns, not an `abort` listener
 * per load: EventTarget listeners cost microseconds each, on every miss.
 */
import { type Clock, TimeoutError } from '@breakwater/core';

/** What a loader receives. */
export interface LoaderContext {
  /** Aborts when the hard timeout passes or the cache closes; pass it to the database call. */
  readonly signal: AbortSignal;
  /** The key being loaded. */
  readonly key: string;
}

/** Loads the value of a key on a miss. Return `undefined` for "not found" (see `negativeTtlMs`). */
export type Loader<T> = (context: LoaderContext) => T | PromiseLike<T>;

/**
 * Calls `loader` and settles with its result, or rejects with a `TimeoutError` after
 * `hardTimeoutMs` (measured on `clock`) and aborts the loader's signal.
 */
export function runLoader<T>(
  loader: Loader<T>,
  key: string,
  hardTimeoutMs: number | undefined,
  clock: Clock,
  policyName: string,
  running: Set<(reason: unknown) => void>,
): Promise<T> {
  const controller = new AbortController();
  const timer = hardTimeoutMs === undefined ? undefined : new AbortController();
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const finish = (): boolean => {
      if (settled) return false;
      settled = true;
      timer?.abort();
      running.delete(onClose);
      return true;
    };
    // A closed cache stops waiting even for a loader that ignores its signal.
    const onClose = (reason: unknown) => {
      controller.abort(reason);
      if (finish()) reject(reason);
    };
    running.add(onClose);
    if (timer !== undefined) {
      clock.sleep(hardTimeoutMs!, timer.signal).then(
        () => {
          if (!finish()) return;
          const error = new TimeoutError(
            `Loader of cache "${policyName}" timed out after ${hardTimeoutMs} ms`,
            { policyName, timeoutMs: hardTimeoutMs! },
          );
          controller.abort(error);
          reject(error);
        },
        () => {},
      );
    }
    let result: Promise<T>;
    try {
      result = Promise.resolve(loader({ signal: controller.signal, key }));
    } catch (error) {
      result = Promise.reject(error);
    }
    result.then(
      (value) => {
        if (finish()) resolve(value);
      },
      (error: unknown) => {
        if (finish()) reject(error);
      },
    );
  });
}
