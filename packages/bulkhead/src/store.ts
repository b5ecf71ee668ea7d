/**
 * The store interface a fleet bulkhead needs: permits held as leases. A store performs atomic
 * transitions only (grant a lease if the layout allows it, extend one, drop one); the bulkhead
 * decides everything else. One contract suite runs it unchanged on memory, Redis, Redis Cluster
 * and DynamoDB.
 */
import type { ReplicaBackend } from '@breakwater/core';

/**
 * How the fleet's permits are divided between priority classes, sent with every acquire so that
 * the store can apply the same admission rule as the local bulkhead (see `admits()`).
 */
export interface PermitLayout {
  /** The fleet-wide limit: no more than this many leases may be live at once. */
  readonly limit: number;
  /** Per class (in the order of the bulkhead's `classes`): slots only that class may use. */
  readonly reserved: readonly number[];
  /** Per class: the most leases the class may hold at once (`Infinity` for no cap of its own). */
  readonly max: readonly number[];
}

/** One acquire attempt. */
export interface AcquireRequest {
  /** Index of the caller's class in the layout (and in the scope's class names). */
  readonly classIndex: number;
  /** The current layout. */
  readonly layout: PermitLayout;
  /** How long the lease lives unless renewed, in milliseconds. */
  readonly ttlMs: number;
  /** A unique id for the new lease (random, chosen by the bulkhead). */
  readonly leaseId: string;
  /**
   * The longest a refused caller sleeps before asking again. A store that pays for each wake-up
   * it sends (Redis publishes) may send them only while a refusal is this recent.
   */
  readonly refusedWaitMs: number;
  /**
   * The most permits wanted in this one lease (a block, see `permitQuota`): the store grants as
   * many of them as the layout allows, at least one, in one atomic operation, and the lease then
   * counts that many against the limit. Only a scope with {@link PermitScope.resize} reads it.
   * @default 1
   */
  readonly permits?: number | undefined;
}

/** A request to change how many permits a block lease counts (see {@link PermitScope.resize}). */
export interface ResizeRequest {
  /** The current layout (a grow obeys it like an acquire). */
  readonly layout: PermitLayout;
  /** How long the lease lives from now unless renewed again, in milliseconds. */
  readonly ttlMs: number;
  /**
   * The number of permits wanted, an integer >= 1. Fewer than the lease counts: the lease gives
   * the difference back. More: the lease takes as many more as the layout allows, up to this.
   */
  readonly permits: number;
  /**
   * How long a refusal counts as recent (see {@link AcquireRequest.refusedWaitMs}): a grow cut
   * short marks the fleet as contended for this long.
   */
  readonly refusedWaitMs: number;
}

/** What {@link PermitScope.resize} answered. */
export interface ResizeResult {
  /** The permits the lease counts now; `0` when it is gone. */
  readonly permits: number;
  /**
   * Whether some caller was refused a permit (or granted fewer than it asked) within its
   * `refusedWaitMs`: the fleet is near its limit, and a block should give back what it does not
   * use.
   */
  readonly contended: boolean;
}

/** A permit held in the store. */
export interface Lease {
  /** The id given in the request. */
  readonly id: string;
  /** Index of the class the lease counts against. */
  readonly classIndex: number;
  /**
   * Strictly increasing per bulkhead across the fleet: a downstream that remembers the highest
   * token it saw can refuse work from a holder whose lease was lost and handed on.
   */
  readonly fencingToken: number;
  /** How many permits the lease counts: more than one for a block (`permitQuota`). @default 1 */
  readonly permits?: number | undefined;
}

/** What an acquire attempt returned. */
export type AcquireResult =
  | { readonly granted: true; readonly lease: Lease }
  | {
      readonly granted: false;
      /** When the earliest live lease expires at the latest, in ms from now, if the store knows. */
      readonly retryAfterMs: number | undefined;
    };

/**
 * The permits of one bulkhead in a store: the store scoped to one policy.
 *
 * `signal` is the caller's signal, or — when {@link abortable} is `true` — a signal of the call's
 * own that also aborts when the store deadline passes. A store that cannot stop a request may
 * ignore it: the bulkhead stops waiting at the deadline either way.
 */
