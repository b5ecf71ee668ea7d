/**
 * Runs a limiter's remote store operations under a deadline and tracks whether the store answers.
 *
 * Deadlines cost no timer per call: every operation of a limiter has the same deadline, so they
 * expire in the order they started, and core's {@link DeadlineQueue} keeps them in one list with
 * one timer armed for the oldest. A call leaves the list as soon as it settles (nothing outlives
 * its call, so the garbage collector never sees finished calls survive into the old generation);
 * each call is its own node in the list, so tracking it allocates nothing more.
 *
 * While the store is degraded, one operation at a time probes it, at most one per
 * {@link PROBE_INTERVAL_MS}; the other calls fail at once with the last error instead of each
 * waiting out the deadline, so a dead store costs one deadline per interval, not one per call. The
 * first success marks the store healthy again.
 *
 * (Core's `storeGuard` plays the same role with a timer per call; a rate-limit decision is hot
 * enough to be worth the timer-free queue, as the cache's L2 reads are.)
 */
import {
  type Clock,
  type DeadlineEntry,
  DeadlineQueue,
  isStoreError,
  StoreError,
  StoreTimeoutError,
} from '@breakwater/core';
import type { LimiterTelemetry, StoreOperationName } from './telemetry.js';

/** While degraded, how often a call may try the store again, in milliseconds. */
export const PROBE_INTERVAL_MS = 1000;

/** The store answers, or does not. */
export type StoreStatus = 'healthy' | 'degraded';

/** A change of {@link StoreStatus}; `error` is what degraded it. */
export interface StoreStatusChange {
  /** The new status. */
  readonly status: StoreStatus;
  /** The store kind: `'redis'`, `'dynamodb'`, … */
  readonly store: string;
  /** The failure that degraded the store (on `'degraded'` only). */
  readonly error?: StoreError | undefined;
}

/** An operation in flight, and its own node in the deadline queue. */
class InFlight implements DeadlineEntry {
  prev: DeadlineEntry | undefined = undefined;
  next: DeadlineEntry | undefined = undefined;
  linked = false;
  resolve: (value: never) => void = ignore;
  reject: (error: unknown) => void = ignore;
  /** The listener this call added to the caller's signal. */
  onCallerAbort: (() => void) | undefined = undefined;

  constructor(
    private readonly owner: StoreCalls,
    readonly name: StoreOperationName,
    /** `performance.now()` at which it started. */
    readonly started: number,
    /** `performance.now()` at which it is late. */
    readonly expiresAt: number,
    /** Aborted when the deadline passes, for stores whose requests can be cancelled. */
    readonly controller: AbortController | undefined,
    /** The caller's signal. */
    readonly callerSignal: AbortSignal | undefined,
  ) {}

  /** The deadline passed before the store answered. */
  fail(): void {
    this.owner.timedOut(this);
  }
}

function ignore(): void {}

/** Tracks the health of one limiter's store and bounds each operation. */
export class StoreCalls {
  status: StoreStatus = 'healthy';
  lastError: StoreError | undefined;
  private probing = false;
  /** Clock time before which no call probes a degraded store. */
  private nextProbeAt = 0;
  private readonly listeners = new Set<(change: StoreStatusChange) => void>();
  /** The operations in flight, each under the deadline. */
  private readonly deadlines: DeadlineQueue;

  constructor(
    readonly store: string,
    deadlineMs: number,
    private readonly telemetry: LimiterTelemetry,
    /** The limiter's clock, which times the probes (so tests can drive them). */
    private readonly clock: Pick<Clock, 'now'>,
    /** Whether the store's operations honour an AbortSignal (worth creating one per call). */
    private readonly abortable: boolean,
  ) {
    this.deadlines = new DeadlineQueue(deadlineMs);
  }

  /**
   * Runs `operation` under the deadline. Resolves with its value, or rejects with a
   * {@link StoreError} (a {@link StoreTimeoutError} when the deadline passed), or with the
   * caller's `signal.reason` when the caller aborted: that is not a store failure.
   */
  run<T>(
    name: StoreOperationName,
    operation: (signal: AbortSignal | undefined) => T | PromiseLike<T>,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    if (this.status === 'healthy') return this.attempt(name, operation, signal);
    if (this.probing || this.clock.now() < this.nextProbeAt) return Promise.reject(this.lastError!);
    this.probing = true;
    return this.attempt(name, operation, signal).finally(() => {
      this.probing = false;
    });
  }

