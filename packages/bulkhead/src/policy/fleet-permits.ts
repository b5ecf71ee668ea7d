/**
 * Fleet permits: the part of the bulkhead that talks to the permit store. A call that holds a
 * local slot acquires a lease (one store round trip), keeps it renewed while `fn` runs, and
 * releases it (one round trip) when `fn` settles. Waiting callers sleep until the store reports a
 * release (pub/sub, or an in-process event for the memory store), with a bounded poll as the
 * fallback for a missed wake-up.
 *
 * When the store fails, `onStoreError: 'local'` lets this replica start calls without a permit
 * while it runs fewer than its local cap: `localMaxConcurrent`, or its share of the fleet limit,
 * `max(1, floor(limit / N))` for the N live replicas its replica registry last counted.
 */
import { randomUUID } from 'node:crypto';
import {
  type Disposer,
  isStoreTimeoutError,
  ReplicaRegistry,
  StoreCalls,
  type StoreError,
  type StoreOp,
  type StoreStatus,
  type StoreStatusListener,
} from '@breakwater/core';
import type { ReplicaCount } from '../bulkhead.js';
import type { BulkheadRejectedError } from '../errors.js';
import type { ResolvedClass, ResolvedOptions } from '../options.js';
import type { AcquireResult, Lease, PermitLayout, PermitScope, PermitStore } from '../store.js';
import { type BulkheadInstruments, EVENT_DEGRADED, EVENT_LEASE_LOST } from '../telemetry.js';
import { blockStoreOps } from './block-store-ops.js';
import { type FleetPermit, HeldPermit } from './held-permit.js';
import { LeaseKeeper, leaseClock } from './lease-keeper.js';
import { BlockCall, PermitBlock, PermitBlocks } from './permit-blocks.js';
import { rejectedError } from './rejections.js';
import { type CancelTimer, schedule } from './timer.js';

/** One acquire attempt: the class, and the lease id sent (to release it if the answer is lost). */
export interface AcquireAttempt {
  readonly cls: ResolvedClass;
  readonly leaseId: string;
  /** Whether the request reached the store's client (a degraded store is answered without it). */
  sent: boolean;
}

/** A call of this process waiting in the fleet queue of its class. */
interface FleetWaiter {
  resolve(permit: FleetPermit): void;
  reject(error: unknown): void;
  /** Removes the abort listener and the timer. */
  cleanup(): void;
}

function ignore(): void {}

/** Resolves once `promise` settled (it never rejects here), or after `ms` at the latest. */
function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void promise.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Answer of one guarded acquire: the store's, or a fallback's permit without lease. */
type Attempt = AcquireResult | { readonly granted: 'unleased' };

const UNLEASED: Attempt = Object.freeze({ granted: 'unleased' });

/** The fleet side of one bulkhead. */
export class FleetPermits {
  private readonly scope: PermitScope;
  /** The one store call path (core): deadlines, degraded mode, fallbacks, store telemetry. */
  private readonly calls: StoreCalls;
  private readonly keeper: LeaseKeeper;
  /** The time lease ends are measured on (monotonic with the system clock). */
  private readonly leaseNow: () => number;
  private readonly acquireOp: StoreOp<Attempt, AcquireAttempt>;
  /** `true` extended, `false` gone, `undefined` the store did not answer (retried until the end). */
  private readonly renewOp: StoreOp<boolean | undefined, Lease>;
  /** `false` when the store did not answer: a failed release is not retried, it expires by TTL. */
  private readonly releaseOp: StoreOp<boolean, Lease>;
  /**
   * Permits calls of this process hold now, with a lease or without one (admitted by
   * `'fail-open'` or `'local'` while the store was down): what the local cap counts.
   */
  private held = 0;
  /** Whether `onStoreError` is `'local'`: only then may a call wait for room under a local cap. */
  private readonly local: boolean;
  /** Counts the live replicas, when the local cap follows the fleet's size. */
  private readonly registry: ReplicaRegistry | undefined;
  private readonly pendingReleases = new Set<Promise<void>>();
  private lastLayout: PermitLayout;
  /** Per class: calls of this process waiting for a fleet permit, in arrival order. */
  private readonly queues: FleetWaiter[][];
  /** Per class: whether its pump runs. */
  private readonly pumping: boolean[];
  /** Per class: aborts the pump's current wait. */
  private readonly pumpWaits: (AbortController | undefined)[];
  /** The blocks of permits calls are served from, with `permitQuota` (`permit-blocks.ts`). */
  private readonly blocks: PermitBlocks | undefined;
  /** Stops the blocks hearing of contention from the store. */
  private readonly stopContention: (() => void) | undefined;

