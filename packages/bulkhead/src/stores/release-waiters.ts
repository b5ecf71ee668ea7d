/**
 * The callers of one process waiting for a permit to free up, shared by every permit store.
 * Stores differ only in what tells them a permit was freed (a local release, a pub/sub message, a
 * poll); waiting, waking and counting wake-ups are the same everywhere.
 */
import type { Clock } from '@breakwater/core';

/** Hooks a store uses to run work only while someone waits (DynamoDB's shared poll). */
export interface ReleaseWaitersHooks {
  /** Called after a waiter is added. */
  onWait?: () => void;
  /** Called after the last waiter left. */
  onEmpty?: () => void;
}

/** Waiters for a freed permit, and a count of wake-ups so a caller can tell it missed one. */
export class ReleaseWaiters {
  #wakeups = 0;
  readonly #waiters = new Set<() => void>();
  readonly #hooks: ReleaseWaitersHooks;

  constructor(hooks: ReleaseWaitersHooks = {}) {
    this.#hooks = hooks;
  }

  /** How many times waiters were woken; compare with an earlier value to spot a missed wake-up. */
  get wakeups(): number {
    return this.#wakeups;
  }

  /** Wakes every waiter: each retries its acquire, and the store decides who gets the permit. */
  wakeAll(): void {
    this.#wakeups++;
    for (const wake of [...this.#waiters]) wake();
  }

  /**
   * Resolves at the next wake-up, or after `timeoutMs` (measured on `clock`), whichever comes
   * first; rejects with `signal.reason` if the caller aborts. Resolves at once if a wake-up
   * happened since the caller read `seen`. Leaves no timer or listener behind.
   */
  wait(
    clock: Pick<Clock, 'sleep'>,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    seen?: number,
  ): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (seen !== undefined && seen !== this.#wakeups) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const cancel = new AbortController();
      const done = (): void => {
        this.#waiters.delete(wake);
        cancel.abort();
        signal?.removeEventListener('abort', onAbort);
        if (this.#waiters.size === 0) this.#hooks.onEmpty?.();
      };
      const wake = (): void => {
        done();
        resolve();
      };
      const onAbort = (): void => {
        done();
        reject(signal!.reason);
      };
      this.#waiters.add(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
      clock.sleep(timeoutMs, cancel.signal).then(wake, () => {});
      this.#hooks.onWait?.();
    });
  }
}

/**
 * Who hears that the fleet became contended (see `PermitScope.onContention`): the blocks of
 * `permitQuota`, which then give back the permits they do not use.
 */
export class ContentionListeners {
  readonly #listeners = new Set<() => void>();

  /** Adds a listener; returns the function that removes it. */
  add(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Calls every listener. */
  notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }
}
