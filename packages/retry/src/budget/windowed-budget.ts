/**
 * The budget `retryBudget()` builds: calls counted in process and reported to the store in
 * batches, retry tokens withdrawn from the store one round trip each, every store operation on
 * core's store call path, and a local window (window.ts) beside a shared store for
 * `onStoreError: 'local'`.
 */
import {
  type Disposer,
  POLICY_HEALTH,
  type PolicyHealth,
  policyHealth,
  StoreCalls,
  type StoreFallbacks,
  type StoreInvoke,
  type StoreOp,
  type StoreStatus,
  type StoreStatusListener,
} from '@breakwater/core';
import type { ObservableResult } from '@opentelemetry/api';
import type { RetryBudgetDecision } from '../budget.js';
import type { RetryBudgetSettings } from '../budget-options.js';
import type { WindowedRetryBudget } from '../retry-budget.js';
import type { BudgetRequest, BudgetResult, RetryBudgetStore } from '../store.js';
import { type BudgetInstruments, budgetInstruments, retryTelemetry } from '../telemetry.js';
import { BudgetWindow } from './window.js';

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

function ignore(): void {}

/** A retry budget over a sliding window in a store; see `retryBudget()`. */
export class Budget implements WindowedRetryBudget {
  readonly name: string;
  readonly store: string;
  available: number | undefined = undefined;
  private pendingCalls = 0;
  private closed = false;
  private nextFlushAt = Number.NEGATIVE_INFINITY;
  private readonly inFlight = new Set<Promise<void>>();
  /** This process's own view of the window: what `onStoreError: 'local'` decides from. */
  private readonly local: BudgetWindow | undefined;
  private readonly calls: StoreCalls;
  /** Reports batched calls; a failed deposit is dropped (it only under-counts calls). */
  private readonly deposit: StoreOp<BudgetResult, BudgetRequest>;
  /** Asks for a retry token (carrying the calls counted since the last report). */
  private readonly withdraw: StoreOp<RetryBudgetDecision, BudgetRequest>;
  private readonly instruments: BudgetInstruments;
  private readonly observe = (result: ObservableResult): void => {
    if (this.available !== undefined) result.observe(this.available, this.instruments.attributes);
  };
  private readonly noteAvailable = (result: BudgetResult): void => {
    if (!Number.isNaN(result.available)) this.available = result.available;
    this.instruments.watch();
  };
  /** A retry the shared store granted also counts in the local view, which stays honest. */
  private readonly countGranted = (result: BudgetResult): BudgetResult => {
    if (result.granted) this.local!.addRetry(this.settings.clock.now());
    return result;
  };

  constructor(private readonly settings: RetryBudgetSettings) {
    this.name = settings.name;
    const store: RetryBudgetStore = settings.store;
    this.store = store.kind;
    const storeSettings = settings.storeSettings;
    // An in-process store never fails, so it needs no local fallback window beside it.
    this.local =
      storeSettings.onStoreError === 'local' && store.inProcess !== true
        ? new BudgetWindow(settings.spec)
        : undefined;
    const scope = store.scope({ name: settings.name, spec: settings.spec });
    this.calls = new StoreCalls({
      pattern: 'retry',
      policy: settings.name,
      store: store.kind,
      settings: storeSettings,
      telemetry: retryTelemetry(),
      probe: scope.probe,
    });
    this.instruments = budgetInstruments(settings.name, store.kind, this.observe);

    const record: StoreInvoke<BudgetResult, BudgetRequest> = (request, signal) =>
      scope.record(request, signal);
    const opOptions = { abortable: scope.abortable === true };
    const notGranted = (): BudgetResult => ({
      granted: false,
      available: this.available ?? Number.NaN,
    });
    // A lost deposit only under-counts calls, which errs on the side of fewer retries.
    this.deposit = this.calls.guarded('deposit', record, notGranted, opOptions);
    const local = this.local;
    // Each answer carries the store error, so that a refusal can say the store did not decide.
    const withdrawFallbacks: StoreFallbacks<RetryBudgetDecision, BudgetRequest> = {
      failOpen: (storeError) => ({
        granted: true,
        available: this.available ?? Number.NaN,
        storeError,
      }),
      failClosed: (storeError) => ({
        granted: false,
        available: this.available ?? Number.NaN,
        storeError,
      }),
      // The local window already holds every call (counted in recordCall).
      local: (storeError) => {
        const { granted, available } = local!.record(this.settings.clock.now(), 0, true);
        return { granted, available, storeError };
      },
    };
    this.withdraw = this.calls.guarded(
      'withdraw',
      local === undefined
        ? record
        : (request, signal) =>
            Promise.resolve(scope.record(request, signal)).then(this.countGranted),
      withdrawFallbacks,
      opOptions,
    );
  }

  get storeStatus(): StoreStatus {
    return this.calls.status;
  }

  recordCall(): void {
    this.pendingCalls++;
    const now = this.settings.clock.now();
    this.local?.addCalls(now, 1);
    if (now >= this.nextFlushAt) this.startDeposit(now);
  }

  async tryAcquire(signal?: AbortSignal): Promise<RetryBudgetDecision> {
    const request = this.takeRequest(this.settings.clock.now(), true);
    const result = await this.withdraw.run(request, signal);
    this.noteAvailable(result);
    return result;
  }

  async flush(): Promise<void> {
    this.startDeposit(this.settings.clock.now());
    await Promise.all(this.inFlight);
  }

  async settle(): Promise<void> {
    // Reports in flight first: a second report racing them would conflict on the item and pay
    // for a re-read and a retry.
    await Promise.all(this.inFlight);
    await this.flush();
    // The deposit falls back silently; the store's last failure (cleared by a success) tells.
    const error = this.calls.lastError;
    if (error !== undefined) throw error;
  }

  onStoreStatusChange(listener: StoreStatusListener): Disposer {
    return this.calls.onStatusChange(listener);
  }

  [POLICY_HEALTH](): PolicyHealth {
    return policyHealth({
      name: this.name,
      pattern: 'retry',
      storeKind: this.store,
      storeStatus: this.calls.status,
      onStoreError: this.settings.storeSettings.onStoreError,
      closed: this.closed,
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    this.instruments.dispose();
    await this.calls.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Takes the calls counted since the last report into a request; the next report is due later. */
  private takeRequest(now: number, withdraw: boolean): BudgetRequest {
    const calls = this.pendingCalls;
    this.pendingCalls = 0;
    this.nextFlushAt = now + this.settings.flushIntervalMs;
    return { calls, withdraw };
  }

  private startDeposit(now: number): void {
    if (this.pendingCalls === 0) {
      this.nextFlushAt = now + this.settings.flushIntervalMs;
      return;
    }
    const answer = this.deposit.run(this.takeRequest(now, false));
    // An in-process store answers synchronously: no promise to track.
    if (!isPromise(answer)) {
      this.noteAvailable(answer);
      return;
    }
    const deposit = answer
      // The store layer turns store failures into the fallback; anything left is a bug in a
      // fallback, which must not become an unhandled rejection on the caller's hot path.
      .then(this.noteAvailable, ignore)
      .finally(() => this.inFlight.delete(deposit));
    this.inFlight.add(deposit);
  }
}
