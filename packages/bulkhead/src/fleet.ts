/**
 * Fleet permits: the part of the bulkhead that talks to the permit store. A call that holds a
 * local slot acquires a lease (one store round trip), keeps it renewed while `fn` runs, and
 * releases it (one round trip) when `fn` settles. Waiting callers sleep until the store reports a
 * release (pub/sub, or an in-process event for the memory store), with a bounded poll as the
 * fallback for a missed wake-up.
 */
import { randomUUID } from 'node:crypto';
import {
  isStoreTimeoutError,
  type StoreError,
  type StoreFallbacks,
  type StoreGuard,
  type StoreStatusListener,
  storeGuard,
} from '@breakwater/core';
import { BulkheadRejectedError } from './errors.js';
import { type FleetPermit, HeldPermit } from './held-permit.js';
import { LeaseKeeper } from './lease-keeper.js';
import type { ResolvedClass, ResolvedOptions } from './options.js';
import type { AcquireResult, Lease, PermitLayout, PermitSpace, PermitStore } from './store.js';
import { type BulkheadInstruments, EVENT_LEASE_LOST, EVENT_STORE_DEGRADED } from './telemetry.js';
import { type CancelTimer, schedule } from './timer.js';

/** One acquire attempt: the class, and the lease id sent (to release it if the answer is lost). */
interface AcquireAttempt {
  readonly cls: ResolvedClass;
  readonly leaseId: string;
  /** Whether the request reached the store's client (a degraded guard may answer without it). */
  sent: boolean;
}

/** A call of this process waiting in the fleet queue of its class. */
interface FleetWaiter {
  resolve(permit: FleetPermit): void;
  reject(error: unknown): void;
  /** Removes the abort listener and the timer. */
  cleanup(): void;
}

/** Answer of one guarded acquire: the store's, or a fallback's permit without lease. */
type Attempt = AcquireResult | { readonly granted: 'unleased' };

const UNLEASED: Attempt = Object.freeze({ granted: 'unleased' });

/** The fleet side of one bulkhead. */
export class FleetPermits {
  private readonly space: PermitSpace;
  private readonly guard: StoreGuard;
  private readonly keeper: LeaseKeeper;
  private readonly acquireFallbacks: StoreFallbacks<Attempt, AcquireAttempt>;
  private readonly renewFallbacks: StoreFallbacks<boolean | undefined, Lease>;
  private readonly releaseFallbacks: StoreFallbacks<boolean, Lease>;
  /** Calls running without a lease because the store was down (`'fail-open'`, `'local'`). */
  private unleasedCount = 0;
  private readonly pendingReleases = new Set<Promise<void>>();
  private lastLayout: PermitLayout;
  /** Per class: calls of this process waiting for a fleet permit, in arrival order. */
  private readonly queues: FleetWaiter[][];
  /** Per class: whether its pump runs. */
  private readonly pumping: boolean[];
  /** Per class: aborts the pump's current wait. */
  private readonly pumpWaits: (AbortController | undefined)[];

