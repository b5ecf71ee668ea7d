/**
 * Runs a limiter's remote store operations under a deadline and tracks whether the store answers.
 *
 * Deadlines cost no timer per call: every operation of a limiter has the same deadline, so they
 * expire in the order they started. Operations in flight sit in a list, oldest first, which a call
 * leaves as soon as it settles (nothing outlives its call, so the garbage collector never sees
 * finished calls survive into the old generation), and one timer, armed for the oldest, rejects
 * the late ones; under steady traffic it fires about once per deadline, whatever the call rate.
 *
 * While the store is degraded, one operation at a time probes it, at most one per
 * {@link PROBE_INTERVAL_MS}; the other calls fail at once with the last error instead of each
 * waiting out the deadline, so a dead store costs one deadline per interval, not one per call. The
 * first success marks the store healthy again.
 *
 * (Core's `storeGuard` plays the same role with a timer per call; a rate-limit decision is hot
 * enough that this package keeps its own, timer-free version.)
 */
import { type Clock, isStoreError, StoreError, StoreTimeoutError } from '@breakwater/core';
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

/** An operation in flight: a node of the list of operations in flight, oldest first. */
interface InFlight {
  /** `performance.now()` at which it started. */
  readonly started: number;
  /** `performance.now()` at which it is late. */
  readonly expiresAt: number;
  readonly name: StoreOperationName;
  settled: boolean;
  readonly resolve: (value: never) => void;
  readonly reject: (error: unknown) => void;
  /** Aborted when the deadline passes, for stores whose requests can be cancelled. */
  readonly controller: AbortController | undefined;
  /** The caller's signal, and the listener this call added to it. */
  readonly callerSignal: AbortSignal | undefined;
  onCallerAbort: (() => void) | undefined;
  older: InFlight | undefined;
  newer: InFlight | undefined;
}

/** Tracks the health of one limiter's store and bounds each operation. */
export class StoreCalls {
  status: StoreStatus = 'healthy';
  lastError: StoreError | undefined;
  private probing = false;
  /** Clock time before which no call probes a degraded store. */
  private nextProbeAt = 0;
  private readonly listeners = new Set<(change: StoreStatusChange) => void>();
  /**
   * The operations in flight, oldest first. A call leaves the list as soon as it settles, so the
   * list holds only what is really in flight and nothing outlives its call.
   */
  private oldest: InFlight | undefined;
  private newest: InFlight | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly store: string,
    readonly deadlineMs: number,
    private readonly telemetry: LimiterTelemetry,
    /** The limiter's clock, which times the probes (so tests can drive them). */
    private readonly clock: Pick<Clock, 'now'>,
    /** Whether the store's operations honour an AbortSignal (worth creating one per call). */
    private readonly abortable: boolean,
  ) {}

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
    let entry!: InFlight;
    const promise = new Promise<T>((resolve, reject) => {
      entry = {
        started,
        expiresAt: started + this.deadlineMs,
        name,
        settled: false,
        resolve: resolve as (value: never) => void,
        reject,
        controller: this.abortable ? new AbortController() : undefined,
        callerSignal,
        onCallerAbort: undefined,
        older: undefined,
        newer: undefined,
      };
    });
    if (callerSignal !== undefined) {
      const onCallerAbort = () => {
        if (entry.settled) return;
        this.untrack(entry);
        entry.controller?.abort(callerSignal.reason);
        entry.reject(callerSignal.reason);
      };
      entry.onCallerAbort = onCallerAbort;
      callerSignal.addEventListener('abort', onCallerAbort, { once: true });
    }
    this.track(entry);
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
    if (entry.settled) return;
    this.untrack(entry);
    this.telemetry.storeCall(entry.name, (performance.now() - entry.started) / 1000);
    if (this.status === 'degraded') {
      this.status = 'healthy';
      this.lastError = undefined;
      this.notify({ status: 'healthy', store: this.store });
    }
    entry.resolve(value as never);
  }

  private failed(entry: InFlight, error: unknown): void {
    if (entry.settled) return;
    this.untrack(entry);
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

  private track(entry: InFlight): void {
    const newest = this.newest;
    if (newest === undefined) this.oldest = entry;
    else {
      newest.newer = entry;
      entry.older = newest;
    }
    this.newest = entry;
    if (this.timer === undefined) this.arm();
  }

  /** Marks the entry settled and takes it out of the list (and off the caller's signal). */
  private untrack(entry: InFlight): void {
    entry.settled = true;
    if (entry.onCallerAbort !== undefined) {
      entry.callerSignal!.removeEventListener('abort', entry.onCallerAbort);
    }
    const { older, newer } = entry;
    if (older === undefined) this.oldest = newer;
    else older.newer = newer;
    if (newer === undefined) this.newest = older;
    else newer.older = older;
    entry.older = undefined;
    entry.newer = undefined;
  }

  /**
   * Arms the one timer for the oldest operation in flight, if any. A timer left armed for a call
   * that has since settled is not cleared: when it fires it finds nothing late and re-arms for
   * the oldest call then in flight, so under steady traffic it fires about once per deadline.
   */
  private arm(): void {
    const oldest = this.oldest;
    if (oldest === undefined) {
      this.timer = undefined;
      return;
    }
    const wait = Math.max(0, oldest.expiresAt - performance.now());
    this.timer = setTimeout(this.expire, wait);
    // The operations themselves keep the process busy; the deadline must not keep it alive.
    this.timer.unref?.();
  }

  private readonly expire = (): void => {
    this.timer = undefined;
    const now = performance.now();
    for (let entry = this.oldest; entry !== undefined && entry.expiresAt <= now; ) {
      const newer = entry.newer;
      this.untrack(entry);
      const error = new StoreTimeoutError(
        `${this.store} ${entry.name} did not answer within ${this.deadlineMs} ms`,
        { store: this.store, operation: entry.name, deadlineMs: this.deadlineMs },
      );
      entry.controller?.abort(error);
      entry.reject(this.storeFailure(entry.name, error));
      entry = newer;
    }
    this.arm();
  };

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