export interface PermitScope {
  /**
   * Whether `acquire`, `renew` and `release` stop their request when their signal aborts (a
   * DynamoDB request). The bulkhead then gives each call a signal of its own, aborted at the
   * deadline; otherwise it creates none.
   * @default false
   */
  readonly abortable?: boolean | undefined;
  /** Grants a lease when the layout allows one for the class: one atomic store operation. */
  acquire(request: AcquireRequest, signal: AbortSignal | undefined): Promise<AcquireResult>;
  /**
   * Extends a live lease to `ttlMs` from now. Resolves `false` when the lease is gone (expired,
   * or never existed): the permit may already belong to someone else.
   */
  renew(lease: Lease, ttlMs: number, signal: AbortSignal | undefined): Promise<boolean>;
  /**
   * Renews a block lease and changes how many permits it counts, in one atomic operation (see
   * {@link ResizeRequest}); resolves with the count the lease holds now — `0` when it is gone
   * (the permits may belong to others already) — and whether the fleet is contended. Giving permits back wakes waiters like a release.
   * A store without it cannot serve `permitQuota` (the bulkhead refuses the option at
   * construction).
   */
  resize?(
    lease: Lease,
    request: ResizeRequest,
    signal: AbortSignal | undefined,
  ): Promise<ResizeResult>;
  /**
   * Subscribes to contention: `listener` runs when a caller anywhere in the fleet is refused a
   * permit (or granted fewer than it asked) while no refusal was recent — the Redis store
   * publishes it on the bulkhead's channel. Blocks (`permitQuota`) then give back the permits
   * they do not use at once, instead of at their next renewal. Returns the function that
   * unsubscribes. Optional: without it, blocks notice contention at their next resize.
   */
  onContention?(listener: () => void): () => void;
  /** Drops the lease and wakes waiters; resolves `false` when it was already gone. */
  release(lease: Lease, signal: AbortSignal | undefined): Promise<boolean>;
  /**
   * A cheap request that proves the store answers again (a `return 1` script on one of the
   * bulkhead's keys, a GetItem of its item). While the store is degraded the bulkhead runs it in
   * the background, under the deadline, once per `storeProbeIntervalMs`. Without it, one real
   * operation per interval is let through as the probe.
   */
  probe?(signal: AbortSignal): PromiseLike<unknown>;
  /**
   * The bulkhead's replica registry in this store, in the bulkhead's own key space (Redis: a
   * sorted set in its hash slot; DynamoDB: one item under its prefix). Under
   * `onStoreError: 'local'` the bulkhead counts the live replicas through it to size its local
   * cap (`maxConcurrent / N`). A store that cannot fail apart from this process (the in-process
   * store) has none: its bulkheads count one replica.
   */
  replicaBackend?(): ReplicaBackend;
  /**
   * How many wake-ups (releases heard of) this scope has seen so far. Read it before an acquire
   * and pass it to {@link waitForRelease}, so a release that lands between a refusal and the
   * wait is not missed.
   */
  readonly wakeups: number;
  /**
   * Resolves when a permit of this scope may have been freed anywhere in the fleet (a release),
   * at once if a wake-up came after `seen` (a {@link wakeups} reading), or after `timeoutMs` at
   * the latest: the bounded fallback for a missed wake-up. Rejects with `signal.reason` when
   * `signal` aborts. Removes its listener and timer either way.
   */
  waitForRelease(timeoutMs: number, signal: AbortSignal | undefined, seen?: number): Promise<void>;
  /**
   * Stops listening for wake-ups. Completes at once whatever the store's state; the scope's
   * operations still work (a bulkhead used after `close()` falls back to polling).
   */
  close(): Promise<void>;
}

/** Identifies one bulkhead's permits inside a store. */
export interface PermitScopeOptions {
  /** The bulkhead's name: replicas sharing a name share permits. */
  readonly name: string;
  /** Class names in layout order; stores key per-class state by name, not by index. */
  readonly classes: readonly string[];
}

/** A permit store: memory, Redis or DynamoDB. */
export interface PermitStore {
  /** The store kind, reported as the `breakwater.store` attribute (`memory`, `redis`, `dynamodb`). */
  readonly kind: string;
  /**
   * Whether its scopes grant blocks of permits (`permits` in an acquire, and `resize`): what a
   * bulkhead with `permitQuota` needs.
   * @default false
   */
  readonly grantsBlocks?: boolean | undefined;
  /** Scopes the store to one bulkhead. Called once, when the bulkhead is built. */
  scope(options: PermitScopeOptions): PermitScope;
  /**
   * Closes what the store opened itself (a Redis subscriber connection, DynamoDB polls), never a
   * client you passed in. Completes within the store deadline with the store up, refused or hung.
   */
  close(): Promise<void>;
  /** `close()`, for `await using store = redisStore(...)`. */
  [Symbol.asyncDispose](): Promise<void>;
}