  constructor(
    private readonly options: ResolvedOptions,
    store: PermitStore,
    private readonly instruments: BulkheadInstruments,
    private readonly readLimit: () => number,
  ) {
    this.guard = storeGuard({
      store: store.kind,
      onStoreError: options.onStoreError,
      deadlineMs: options.storeDeadlineMs,
      onStatusChange: (change) => {
        if (change.status === 'degraded') {
          instruments.telemetry.addSpanEvent(EVENT_STORE_DEGRADED, instruments.base);
        }
      },
    });
    // Built once: the guard then allocates nothing per call beyond the deadline.
    this.acquireFallbacks = {
      failOpen: (error, attempt) => this.unleased(error, attempt),
      failClosed: (error, attempt) => {
        this.failedAcquire(error, attempt);
        throw this.rejection(attempt.cls, 'store-unavailable', options.wakeupPollMs, error);
      },
      local: (error, attempt) => {
        if (this.unleasedCount < options.localMaxConcurrent) return this.unleased(error, attempt);
        this.failedAcquire(error, attempt);
        return { granted: false, retryAfterMs: options.wakeupPollMs };
      },
    };
    // A failed renewal is retried until the lease's end whatever the mode: `undefined` = unknown.
    const renewFailed = (): undefined => {
      this.countStoreError('renew');
      return undefined;
    };
    this.renewFallbacks = { failOpen: renewFailed, failClosed: renewFailed, local: renewFailed };
    // A failed release is not retried: the lease expires by its TTL.
    const releaseFailed = (): boolean => {
      this.countStoreError('release');
      return false;
    };
    this.releaseFallbacks = {
      failOpen: releaseFailed,
      failClosed: releaseFailed,
      local: releaseFailed,
    };
    this.keeper = new LeaseKeeper({
      name: options.name,
      clock: options.clock,
      leaseTtlMs: options.leaseTtlMs,
      renewIntervalMs: options.renewIntervalMs,
      renew: (lease) => this.guard.run('renew', this.renewOperation, this.renewFallbacks, lease),
      lastError: () => this.guard.lastError,
      onLost: () => {
        instruments.leasesLost.add(1, instruments.base);
        instruments.telemetry.addSpanEvent(EVENT_LEASE_LOST, instruments.base);
      },
    });
    this.lastLayout = {
      limit: readLimit(),
      reserved: options.classes.map((c) => c.reserved),
      max: options.classes.map((c) => c.max),
    };
    this.queues = options.classes.map(() => []);
    this.pumping = options.classes.map(() => false);
    this.pumpWaits = options.classes.map(() => undefined);
    this.space = store.space({ name: options.name, classes: options.classes.map((c) => c.name) });
  }

  /** The layout sent with each acquire: the class arrays never change, the limit may. */
  private layout(): PermitLayout {
    const limit = this.readLimit();
    if (this.lastLayout.limit !== limit) {
      this.lastLayout = { limit, reserved: this.lastLayout.reserved, max: this.lastLayout.max };
    }
    return this.lastLayout;
  }

  /**
   * Waits for a permit of class `cls`: one store round trip when one is free and nobody of this
   * process waits ahead. Otherwise the call joins this process's queue of its class, served in
   * order by one pump that retries the store on each wake-up, so a freed permit costs one store
   * call per process rather than one per waiting call. Rejects with a
   * {@link BulkheadRejectedError} (queue-full when the class may not wait, queue-timeout once
   * `maxWaitMs` has passed since `waitStart`, store-unavailable under `'fail-closed'`) or with
   * `signal.reason`.
   */
  async acquire(
    cls: ResolvedClass,
    signal: AbortSignal | undefined,
    waitStart: number,
  ): Promise<FleetPermit> {
    const queue = this.queues[cls.index]!;
    let retryAfterMs: number | undefined;
    // Read before asking, so the pump does not sleep through a release that beats it.
    const seen = this.space.wakeups;
    if (queue.length === 0) {
      const outcome = await this.tryOnce(cls, signal);
      if (outcome instanceof HeldPermit) return outcome;
      retryAfterMs = outcome.retryAfterMs;
      if (cls.maxQueue === 0) throw this.rejection(cls, 'queue-full', retryAfterMs);
    }
    const remaining = waitStart + cls.maxWaitMs - this.options.clock.now();
    if (remaining <= 0) throw this.rejection(cls, 'queue-timeout', retryAfterMs);
    if (signal?.aborted) throw signal.reason;
    return new Promise<FleetPermit>((resolve, reject) => {
      let cancelTimer: CancelTimer | undefined;
      const leave = (): boolean => {
        const index = queue.indexOf(waiter);
        if (index === -1) return false;
        queue.splice(index, 1);
        waiter.cleanup();
        // Nobody left to serve: stop the pump's wait instead of letting it run out.
        if (queue.length === 0) this.pumpWaits[cls.index]?.abort();
        return true;
      };
      const onAbort = (): void => {
        if (leave()) reject(signal!.reason);
      };
      const waiter: FleetWaiter = {
        resolve,
        reject,
        cleanup: () => {
          signal?.removeEventListener('abort', onAbort);
          cancelTimer?.();
        },
      };
      queue.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (remaining !== Number.POSITIVE_INFINITY) {
        cancelTimer = schedule(this.options.clock, remaining, () => {
          if (leave()) reject(this.rejection(cls, 'queue-timeout', retryAfterMs));
        });
      }
      void this.pump(cls, retryAfterMs, seen);
    });
  }

