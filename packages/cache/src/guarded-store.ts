/**
 * The L2 store as the cache calls it: every operation runs under the store deadline and the
 * health gate, is timed and counted, and fails only with a `StoreError` (a `StoreTimeoutError`
 * for a missed deadline). What to do about a failure is the cache's decision (`onStoreError`).
 */
import {
  type DeadlineEntry,
  type DeadlineQueue,
  isStoreError,
  StoreError,
  StoreTimeoutError,
} from '@breakwater/core';
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
    private readonly gate: HealthGate | undefined,
    private readonly telemetry: CacheTelemetry,
  ) {}

  /** Whether the store has an invalidation bus. */
  get hasBus(): boolean {
    return typeof this.inner.subscribe === 'function';
  }

  get(key: string): Promise<StoredRecord | undefined> {
    // The L2 hit path: no `run` closure, the store's promise is followed directly.
    const call = this.open<StoredRecord | undefined>('get');
    if (call === undefined) return this.refuse('get');
    let pending: Promise<StoredRecord | undefined>;
    try {
      pending = this.inner.get(key);
    } catch (error) {
      pending = Promise.reject(error);
    }
    return this.follow(call, pending);
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
   * Runs one store operation under the gate and the deadline. One promise and no closure of ours
   * per call beyond `run` and the two callbacks on the store's promise: the call object is its own
   * deadline node, and telemetry uses pre-built attribute sets. (A `fail` closure shared by the
   * timeout and the error path made this cost several times as much.)
   */
  private call<T>(operation: StoreOperationName, run: () => Promise<T>): Promise<T> {
    const call = this.open<T>(operation);
    if (call === undefined) return this.refuse(operation);
    let pending: Promise<T>;
    try {
      pending = run();
    } catch (error) {
      pending = Promise.reject(error);
    }
    return this.follow(call, pending);
  }

  /** Starts a call and its deadline, or returns `undefined` when the health gate refuses it. */
  private open<T>(operation: StoreOperationName): StoreCall<T> | undefined {
    const gate = this.gate;
    if (gate !== undefined && !gate.allow()) return undefined;
    const started = performance.now();
    const call = new StoreCall<T>(this, operation, started, this.deadlines.expiryOf(started));
    this.deadlines.enqueue(call);
    return call;
  }

  /** The answer of a call the health gate refused. */
  private refuse(operation: StoreOperationName): Promise<never> {
    this.telemetry.store(operation, 0, 'rejected');
    return Promise.reject(
      new StoreError(`${this.kind} ${operation} skipped: the store's health gate is open`, {
        store: this.kind,
        operation,
      }),
    );
  }

  /** Settles the call's promise like `pending`, unless its deadline passes first. */
  private follow<T>(call: StoreCall<T>, pending: Promise<T>): Promise<T> {
    const answer = new Promise<T>((resolve, reject) => {
      call.resolve = resolve;
      call.reject = reject;
    });
    pending.then(
      (value) => this.succeeded(call, value),
      (error: unknown) => {
        if (this.deadlines.settle(call)) this.failed(call, error, 'error');
      },
    );
    return answer;
  }

  private succeeded<T>(call: StoreCall<T>, value: T): void {
    // A late answer (the deadline already failed the call) is ignored.
    if (!this.deadlines.settle(call)) return;
    this.telemetry.store(call.operation, (performance.now() - call.started) / 1000, 'ok');
    this.gate?.success();
    call.resolve(value);
  }

  /** Fails a call whose deadline passed (called by the deadline queue, through the call). */
  timedOut<T>(call: StoreCall<T>): void {
    this.failed(call, this.timeoutError(call.operation), 'timeout');
  }

  private failed<T>(call: StoreCall<T>, error: unknown, outcome: 'error' | 'timeout'): void {
    this.telemetry.store(call.operation, (performance.now() - call.started) / 1000, outcome);
    const storeError = this.toStoreError(error, call.operation);
    this.lastError = storeError;
    this.gate?.failure();
    call.reject(storeError);
  }

  private timeoutError(operation: string): StoreTimeoutError {
    return new StoreTimeoutError(
      `${this.kind} ${operation} did not answer within ${this.deadlines.deadlineMs} ms`,
      { store: this.kind, operation, deadlineMs: this.deadlines.deadlineMs },
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

/** One store call in flight, and its own node in the deadline queue. */
class StoreCall<T> implements DeadlineEntry {
  prev: DeadlineEntry | undefined = undefined;
  next: DeadlineEntry | undefined = undefined;
  linked = false;
  resolve: (value: T) => void = ignore;
  reject: (error: unknown) => void = ignore;

  constructor(
    private readonly owner: GuardedNamespace,
    readonly operation: StoreOperationName,
    /** `performance.now()` when the call started. */
    readonly started: number,
    readonly expiresAt: number,
  ) {}

  /** The deadline passed before the store answered. */
  fail(): void {
    this.owner.timedOut(this);
  }
}

function ignore(): void {}
