/**
 * Keeps the fleet leases of the loads running in this process alive. One loop per cache, not a
 * timer per load: a miss only adds its key to a map, and the loop extends every held lease each
 * third of the lease lifetime, so a slow load is never mistaken for a dead holder. The loop ends
 * after a period with nothing to renew (or at `close()`), leaving no timer behind for long.
 */
import type { Clock } from '@breakwater/core';

/** Extends one lease if it still holds `token`; resolves whether it did. */
export type ExtendLease = (key: string, token: string, ttlMs: number) => Promise<boolean>;

/** Renews the leases held by one cache. */
export class LeaseKeeper {
  private readonly held = new Map<string, string>();
  private stop: AbortController | undefined;

  constructor(
    private readonly ttlMs: number,
    private readonly clock: Clock,
    private readonly extend: ExtendLease,
  ) {}

  /** Starts renewing the lease of `key` held under `token`. */
  hold(key: string, token: string): void {
    this.held.set(key, token);
    if (this.stop === undefined) void this.run();
  }

  /** Stops renewing the lease of `key` (the load is over). */
  release(key: string, token: string): void {
    if (this.held.get(key) === token) this.held.delete(key);
  }

  /** Stops the loop for good. */
  close(): void {
    this.held.clear();
    this.stop?.abort();
  }

  private async run(): Promise<void> {
    const stop = new AbortController();
    this.stop = stop;
    const every = Math.max(1, Math.floor(this.ttlMs / 3));
    try {
      for (;;) {
        await this.clock.sleep(every, stop.signal);
        if (this.held.size === 0) return;
        for (const [key, token] of this.held) {
          this.extend(key, token, this.ttlMs).then(
            (extended) => {
              // Lost (expired and taken by another replica): nothing left to keep.
              if (!extended) this.release(key, token);
            },
            () => {
              // A failed renewal is retried next period; the lease may still be valid.
            },
          );
        }
      }
    } catch {
      // Aborted by close().
    } finally {
      if (this.stop === stop) this.stop = undefined;
    }
  }
}
