/**
 * The per-call time limit of a breaker (`timeoutMs`). Leaner than core's `timeout()` policy because
 * it runs inside the breaker's own call path: one unreferenced timer per call, and the
 * AbortController behind `ctx.signal` is only created if the call reads `ctx.signal`, so a call
 * that cannot be cancelled does not pay for one. Like opossum's timeout, it rejects as soon as
 * time is up; the call is told through its signal and left to finish on its own.
 */
import { type ExecutionContext, TimeoutError } from '@breakwater/core';

/**
 * The context of a timed call. Its `signal` is a prototype getter that creates the controller on
 * first read (an object literal with a getter is several times slower to create per call).
 */
class LazySignalContext implements ExecutionContext {
  private controller: AbortController | undefined = undefined;
  private reason: unknown = undefined;
  private aborted = false;

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  /** Aborts the signal, now if it exists, or as soon as it is read. */
  abort(reason: unknown): void {
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
  }
}

/** Runs `fn` with a deadline of `ms`; rejects with a {@link TimeoutError} naming `policyName`. */
export function runWithTimeout<T>(
  fn: (ctx: ExecutionContext) => T | PromiseLike<T>,
  signal: AbortSignal | undefined,
  ms: number,
  policyName: string,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const ctx = new LazySignalContext();
    let settled = false;
    const finish = () => {
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onCallerAbort);
    };
    const onCallerAbort = () => {
      if (settled) return;
      finish();
      ctx.abort(signal?.reason);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      if (settled) return;
      finish();
      const error = new TimeoutError(`Circuit breaker "${policyName}" timed out after ${ms} ms`, {
        policyName,
        timeoutMs: ms,
      });
      ctx.abort(error);
      reject(error);
    }, ms);
    // The call's own work keeps the process alive; its deadline need not. An unreferenced timer is
    // also several times cheaper to arm and clear than a referenced one.
    timer.unref();
    signal?.addEventListener('abort', onCallerAbort, { once: true });

    let result: T | PromiseLike<T>;
    try {
      result = fn(ctx);
    } catch (error) {
      finish();
      reject(error);
      return;
    }
    Promise.resolve(result).then(
      (value) => {
        if (settled) return;
        finish();
        resolve(value);
      },
      (error: unknown) => {
        if (settled) return;
        finish();
        reject(error);
      },
    );
  });
}