  /** Subscribes to status changes; returns the unsubscribe function. */
  subscribe(listener: (change: StoreStatusChange) => void): () => void {
    const subscription = (change: StoreStatusChange) => listener(change);
    this.listeners.add(subscription);
    return () => {
      this.listeners.delete(subscription);
    };
  }

  /**
   * One promise per operation: the store's answer settles it directly (no async frames stacked on
   * top of each other), and the deadline and the caller's signal settle it first if they come first.
   */
  private attempt<T>(
    name: StoreOperationName,
    operation: (signal: AbortSignal | undefined) => T | PromiseLike<T>,
    callerSignal: AbortSignal | undefined,
  ): Promise<T> {
    if (callerSignal?.aborted) return Promise.reject(callerSignal.reason);
    const started = performance.now();
    const entry = new InFlight(
      this,
      name,
      started,
      this.deadlines.expiryOf(started),
      this.abortable ? new AbortController() : undefined,
      callerSignal,
    );
    const promise = new Promise<T>((resolve, reject) => {
      entry.resolve = resolve as (value: never) => void;
      entry.reject = reject;
    });
    if (callerSignal !== undefined) {
      const onCallerAbort = () => {
        if (!this.release(entry)) return;
        entry.controller?.abort(callerSignal.reason);
        entry.reject(callerSignal.reason);
      };
      entry.onCallerAbort = onCallerAbort;
      callerSignal.addEventListener('abort', onCallerAbort, { once: true });
    }
    this.deadlines.enqueue(entry);
    let pending: T | PromiseLike<T>;
    try {
      pending = operation(entry.controller?.signal ?? callerSignal);
    } catch (error) {
      // A synchronous throw is a store failure like any other, not a crash of the caller.
      this.failed(entry, error);
      return promise;
    }
    if (isThenable(pending)) {
      pending.then(
        (value) => this.succeeded(entry, value),
        (error: unknown) => this.failed(entry, error),
      );
    } else {
      this.succeeded(entry, pending);
    }
    return promise;
  }

  private succeeded(entry: InFlight, value: unknown): void {
    if (!this.release(entry)) return;
    if (this.telemetry.recording) {
      this.telemetry.storeCall(entry.name, (performance.now() - entry.started) / 1000);
    }
    if (this.status === 'degraded') {
      this.status = 'healthy';
      this.lastError = undefined;
      this.notify({ status: 'healthy', store: this.store });
    }
    entry.resolve(value as never);
  }

  private failed(entry: InFlight, error: unknown): void {
    if (!this.release(entry)) return;
    entry.reject(this.storeFailure(entry.name, error));
  }

  /** Fails an operation whose deadline passed (called by the deadline queue, through the entry). */
  timedOut(entry: InFlight): void {
    this.detach(entry);
    const error = new StoreTimeoutError(
      `${this.store} ${entry.name} did not answer within ${this.deadlines.deadlineMs} ms`,
      { store: this.store, operation: entry.name, deadlineMs: this.deadlines.deadlineMs },
    );
    entry.controller?.abort(error);
    entry.reject(this.storeFailure(entry.name, error));
  }

  /** Records a failed operation, degrades the store, and returns the error to reject with. */
  private storeFailure(name: StoreOperationName, error: unknown): StoreError {
    this.telemetry.storeError(name);
    const storeError = isStoreError(error)
      ? error
      : new StoreError(
          `${this.store} ${name} failed: ${error instanceof Error ? error.message : String(error)}`,
          { store: this.store, operation: name, cause: error },
        );
    this.lastError = storeError;
    this.nextProbeAt = this.clock.now() + PROBE_INTERVAL_MS;
    if (this.status === 'healthy') {
      this.status = 'degraded';
      this.notify({ status: 'degraded', store: this.store, error: storeError });
    }
    return storeError;
  }

  /**
   * Takes a settling operation out of the deadline queue and off the caller's signal. Returns
   * `false` if its outcome was already decided (deadline passed, caller aborted): ignore it then.
   */
  private release(entry: InFlight): boolean {
    if (!this.deadlines.settle(entry)) return false;
    this.detach(entry);
    return true;
  }

  private detach(entry: InFlight): void {
    if (entry.onCallerAbort !== undefined) {
      entry.callerSignal!.removeEventListener('abort', entry.onCallerAbort);
    }
  }

  private notify(change: StoreStatusChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (error) {
        // A faulty subscriber must neither break the call nor starve the other subscribers.
        process.emitWarning(
          `A store status listener threw: ${error instanceof Error ? error.message : String(error)}`,
          { type: 'BreakwaterWarning', code: 'BREAKWATER_LISTENER_ERROR' },
        );
      }
    }
  }
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