  /** One attempt: a permit, or when to try again. Throws the fail-closed rejection. */
  private async tryOnce(
    cls: ResolvedClass,
    signal: AbortSignal | undefined,
  ): Promise<HeldPermit | { retryAfterMs: number | undefined }> {
    const sentAt = this.options.clock.now();
    const request: AcquireAttempt = { cls, leaseId: randomUUID(), sent: false };
    let attempt: Attempt;
    try {
      attempt = await this.guard.run(
        'acquire',
        this.acquireOperation,
        this.acquireFallbacks,
        request,
        signal,
      );
    } catch (error) {
      // The caller left while the store was deciding: the store may have granted the lease.
      if (signal?.aborted && error === signal.reason && request.sent) this.releaseOrphan(request);
      throw error;
    }
    if (attempt.granted === true) {
      return new HeldPermit(attempt.lease, sentAt, this.options.leaseTtlMs, this.keeper);
    }
    if (attempt.granted === 'unleased') {
      return new HeldPermit(undefined, sentAt, Number.POSITIVE_INFINITY, this.keeper);
    }
    return { retryAfterMs: attempt.retryAfterMs };
  }

  /**
   * Serves the queue of one class in order: waits for a wake-up (a release anywhere, the earliest
   * lease's expiry, or the fallback poll), then tries the store for the call at the head.
   */
  private async pump(
    cls: ResolvedClass,
    firstRetryAfterMs: number | undefined,
    firstSeen: number,
  ): Promise<void> {
    if (this.pumping[cls.index]) return;
    this.pumping[cls.index] = true;
    const queue = this.queues[cls.index]!;
    let retryAfterMs = firstRetryAfterMs;
    let seen = firstSeen;
    try {
      while (queue.length > 0) {
        const wait = new AbortController();
        this.pumpWaits[cls.index] = wait;
        const pollMs = Math.min(
          this.options.wakeupPollMs,
          retryAfterMs ?? Number.POSITIVE_INFINITY,
        );
        await this.space.waitForRelease(Math.max(1, pollMs), wait.signal, seen).catch(() => {});
        this.pumpWaits[cls.index] = undefined;
        // Take every permit there is, one round trip each, before waiting again.
        while (queue.length > 0) {
          let outcome: Awaited<ReturnType<FleetPermits['tryOnce']>>;
          seen = this.space.wakeups;
          try {
            outcome = await this.tryOnce(cls, undefined);
          } catch (error) {
            const head = this.next(queue);
            head?.cleanup();
            head?.reject(error);
            continue;
          }
          if (!(outcome instanceof HeldPermit)) {
            retryAfterMs = outcome.retryAfterMs;
            break;
          }
          const head = this.next(queue);
          if (head === undefined) {
            // The caller left while the store answered: give the permit back.
            void this.finish(outcome);
            break;
          }
          head.cleanup();
          head.resolve(outcome);
        }
      }
    } finally {
      this.pumping[cls.index] = false;
    }
  }

  /** Takes the waiter served next: the oldest, or the newest with `order: 'lifo'`. */
  private next(queue: FleetWaiter[]): FleetWaiter | undefined {
    return this.options.order === 'lifo' ? queue.pop() : queue.shift();
  }

  /** The store's acquire, timed. */
  private readonly acquireOperation = (
    signal: AbortSignal,
    attempt: AcquireAttempt,
  ): Promise<Attempt> => {
    attempt.sent = true;
    return this.timed(
      'acquire',
      this.space.acquire(
        {
          classIndex: attempt.cls.index,
          layout: this.layout(),
          ttlMs: this.options.leaseTtlMs,
          leaseId: attempt.leaseId,
          // Twice the longest sleep, so a waiter's next refusal renews the marker in time.
          refusedWaitMs: 2 * this.options.wakeupPollMs,
        },
        signal,
      ),
    );
  };

