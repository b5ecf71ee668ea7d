/**
 * The store interface a fleet bulkhead needs: permits held as leases. A store performs atomic
 * transitions only (grant a lease if the layout allows it, extend one, drop one); the bulkhead
 * decides everything else. One contract suite runs it unchanged on memory, Redis, Redis Cluster
 * and DynamoDB.
 */

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
  /** Index of the caller's class in the layout (and in the space's class names). */
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
}

/** What an acquire attempt returned. */
export type AcquireResult =
  | { readonly granted: true; readonly lease: Lease }
  | {
      readonly granted: false;
      /** When the earliest live lease expires at the latest, in ms from now, if the store knows. */
      readonly retryAfterMs: number | undefined;
    };

/** The permits of one bulkhead in a store. */
export interface PermitSpace {
  /** Grants a lease when the layout allows one for the class: one atomic store operation. */
  acquire(request: AcquireRequest, signal: AbortSignal): Promise<AcquireResult>;
  /**
   * Extends a live lease to `ttlMs` from now. Resolves `false` when the lease is gone (expired,
   * or never existed): the permit may already belong to someone else.
   */
  renew(lease: Lease, ttlMs: number, signal: AbortSignal): Promise<boolean>;
  /** Drops the lease and wakes waiters; resolves `false` when it was already gone. */
  release(lease: Lease, signal: AbortSignal): Promise<boolean>;
  /**
   * How many wake-ups (releases heard of) this space has seen so far. Read it before an acquire
   * and pass it to {@link waitForRelease}, so a release that lands between a refusal and the
   * wait is not missed.
   */
  readonly wakeups: number;
  /**
   * Resolves when a permit of this space may have been freed anywhere in the fleet (a release),
   * at once if a wake-up came after `seen` (a {@link wakeups} reading), or after `timeoutMs` at
   * the latest: the bounded fallback for a missed wake-up. Rejects with `signal.reason` when
   * `signal` aborts. Removes its listener and timer either way.
   */
  waitForRelease(timeoutMs: number, signal: AbortSignal | undefined, seen?: number): Promise<void>;
  /** Stops listening for wake-ups (closes nothing the user passed in). */
  close(): Promise<void>;
}

/** Identifies one bulkhead's permits inside a store. */
export interface PermitSpaceOptions {
  /** The bulkhead's name: replicas sharing a name share permits. */
  readonly name: string;
  /** Class names in layout order; stores key per-class state by name, not by index. */
  readonly classes: readonly string[];
}

/** A permit store: memory, Redis or DynamoDB. */
export interface PermitStore {
  /** The store kind, reported as the `breakwater.store` attribute (`memory`, `redis`, `dynamodb`). */
  readonly kind: string;
  /** The permits of one bulkhead. Called once, when the bulkhead is built. */
  space(options: PermitSpaceOptions): PermitSpace;
}