  constructor(
    private readonly options: ResolvedOptions,
    store: PermitStore,
    private readonly instruments: BulkheadInstruments,
    private readonly readLimit: () => number,
  ) {
    const scope = store.scope({
      name: options.name,
      classes: options.classes.map((c) => c.name),
    });
    this.scope = scope;
    this.calls = new StoreCalls({
      pattern: 'bulkhead',
      policy: options.name,
      store: store.kind,
      settings: options.storeSettings,
      telemetry: instruments.telemetry,
      probe: scope.probe === undefined ? undefined : (signal) => scope.probe!(signal),
    });
    // Each operation and its fallbacks are built once: a call then allocates nothing for them.
    const abortable = scope.abortable === true;
    this.acquireOp = this.calls.guarded<Attempt, AcquireAttempt>(
      'acquire',
      this.acquireFromStore,
      {
        failOpen: (error, attempt) => this.unleased(error, attempt),
        failClosed: (error, attempt) => {
          this.failedAcquire(error, attempt);
          throw this.rejection(attempt.cls, 'store-unavailable', options.wakeupPollMs, error);
        },
        local: (error, attempt) => {
          // Calls holding a lease count too: they load the downstream like the others.
          if (this.held < this.localMaxConcurrent()) return this.unleased(error, attempt);
          this.failedAcquire(error, attempt);
          return { granted: false, retryAfterMs: options.wakeupPollMs };
        },
      },
      { abortable },
    );
    this.renewOp = this.calls.guarded<boolean | undefined, Lease>(
      'renew',
      (lease, signal) => scope.renew(lease, options.leaseTtlMs, signal),
      () => undefined,
      { abortable },
    );
    this.releaseOp = this.calls.guarded<boolean, Lease>(
      'release',
      (lease, signal) => scope.release(lease, signal),
      () => false,
      { abortable },
    );
    this.leaseNow = leaseClock(options.clock);
    this.keeper = new LeaseKeeper({
      name: options.name,
      clock: options.clock,
      now: this.leaseNow,
      leaseTtlMs: options.leaseTtlMs,
      renewIntervalMs: options.renewIntervalMs,
      renew: (permit) =>
        permit instanceof PermitBlock
          ? this.blocks!.renew(permit)
          : Promise.resolve(this.renewOp.run(permit.lease!)),
      lastError: () => this.calls.lastError,
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
    this.blocks =
      options.permitQuota === undefined
        ? undefined
        : this.createBlocks(options.permitQuota, scope, abortable);
    const blocks = this.blocks;
    this.stopContention =
      blocks === undefined ? undefined : scope.onContention?.(() => blocks.contention());
    // Only a store that can fail apart from this process has a registry (and only the share sized
    // by the fleet needs it); its heartbeats run through the same call path as the permits.
    this.local = options.storeSettings.onStoreError === 'local';
    const backend =
      this.local && options.localMaxConcurrent === undefined ? scope.replicaBackend?.() : undefined;
    if (backend !== undefined) {
      this.registry = new ReplicaRegistry({ calls: this.calls, backend, ...options.replicaTiming });
      this.registry.start();
    }
  }

  /**
   * The most calls this replica runs while it starts calls without a permit: `localMaxConcurrent`,
   * or `max(1, floor(limit / N))` — at least one call per replica, so that no replica stops
   * entirely; the fleet then runs at most `N × max(1, floor(limit / N)) <= max(limit, N)`.
   */
  private localMaxConcurrent(): number {
    const given = this.options.localMaxConcurrent;
    if (given !== undefined) return given;
    return Math.max(1, Math.floor(this.readLimit() / (this.registry?.count ?? 1)));
  }

  /** The fleet as this replica counts it; `undefined` without a replica registry. */
  get replicas(): ReplicaCount | undefined {
    const registry = this.registry;
    if (registry === undefined) return undefined;
    return {
      count: registry.count,
      ageMs: registry.ageMs,
      localMaxConcurrent: this.localMaxConcurrent(),
    };
  }

  /** `'healthy'`, or `'degraded'` while acquires take the `onStoreError` answer at once. */
  get status(): StoreStatus {
    return this.calls.status;
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
    const blocks = this.blocks;
    if (blocks !== undefined) {
      const call = await blocks.take(cls, signal);
      if (call !== undefined) {
        this.held++;
        return call;
      }
    }
    const queue = this.queues[cls.index]!;
    let retryAfterMs: number | undefined;
    // Read before asking, so the pump does not sleep through a release that beats it.
    const seen = this.scope.wakeups;
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
    const sentAt = this.leaseNow();
    const request: AcquireAttempt = { cls, leaseId: randomUUID(), sent: false };
    let attempt: Attempt;
    try {
      attempt = await this.acquireOp.run(request, signal);
    } catch (error) {
      // The caller left while the store was deciding: the store may have granted the lease.
      if (signal?.aborted && error === signal.reason && request.sent) this.releaseOrphan(request);
      throw error;
    }
    if (attempt.granted === true) {
      this.held++;
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
        await this.scope.waitForRelease(Math.max(1, pollMs), wait.signal, seen).catch(() => {});
        this.pumpWaits[cls.index] = undefined;
        // Take every permit there is, one round trip each, before waiting again.
        while (queue.length > 0) {
          let outcome: Awaited<ReturnType<FleetPermits['tryOnce']>>;
          seen = this.scope.wakeups;
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

  /** The store's acquire (through {@link acquireOp}). */
  private readonly acquireFromStore = (
    attempt: AcquireAttempt,
    signal: AbortSignal | undefined,
  ): Promise<Attempt> => {
    attempt.sent = true;
    return this.scope.acquire(
      {
        classIndex: attempt.cls.index,
        layout: this.layout(),
        ttlMs: this.options.leaseTtlMs,
        leaseId: attempt.leaseId,
        // Twice the longest sleep, so a waiter's next refusal renews the marker in time.
        refusedWaitMs: 2 * this.options.wakeupPollMs,
      },
      signal,
    );
  };

  /**
   * A fallback's admission without lease (`'fail-open'`, `'local'`): never silent, it is counted
   * by the `degraded` metric and added as a span event.
   */
  private unleased(error: StoreError, attempt: AcquireAttempt): Attempt {
    this.failedAcquire(error, attempt);
    this.held++;
    const attributes = this.instruments.classAttributes[attempt.cls.index]!;
    this.instruments.degraded.add(1, attributes);
    this.instruments.telemetry.addSpanEvent(EVENT_DEGRADED, attributes);
    return UNLEASED;
  }

  /** Bookkeeping of an acquire the store did not answer. */
  private failedAcquire(error: StoreError, attempt: AcquireAttempt): void {
    // A missed deadline may hide a grant: the lease would hold a permit for nobody until it
    // expired.
    if (attempt.sent && isStoreTimeoutError(error)) this.releaseOrphan(attempt);
  }

  /** Gives back, best effort, a lease the store may have granted to a caller that is gone. */
  private releaseOrphan(attempt: AcquireAttempt): void {
    const lease: Lease = { id: attempt.leaseId, classIndex: attempt.cls.index, fencingToken: 0 };
    void this.release(lease);
  }

  /**
   * Releases `lease` under the deadline, then runs `then`; never rejects (a failed release
   * expires by TTL). `settle()` waits for both.
   */
  private release(lease: Lease, then?: () => void): Promise<void> {
    const release = Promise.resolve(this.releaseOp.run(lease))
      .then((released) => {
        // No release reached the store, so no wake-up comes from it: under `'local'`, the room
        // this call leaves under the local cap would otherwise wait for the next poll.
        if (!released && this.local) this.wakeLocalWaiters();
      }, ignore)
      .then(then);
    this.pendingReleases.add(release);
    return release.finally(() => this.pendingReleases.delete(release));
  }

  /**
   * Waits for the releases under way (each bounded by the store deadline); rejects with the
   * store's error when its last operation failed, as a permit may then stay taken until its lease
   * expires.
   */
  async settle(): Promise<void> {
    // A frozen process would hold its idle blocks until their leases expire.
    this.blocks?.handBackIdle();
    await Promise.all(this.pendingReleases);
    const error = this.calls.lastError;
    if (error !== undefined) throw error;
  }

  /** Subscribes to the store's status (degraded / healthy again); returns the disposer. */
  onStatusChange(listener: StoreStatusListener): Disposer {
    return this.calls.onStatusChange(listener);
  }

  /**
   * Stops renewal and gives the permit back, then runs `then` (the caller's local bookkeeping).
   * Never rejects: a failed release expires by TTL.
   */
  finish(permit: FleetPermit, then?: () => void): Promise<void> {
    if (permit instanceof BlockCall) {
      this.held--;
      this.blocks!.finish(permit);
      then?.();
      return Promise.resolve();
    }
    const held = permit as HeldPermit;
    this.keeper.drop(held);
    held.close();
    this.held--;
    const lease = held.lease;
    if (lease === undefined) {
      if (this.local) this.wakeLocalWaiters();
      return Promise.resolve().then(then);
    }
    return this.release(lease, then);
  }

  /** Builds the blocks of `permitQuota`, their store operations on the one call path. */
  private createBlocks(quota: number, scope: PermitScope, abortable: boolean): PermitBlocks {
    const ops = blockStoreOps({
      calls: this.calls,
      scope,
      abortable,
      options: this.options,
      layout: () => this.layout(),
      failedAcquire: (error, attempt) => this.failedAcquire(error, attempt),
    });
    return new PermitBlocks(
      {
        quota,
        renewIntervalMs: this.options.renewIntervalMs,
        leaseTtlMs: this.options.leaseTtlMs,
        now: this.leaseNow,
        limit: this.readLimit,
        keeper: this.keeper,
        acquire: ops.acquire,
        resize: ops.resize,
        release: (lease) => this.release(lease),
        onRoom: (classIndex) => this.serveFromBlock(classIndex),
      },
      this.options.classes.length,
    );
  }

  /** Hands free permits of a class's block to the calls of this process queued for one. */
  private serveFromBlock(classIndex: number): void {
    const queue = this.queues[classIndex]!;
    while (queue.length > 0) {
      const call = this.blocks!.tryTake(classIndex);
      if (call === undefined) return;
      const head = this.next(queue)!;
      head.cleanup();
      this.held++;
      head.resolve(call);
    }
    // Nobody left to serve: stop the pump's wait instead of letting it run out.
    this.pumpWaits[classIndex]?.abort();
  }

  /** Ends the current wait of every pump of this process, so each asks again now. */
  private wakeLocalWaiters(): void {
    for (const wait of this.pumpWaits) wait?.abort();
  }

  /**
   * Leaves the replica registry, stops the background probe, waits for pending releases and
   * operations in flight — each ends by its deadline at the latest — then stops listening for
   * wake-ups. Waits one deadline at most:
   * what those operations start as they end (the release of a lease that an acquire which missed
   * its deadline may still have been granted) runs under a deadline of its own, without holding
   * up `close()` for a second one.
   */
  async close(): Promise<void> {
    // Idle blocks are released now, within this close; busy ones once their last call ends.
    this.blocks?.close();
    this.stopContention?.();
    // The registry's goodbye is an operation in flight like the others (the TTL covers a miss).
    const leaving = this.registry?.close();
    const inFlight = Promise.all([...this.pendingReleases, leaving, this.calls.close()]);
    await settleWithin(inFlight, this.calls.deadlineMs);
    await this.scope.close();
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
    return rejectedError(this.options.name, cls.name, reason, what, retryAfterMs, cause);
  }
}
