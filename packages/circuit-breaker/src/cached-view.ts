/**
 * A replica's cached view of the shared state: what the closed path decides from without a store
 * round trip. It converts the store's relative times into this replica's clock and keeps answers
 * in order: an answer that overtook a newer one, or an older version of the same record, is
 * ignored; a record that was recreated (expired, replaced) starts a new generation and is adopted
 * whatever its version.
 */
import type { BreakerSeed, BreakerState, BreakerView } from './store.js';

/** The cached view. Plain public fields: the hot path reads them on every call. */
export class CachedView {
  state: BreakerState = 'closed';
  version = -1;
  generation = -1;
  /** When an open break or an isolation ends, in this replica's epoch ms (∞: isolated for good). */
  openUntil = 0;
  consecutiveOpens = 0;
  /** Half-open probe leases held across the fleet. */
  probes = 0;
  /** When the store last answered. */
  lastSyncAt = Number.NEGATIVE_INFINITY;
  /** The shared window. */
  readonly shared = { calls: 0, failures: 0, slowCalls: 0, consecutiveFailures: 0 };
  private appliedSeq = 0;

  /**
   * Applies a store answer (`seq`: the order in which the answers were requested) or a pushed view
   * (`seq` undefined). Returns whether the view was taken.
   */
  apply(view: BreakerView, seq: number | undefined, now: number): boolean {
    if (seq !== undefined) {
      // Answers can overtake each other; an older one must not undo a newer one.
      if (seq < this.appliedSeq) return false;
      this.appliedSeq = seq;
    }
    // Versions order the views of one record; a new record (expired, replaced) starts over. A
    // pushed view equal to the current one adds nothing.
    if (view.generation === this.generation) {
      if (view.version < this.version || (seq === undefined && view.version === this.version))
        return false;
    }
    this.state = view.state;
    this.version = view.version;
    this.generation = view.generation;
    this.openUntil = untilOf(view.state, view.remainingMs, now);
    this.consecutiveOpens = view.consecutiveOpens;
    this.shared.consecutiveFailures = view.consecutiveFailures;
    this.shared.calls = view.calls;
    this.shared.failures = view.failures;
    this.shared.slowCalls = view.slowCalls;
    this.probes = view.probes;
    this.lastSyncAt = now;
    return true;
  }

  /** Takes the state of a seed (`initialState`) before the store has answered. */
  applySeed(seed: BreakerSeed, now: number): void {
    this.state = seed.state === 'half-open' ? 'open' : seed.state;
    this.openUntil = untilOf(this.state, seed.remainingMs, now);
    this.consecutiveOpens = seed.consecutiveOpens;
    this.shared.consecutiveFailures = seed.consecutiveFailures;
    this.shared.calls = seed.calls;
    this.shared.failures = seed.failures;
    this.shared.slowCalls = seed.slowCalls;
  }

  /** Accept the next answer whatever its version (the store is authoritative again). */
  forgetVersion(): void {
    this.version = -1;
  }

  /** Milliseconds until an open break or an isolation ends; `undefined` when not open or no end. */
  retryAfterMs(now: number): number | undefined {
    if ((this.state !== 'open' && this.state !== 'isolated') || !Number.isFinite(this.openUntil)) {
      return undefined;
    }
    return Math.max(0, this.openUntil - now);
  }

  /** The cached state as a store view (what fallbacks answer while the store is down). */
  toView(now: number): BreakerView {
    let remainingMs = 0;
    if (this.state === 'open') remainingMs = Math.max(0, this.openUntil - now);
    else if (this.state === 'isolated') {
      remainingMs = Number.isFinite(this.openUntil) ? Math.max(0, this.openUntil - now) : -1;
    }
    return {
      state: this.state,
      version: this.version,
      generation: this.generation,
      remainingMs,
      consecutiveOpens: this.consecutiveOpens,
      consecutiveFailures: this.shared.consecutiveFailures,
      calls: this.shared.calls,
      failures: this.shared.failures,
      slowCalls: this.shared.slowCalls,
      probes: this.probes,
      replaced: false,
    };
  }
}

function untilOf(state: BreakerState, remainingMs: number, now: number): number {
  if (state === 'open') return now + remainingMs;
  if (state === 'isolated') return remainingMs < 0 ? Number.POSITIVE_INFINITY : now + remainingMs;
  return 0;
}
