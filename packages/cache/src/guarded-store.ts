/**
 * The L2 store as the cache calls it: every operation runs under the store deadline and the
 * health gate, is timed and counted, and fails only with a `StoreError` (a `StoreTimeoutError`
 * for a missed deadline). What to do about a failure is the cache's decision (`onStoreError`).
 */
import { isStoreError, StoreError, StoreTimeoutError } from '@breakwater/core';
import type { DeadlineQueue } from './deadline-queue.js';
import type { HealthGate } from './health-gate.js';
import type {
  InvalidationListener,
  LeaseResult,
  RecordWrite,
  StoredRecord,
  StoreNamespace,
  WriteResult,
} from './store.js';
import type { CacheTelemetry, StoreOperationName } from './telemetry.js';

/** A {@link StoreNamespace} behind a deadline, a health gate and telemetry. */
export class GuardedNamespace {
  /** The last failure, for status reports. */
  lastError: StoreError | undefined;

  constructor(
    private readonly inner: StoreNamespace,
    readonly kind: string,
    private readonly deadlines: DeadlineQueue,
    private readonly deadlineMs: number,
    private readonly gate: HealthGate | undefined,
    private readonly telemetry: CacheTelemetry,
  ) {}

  /** Whether the store has an invalidation bus. */
  get hasBus(): boolean {
    return typeof this.inner.subscribe === 'function';
  }

  get(key: string): Promise<StoredRecord | undefined> {
    return this.call('get', () => this.inner.get(key));
  }

  set(key: string, write: RecordWrite): Promise<WriteResult> {
    return this.call('set', () => this.inner.set(key, write));
  }

  delete(key: string, origin: string): Promise<number> {
    return this.call('delete', () => this.inner.delete(key, origin));
  }

  getTagVersions(tags: readonly string[]): Promise<number[]> {
    return this.call('get_tag_versions', () => this.inner.getTagVersions(tags));
  }

  bumpTags(tags: readonly string[], origin: string): Promise<number[]> {
    return this.call('bump_tags', () => this.inner.bumpTags(tags, origin));
  }

  acquireLease(
    key: string,
    token: string,
    ttlMs: number,
    seenVersion: number,
  ): Promise<LeaseResult> {
    return this.call('acquire_lease', () =>
      this.inner.acquireLease(key, token, ttlMs, seenVersion),
    );
  }

  releaseLease(key: string, token: string): Promise<boolean> {
    return this.call('release_lease', () => this.inner.releaseLease(key, token));
  }

  extendLease(key: string, token: string, ttlMs: number): Promise<boolean> {
    return this.call('extend_lease', () => this.inner.extendLease(key, token, ttlMs));
  }

  /** Subscribes to the bus, if the store has one. */
  subscribe(listener: InvalidationListener): (() => void) | undefined {
    return this.inner.subscribe?.(listener);
  }

  /**
   * Runs one store operation under the gate and the deadline. One promise per call: the deadline
   * queue tracks the call instead of wrapping it, and telemetry uses pre-built attribute sets.
   */
  private call<T>(operation: StoreOperationName, run: () => Promise<T>): Promise<T> {
    const gate = this.gate;
    if (gate !== undefined && !gate.allow()) {
      this.telemetry.store(operation, 0, 'rejected');
      return Promise.reject(
        new StoreError(`${this.kind} ${operation} skipped: the store's health gate is open`, {
          store: this.kind,
          operation,
        }),
      );
    }
    const started = performance.now();
    return new Promise<T>((resolve, reject) => {
      const fail = (error: unknown, outcome: 'error' | 'timeout') => {
        this.telemetry.store(operation, (performance.now() - started) / 1000, outcome);
        const storeError = this.toStoreError(error, operation);
        this.lastError = storeError;
        gate?.failure();
        reject(storeError);
      };
      const tracked = this.deadlines.track(
        () => fail(this.timeoutError(operation), 'timeout'),
        started,
      );
      let pending: Promise<T>;
      try {
        pending = run();
      } catch (error) {
        pending = Promise.reject(error);
      }
      pending.then(
        (value) => {
          if (!this.deadlines.settle(tracked)) return;
          this.telemetry.store(operation, (performance.now() - started) / 1000, 'ok');
          gate?.success();
          resolve(value);
        },
        (error: unknown) => {
          if (this.deadlines.settle(tracked)) fail(error, 'error');
        },
      );
    });
  }

  private timeoutError(operation: string): StoreTimeoutError {
    return new StoreTimeoutError(
      `${this.kind} ${operation} did not answer within ${this.deadlineMs} ms`,
      { store: this.kind, operation, deadlineMs: this.deadlineMs },
    );
  }

  private toStoreError(error: unknown, operation: string): StoreError {
    if (isStoreError(error)) return error;
    const detail = error instanceof Error ? error.message : String(error);
    return new StoreError(`${this.kind} ${operation} failed: ${detail}`, {
      store: this.kind,
      operation,
      cause: error,
    });
  }
}