  private readonly renewOperation = (signal: AbortSignal, lease: Lease): Promise<boolean> =>
    this.timed('renew', this.space.renew(lease, this.options.leaseTtlMs, signal));

  private readonly releaseOperation = (signal: AbortSignal, lease: Lease): Promise<boolean> =>
    this.timed('release', this.space.release(lease, signal));

  /** A fallback's admission without lease (`'fail-open'`, `'local'`). */
  private unleased(error: StoreError, attempt: AcquireAttempt): Attempt {
    this.failedAcquire(error, attempt);
    this.unleasedCount++;
    return UNLEASED;
  }

  /** Bookkeeping of an acquire the store did not answer. */
  private failedAcquire(error: StoreError, attempt: AcquireAttempt): void {
    this.countStoreError('acquire');
    // A missed deadline may hide a grant: the lease would hold a permit for nobody until it
    // expired.
    if (attempt.sent && isStoreTimeoutError(error)) this.releaseOrphan(attempt);
  }

  /** Gives back, best effort, a lease the store may have granted to a caller that is gone. */
  private releaseOrphan(attempt: AcquireAttempt): void {
    const lease: Lease = { id: attempt.leaseId, classIndex: attempt.cls.index, fencingToken: 0 };
    const release = this.guard
      .run('release', this.releaseOperation, this.releaseFallbacks, lease)
      .then(
        () => {},
        () => {},
      );
    this.pendingReleases.add(release);
    void release.finally(() => this.pendingReleases.delete(release));
  }

  /** Subscribes to the store's status (degraded / healthy again). */
  onStatusChange(listener: StoreStatusListener): () => void {
    return this.guard.onStatusChange(listener);
  }

  /** Stops renewal and gives the permit back. Never rejects: a failed release expires by TTL. */
  finish(permit: FleetPermit): Promise<void> {
    const held = permit as HeldPermit;
    this.keeper.drop(held);
    held.close();
    const lease = held.lease;
    if (lease === undefined) {
      this.unleasedCount--;
      return Promise.resolve();
    }
    const release = this.guard
      .run('release', this.releaseOperation, this.releaseFallbacks, lease)
      .then(
        () => {},
        () => {},
      );
    this.pendingReleases.add(release);
    return release.finally(() => this.pendingReleases.delete(release));
  }

  /** Waits for pending releases, then stops listening for wake-ups. */
  async close(): Promise<void> {
    await Promise.all(this.pendingReleases);
    await this.space.close();
  }

  /** Runs a store operation, recording its duration and outcome when it settles. */
  private async timed<T>(operation: string, pending: Promise<T>): Promise<T> {
    const started = performance.now();
    let ok = false;
    try {
      const value = await pending;
      ok = true;
      return value;
    } finally {
      const attributes = this.instruments.storeAttributes(operation, ok);
      this.instruments.storeDuration.record((performance.now() - started) / 1000, attributes);
    }
  }

  /** Counts an operation answered by a fallback because the store failed. */
  private countStoreError(operation: string): void {
    this.instruments.storeErrors.add(1, this.instruments.storeAttributes(operation, false));
  }

  private rejection(
    cls: ResolvedClass,
    reason: 'queue-full' | 'queue-timeout' | 'store-unavailable',
    retryAfterMs: number | undefined,
    cause?: StoreError,
  ): BulkheadRejectedError {
    const what =
      reason === 'queue-full'
        ? 'every fleet permit is taken and the class may not queue'
        : reason === 'queue-timeout'
          ? `no fleet permit freed within ${cls.maxWaitMs} ms`
          : 'the permit store is unavailable';
    return new BulkheadRejectedError(
      `Bulkhead "${this.options.name}" rejected a ${cls.name} call: ${what}`,
      {
        policyName: this.options.name,
        reason,
        priority: cls.name,
        retryAfterMs,
        cause,
      },
    );
  }
}
