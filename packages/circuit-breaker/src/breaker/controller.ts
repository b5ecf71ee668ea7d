/**
 * The state a breaker's policy drives: this replica's cached view of the shared state, the
 * outcomes counted since the last flush, the gate every call passes, and the transitions this
 * replica sees. What the store answers arrives through the breaker's StoreSync (store-sync.ts),
 * which the controller owns: counting decides when to flush, and the gate depends on whether the
 * store answers.
 */
import type { Clock, Listeners } from '@breakwater/core';
import { CachedView } from '../cached-view.js';
import type { StateChangeEvent } from '../events.js';
import { LocalCounts } from '../local-counts.js';
import type { OnStoreError, ResolvedOptions } from '../options.js';
import type { BreakerRules, BreakerSeed, BreakerState, BreakerView } from '../store.js';
import { BreakerTelemetry } from '../telemetry.js';
import { StoreSync } from './store-sync.js';

/** What the gate answers for a call: run it, ask the store for a probe lease, or reject it. */
export const RUN = 0;
export const PROBE = 1;
export const REJECT = 2;

/** The state of one breaker, as this replica sees it. */
export class BreakerController {
  /** The cached view of the shared state. */
  readonly view = new CachedView();
  /** Outcomes counted since the last flush. */
  readonly pending: LocalCounts;
  readonly telemetry: BreakerTelemetry;
  readonly sync: StoreSync;
  private readonly name: string;
  private readonly rules: BreakerRules;
  private readonly clock: Clock;
  private readonly onStoreError: OnStoreError;
  private readonly syncIntervalMs: number;
  private readonly strict: boolean;
  private readonly stateChange: Listeners<StateChangeEvent>;

  constructor(resolved: ResolvedOptions<unknown>, stateChange: Listeners<StateChangeEvent>) {
    this.name = resolved.name;
    this.rules = resolved.rules;
    this.pending = new LocalCounts(resolved.rules);
    this.clock = resolved.clock;
    this.onStoreError = resolved.onStoreError;
    this.syncIntervalMs = resolved.syncIntervalMs;
    this.strict = resolved.strict;
    this.stateChange = stateChange;
    this.telemetry = new BreakerTelemetry(
      resolved.name,
      resolved.store.kind,
      () => this.view.state,
      resolved.durationSampleEvery,
    );
    // Last: a synchronous store's first answer already applies here, and may transition.
    this.sync = new StoreSync(resolved, this);
  }

  gate(now: number): number {
    if (!this.sync.healthy) {
      if (this.onStoreError === 'fail-open') return RUN;
      if (this.onStoreError === 'fail-closed') return REJECT;
    }
    switch (this.view.state) {
      case 'closed':
      case 'disabled':
        return RUN;
      case 'open':
      case 'isolated':
        return now < this.view.openUntil ? REJECT : PROBE;
      default:
        // Half-open: when the last answer is fresh and showed every slot taken, say no locally
        // rather than asking the store on behalf of every call.
        if (
          this.view.probes >= this.rules.halfOpenMaxCalls &&
          now - this.view.lastSyncAt < this.syncIntervalMs
        )
          return REJECT;
        return PROBE;
    }
  }

  count(failed: boolean, slow: boolean, now: number): Promise<void> | undefined {
    // Outcomes of calls admitted before the breaker opened are stale; the store would drop them.
    if (this.view.state !== 'closed' && this.view.state !== 'disabled') return undefined;
    // An outcome that cannot change the state waits in the local counts, even with a store that
    // syncs on every call, so the hot path stays a few increments; the trip check below is exact
    // for one process (shared window as last answered + local counts). A time window needs each
    // outcome in its own bucket, so a new bucket flushes the previous one's. A count window needs
    // the calls in order: with a store synced on every call, a failure goes out at once, after the
    // successes that preceded it, so the window drops exactly the oldest calls. And with a
    // synchronous store the first outcome of a new bucket goes out at once: the view the trip
    // check relies on must have rotated out the calls that left the window. The call waits for
    // that flush; a strict call not while the store fails (see `flushForStrictCall`).
    const pending = this.pending;
    const newBucket = pending.isNewBucket(now);
    if (newBucket && pending.size > 0) void this.sync.flush();
    const ordered =
      this.syncIntervalMs === 0 &&
      (newBucket || (this.rules.windowKind === 'count' && (failed || slow)));
    if (ordered && pending.successes > 0) void this.sync.flush();
    pending.add(failed, slow, now);
    if (ordered || this.strict || pending.couldTrip(this.view.shared)) {
      return this.strict ? this.sync.flushForStrictCall() : this.sync.flush();
    }
    return undefined;
  }

  /** Applies a store answer (`seq`: the order it was requested in) or a pushed view (`seq` undefined). */
  applyView(view: BreakerView, seq: number | undefined): void {
    const from = this.view.state;
    if (!this.view.apply(view, seq, this.clock.now())) return;
    if (view.replaced) {
      process.emitWarning(
        `Circuit breaker "${this.name}": the store held a malformed or foreign record; it was replaced`,
        { type: 'BreakwaterWarning', code: 'BREAKWATER_RECORD_REPLACED' },
      );
    }
    if (from !== view.state) this.transitioned(from, view.state);
  }

  applySeed(seed: BreakerSeed, now: number): void {
    const from = this.view.state;
    this.view.applySeed(seed, now);
    if (from !== this.view.state) this.transitioned(from, this.view.state);
  }

  private transitioned(from: BreakerState, to: BreakerState): void {
    if (to !== 'closed' && to !== 'disabled') {
      // Counts from before the transition belong to a window that no longer exists.
      this.pending.clear();
    }
    this.telemetry.transition(from, to);
    if (this.stateChange.active) this.stateChange.emit({ from, to });
  }

  currentView(): BreakerView {
    return this.view.toView(this.clock.now());
  }

  seedOfView(): BreakerSeed {
    const view = this.currentView();
    return { ...view, version: Math.max(1, view.version) };
  }
}
