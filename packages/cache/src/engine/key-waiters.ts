/**
 * Callers waiting for another replica to publish a key they could not lease. A bus message for
 * the key wakes them at once; otherwise they wake after their backoff and look again.
 */
import type { Clock } from '@breakwater/core';

/** The waiters of one cache, by key. */
export class KeyWaiters {
  private readonly waiters = new Map<string, Set<() => void>>();

  constructor(private readonly clock: Clock) {}

  /** Resolves when {@link wake} is called for `key`, or after `ms` on the cache's clock. */
  async wait(key: string, ms: number): Promise<void> {
    const timer = new AbortController();
    let set = this.waiters.get(key);
    if (set === undefined) {
      set = new Set();
      this.waiters.set(key, set);
    }
    const wake = () => timer.abort();
    set.add(wake);
    try {
      await this.clock.sleep(ms, timer.signal);
    } catch {
      // Woken early: the key was written.
    } finally {
      set.delete(wake);
      if (set.size === 0) this.waiters.delete(key);
      timer.abort();
    }
  }

  /** Wakes everyone waiting for `key`. */
  wake(key: string): void {
    const set = this.waiters.get(key);
    if (set !== undefined) for (const wake of set) wake();
  }
}
