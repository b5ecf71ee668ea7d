/**
 * The outcomes a replica counted since its last flush, and the trip check on them. The check adds
 * them to the shared window as last answered by the store: exact for a single process, and for a
 * fleet a lower bound that flushes early whenever this replica's failures alone could trip the
 * breaker. Plain fields and increments: this runs on every call.
 */
import type { BreakerRules, OutcomeBatch } from './store.js';

/** The shared window as last answered by the store. */
export interface SharedCounts {
  readonly calls: number;
  readonly failures: number;
  readonly slowCalls: number;
  readonly consecutiveFailures: number;
}

/** Outcomes counted locally, not yet merged into the shared window. */
export class LocalCounts {
  successes = 0;
  failures = 0;
  slowCalls = 0;
  /** Failures after the last counted success. */
  trailingFailures = 0;
  /** When the newest outcome was counted: the time its batch is recorded at. */
  at = 0;
  /** When the time bucket of the counted outcomes ends. */
  private bucketEnd = Number.NEGATIVE_INFINITY;

  constructor(private readonly rules: BreakerRules) {}

  /** How many calls are counted. */
  get size(): number {
    return this.successes + this.failures;
  }

  /** Whether `now` lies in a later time bucket than the newest counted outcome. */
  isNewBucket(now: number): boolean {
    return now >= this.bucketEnd;
  }

  /** Counts one call. */
  add(failed: boolean, slow: boolean, now: number): void {
    if (failed) {
      this.failures++;
      this.trailingFailures++;
    } else {
      this.successes++;
      this.trailingFailures = 0;
    }
    if (slow) this.slowCalls++;
    if (now >= this.bucketEnd) {
      const bucketMs = this.rules.bucketMs;
      this.bucketEnd =
        this.rules.windowKind === 'time'
          ? (Math.floor(now / bucketMs) + 1) * bucketMs
          : Number.POSITIVE_INFINITY;
    }
    this.at = now;
  }

  /** Hands the counts over as a batch and starts again from zero; `undefined` when empty. */
  take(): OutcomeBatch | undefined {
    if (this.size === 0) return undefined;
    const batch: OutcomeBatch = {
      successes: this.successes,
      failures: this.failures,
      slowCalls: this.slowCalls,
      trailingFailures: this.trailingFailures,
    };
    this.clear();
    return batch;
  }

  /** Forgets the counts (they belong to a window that no longer exists). */
  clear(): void {
    this.successes = 0;
    this.failures = 0;
    this.slowCalls = 0;
    this.trailingFailures = 0;
  }

  /** Failures in a row, the shared run continued by the local one. */
  consecutiveFailures(shared: SharedCounts): number {
    return this.successes > 0
      ? this.trailingFailures
      : shared.consecutiveFailures + this.trailingFailures;
  }

  /** Whether the shared window plus these counts meet a trip condition. */
  couldTrip(shared: SharedCounts): boolean {
    const rules = this.rules;
    if (
      rules.consecutiveFailures > 0 &&
      this.consecutiveFailures(shared) >= rules.consecutiveFailures
    ) {
      return true;
    }
    const calls = shared.calls + this.size;
    if (calls === 0 || calls < rules.minimumThroughput) return false;
    if (rules.failureRatio > 0 && (shared.failures + this.failures) / calls >= rules.failureRatio)
      return true;
    return (
      rules.slowCallRatio > 0 && (shared.slowCalls + this.slowCalls) / calls >= rules.slowCallRatio
    );
  }
}
