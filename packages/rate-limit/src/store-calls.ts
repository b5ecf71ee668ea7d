/**
 * Runs a limiter's remote store operations under a deadline and tracks whether the store answers.
 *
 * Deadlines cost no timer per call: every operation of a limiter has the same deadline, so they
 * expire in the order they started. Operations in flight wait in a FIFO queue, and one timer,
 * armed for the oldest, rejects the late ones; under steady traffic it fires about once per
 * deadline, whatever the call rate.
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

/** An operation in flight. */
interface InFlight {
  /** `performance.now()` at which it is late. */
  readonly expiresAt: number;
  readonly name: StoreOperationName;
  settled: boolean;
  readonly reject: (error: unknown) => void;
  /** Aborted when the deadline passes, for stores whose requests can be cancelled. */
  readonly controller: AbortController | undefined;
}

/** Compact the queue once this many settled entries sit at its head. */
const COMPACT_AFTER = 1024;

/** Tracks the health of one limiter's store and bounds each operation. */
export class StoreCalls {
  status: StoreStatus = 'healthy';
  lastError: StoreError | undefined;
  private probing = false;
  /** Clock time before which no call probes a degraded store. */
  private nextProbeAt = 0;
  private readonly listeners = new Set<(change: StoreStatusChange) => void>();
  private readonly inFlight: InFlight[] = [];
  private head = 0;
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
    operation: (signal: AbortSignal | undefined) => T | Promise<T>,
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

  private async attempt<T>(
    name: StoreOperationName,
    operation: (signal: AbortSignal | undefined) => T | Promise<T>,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    let value: T;
    const started = performance.now();
    try {
      value = await this.withDeadline(name, operation, signal, started);
    } catch (error) {
      if (signal?.aborted && error === signal.reason) throw error;
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
      throw storeError;
    }
    this.telemetry.storeCall(name, (performance.now() - started) / 1000);
    if (this.status === 'degraded') {
      this.status = 'healthy';
      this.lastError = undefined;
      this.notify({ status: 'healthy', store: this.store });
    }
    return value;
  }

  private withDeadline<T>(
    name: StoreOperationName,
    operation: (signal: AbortSignal | undefined) => T | Promise<T>,
    callerSignal: AbortSignal | undefined,
    started: number,
  ): Promise<T> {
    if (callerSignal?.aborted) return Promise.reject(callerSignal.reason);
    return new Promise<T>((resolve, reject) => {
      const controller = this.abortable ? new AbortController() : undefined;
      const entry: InFlight = {
        expiresAt: started + this.deadlineMs,
        name,
        settled: false,
        reject,
        controller,
      };
      const onCallerAbort =
        callerSignal === undefined
          ? undefined
          : () => {
              if (entry.settled) return;
              entry.settled = true;
              controller?.abort(callerSignal.reason);
              reject(callerSignal.reason);
            };
      if (onCallerAbort !== undefined) {
        callerSignal!.addEventListener('abort', onCallerAbort, { once: true });
      }
      this.track(entry);
      const settle = (ok: boolean, value: unknown): void => {
        if (onCallerAbort !== undefined) callerSignal!.removeEventListener('abort', onCallerAbort);
        if (entry.settled) return;
        entry.settled = true;
        if (ok) resolve(value as T);
        else reject(value);
      };
      let pending: T | Promise<T>;
      try {
        pending = operation(controller?.signal ?? callerSignal);
      } catch (error) {
        // A synchronous throw is a store failure like any other, not a crash of the caller.
        pending = Promise.reject(error);
      }
      Promise.resolve(pending).then(
        (value) => settle(true, value),
        (error: unknown) => settle(false, error),
      );
    });
  }

  private track(entry: InFlight): void {
    this.inFlight.push(entry);
    if (this.timer === undefined) this.arm();
  }

  /** Arms the one timer for the oldest operation still in flight, if any. */
  private arm(): void {
    const queue = this.inFlight;
    while (this.head < queue.length && queue[this.head]!.settled) this.head++;
    if (this.head === queue.length) {
      queue.length = 0;
      this.head = 0;
      this.timer = undefined;
      return;
    }
    if (this.head >= COMPACT_AFTER) {
      queue.splice(0, this.head);
      this.head = 0;
    }
    const wait = Math.max(0, queue[this.head]!.expiresAt - performance.now());
    this.timer = setTimeout(this.expire, wait);
    // The operations themselves keep the process busy; the deadline must not keep it alive.
    this.timer.unref?.();
  }

  private readonly expire = (): void => {
    this.timer = undefined;
    const now = performance.now();
    const queue = this.inFlight;
    while (this.head < queue.length) {
      const entry = queue[this.head]!;
      if (!entry.settled) {
        if (entry.expiresAt > now) break;
        entry.settled = true;
        const error = new StoreTimeoutError(
          `${this.store} ${entry.name} did not answer within ${this.deadlineMs} ms`,
          { store: this.store, operation: entry.name, deadlineMs: this.deadlineMs },
        );
        entry.controller?.abort(error);
        entry.reject(error);
      }
      this.head++;
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
