import {
  type StoreFallbacks,
  type StoreGuard,
  type StoreStatus,
  type StoreStatusListener,
  storeGuard,
} from '@breakwater/core';
import type { ObservableResult } from '@opentelemetry/api';
import type { RetryBudget, RetryBudgetDecision } from './budget.js';
import {
  type RetryBudgetOptions,
  type RetryBudgetSettings,
  resolveBudgetOptions,
} from './budget-options.js';
import { BudgetWindow } from './budget-window.js';
import type { Disposer } from './listeners.js';
import type { BudgetRequest, BudgetResult, RetryBudgetStore } from './store.js';
import { type BudgetInstruments, budgetInstruments } from './telemetry.js';

/** The budget {@link retryBudget} builds: a {@link RetryBudget} over a sliding window in a store. */
export interface WindowedRetryBudget extends RetryBudget {
  /** The store kind: `'memory'`, `'redis'`, `'dynamodb'`. */
  readonly store: string;
  /** Retries left, as last reported by the store (`undefined` before the first report). */
  readonly available: number | undefined;
  /** `'degraded'` while the store fails and `onStoreError` decides instead. */
  readonly storeStatus: StoreStatus;
  /** Reports the calls counted locally to the store now. Never rejects. */
  flush(): Promise<void>;
  /** Subscribes to the store degrading and recovering. Returns a disposer. */
  onStoreStatusChange(listener: StoreStatusListener): Disposer;
  /** Flushes, then stops reporting the gauge. The budget still works afterwards, unobserved. */
  close(): Promise<void>;
}

/**
 * A retry budget: retries allowed in a sliding window ≤ `ratio` × calls in the window +
 * `minPerSecond` × window length. When a dependency is down, every call fails and wants retries;
 * the budget lets only a bounded share through, so retries cannot multiply the load (the classic
 * retry storm). With a shared store (`redisBudgetStore`, `dynamoBudgetStore`) the bound holds for
 * the whole fleet.
 *
 * Cost: calls are counted in process and reported in batches (see `flushIntervalMs`), so a call
 * that succeeds at once never waits for the store; only a retry makes one store round trip.
 *
 * @example
 * const budget = retryBudget({ ratio: 0.2, minPerSecond: 10, store: redisBudgetStore({ client }) });
 * const r = retry({ maxAttempts: 4, budget });
 */
export function retryBudget(options: RetryBudgetOptions = {}): WindowedRetryBudget {
  return new Budget(resolveBudgetOptions(options));
}

class Budget implements WindowedRetryBudget {
  readonly name: string;
  readonly store: string;
  available: number | undefined = undefined;
  private pendingCalls = 0;
  private nextFlushAt = Number.NEGATIVE_INFINITY;
  private inFlight = new Set<Promise<void>>();
  private readonly local: BudgetWindow | undefined;
  private readonly inProcess: boolean;
  private readonly guard: StoreGuard;
  private readonly instruments: BudgetInstruments;
  private readonly operation: (
    signal: AbortSignal,
    request: BudgetRequest,
  ) => Promise<BudgetResult>;
  private readonly depositFallbacks: StoreFallbacks<BudgetResult, BudgetRequest>;
  private readonly withdrawFallbacks: StoreFallbacks<BudgetResult, BudgetRequest>;
  private readonly observe = (result: ObservableResult) => {
    if (this.available !== undefined) result.observe(this.available, this.instruments.attributes);
  };

  constructor(private readonly settings: RetryBudgetSettings) {
    this.name = settings.name;
    const store: RetryBudgetStore = settings.store;
    this.store = store.kind;
    this.inProcess = store.inProcess === true;
    // An in-process store never fails, so it needs no local fallback window beside it.
    this.local =
      settings.onStoreError === 'local' && !this.inProcess
        ? new BudgetWindow(settings.spec)
        : undefined;
    this.guard = storeGuard({
      store: store.kind,
      onStoreError: settings.onStoreError,
      deadlineMs: settings.storeDeadlineMs,
    });
    this.instruments = budgetInstruments(settings.name, store.kind, settings.onStoreError);
    this.instruments.available.addCallback(this.observe);
    this.operation = (signal, request) => store.record(request, signal);
    const degraded = (): void =>
      this.instruments.storeErrors.add(1, this.instruments.fallbackAttributes);
    const notGranted = (): BudgetResult => {
      degraded();
      return { granted: false, available: this.available ?? Number.NaN };
    };
    // A lost deposit only under-counts calls, which errs on the side of fewer retries.
    this.depositFallbacks = { failOpen: notGranted, failClosed: notGranted, local: notGranted };
    this.withdrawFallbacks = {
      failOpen: () => {
        degraded();
        return { granted: true, available: this.available ?? Number.NaN };
      },
      failClosed: notGranted,
      local: () => {
        degraded();
        // The local window already holds every call (counted in recordCall).
        return this.local!.record(this.settings.clock.now(), 0, true);
      },
    };
  }

  get storeStatus(): StoreStatus {
    return this.guard.status;
  }

  recordCall(): void {
    this.pendingCalls++;
    const now = this.settings.clock.now();
    this.local?.addCalls(now, 1);
    if (now >= this.nextFlushAt) this.startDeposit(now);
  }

  async tryAcquire(signal?: AbortSignal): Promise<RetryBudgetDecision> {
    const request = this.takeRequest(this.settings.clock.now(), true);
    // An in-process store cannot hang: a deadline timer per retry would be pure cost.
    const result = this.inProcess
      ? await this.settings.store.record(request, signal)
      : await this.guard.run('record', this.operation, this.withdrawFallbacks, request, signal);
    if (result.granted && this.guard.status === 'healthy') {
      this.local?.addRetry(this.settings.clock.now());
    }
    if (!Number.isNaN(result.available)) this.available = result.available;
    return result;
  }

  async flush(): Promise<void> {
    this.startDeposit(this.settings.clock.now());
    await Promise.all(this.inFlight);
  }

  onStoreStatusChange(listener: StoreStatusListener): Disposer {
    return this.guard.onStatusChange(listener);
  }

  async close(): Promise<void> {
    await this.flush();
    this.instruments.available.removeCallback(this.observe);
  }

  /** Takes the calls counted since the last report into a request; the next report is due later. */
  private takeRequest(now: number, withdraw: boolean): BudgetRequest {
    const calls = this.pendingCalls;
    this.pendingCalls = 0;
    this.nextFlushAt = now + this.settings.flushIntervalMs;
    return { name: this.name, spec: this.settings.spec, calls, withdraw };
  }

  private startDeposit(now: number): void {
    if (this.pendingCalls === 0) {
      this.nextFlushAt = now + this.settings.flushIntervalMs;
      return;
    }
    const request = this.takeRequest(now, false);
    const pending = this.inProcess
      ? this.settings.store.record(request)
      : this.guard.run('record', this.operation, this.depositFallbacks, request);
    const deposit = pending
      .then(
        (result) => {
          if (!Number.isNaN(result.available)) this.available = result.available;
        },
        // The guard turns store failures into the fallback; anything left is a bug in a
        // fallback, which must not become an unhandled rejection on the caller's hot path.
        () => {},
      )
      .finally(() => this.inFlight.delete(deposit));
    this.inFlight.add(deposit);
  }
}
