/**
 * Reservation mode: permits this replica took from the store in a batch and hands out locally.
 *
 * The bound: a replica holds at most `batch − 1` unused permits of a key (a batch is taken only
 * when the pool cannot pay for the call, and the call is paid from it at once). Permits taken
 * before a window of `intervalMs` and spent inside it are the only admissions the store did not
 * see in that window, so with R replicas the fleet admits at most `limit + burst + R × (batch − 1)`
 * in any window (whole costs). Permits are dropped after `holdMs`, never returned late, so the
 * store's view is never more than `holdMs` behind.
 */
import { isStoreError, type StoreOp } from '@breakwater/core';
import type { RateLimitDecision } from '../decision.js';
import type { StoreHandle } from '../store.js';
import { wholeMs } from './describe-decision.js';
import type { ConsumeRequest, RefundRequest } from './store-ops.js';

interface Pool {
  /** Unused permits. */
  permits: number;
  /** Store time at which they were taken (refunds of window algorithms need it). */
  takenAt: number;
  /** Local clock time after which they are dropped. */
  expiresAt: number;
  /** Local clock time at which the key's allowance is full again, as the store last said. */
  resetAt: number;
  limit: number;
  intervalMs: number;
}

/** Unused permits of one key, handed back on close. */
export interface UnusedPermits {
  readonly key: string;
  readonly permits: number;
  readonly takenAt: number;
}

/** The reserved permits of one limiter, per key; at most `maxKeys` keys (oldest dropped). */
export class Reservations {
  private readonly pools = new Map<string, Pool>();
  /**
   * Keys whose batch is on its way from the store. Callers that find the pool empty meanwhile
   * wait for it rather than each fetching a batch of their own: one round trip per batch, and
   * never two pools of one key (which would loosen the bound).
   */
  private readonly fetching = new Map<string, Promise<unknown>>();

  constructor(
    /** Permits taken per round trip. */
    readonly batch: number,
    private readonly holdMs: number,
    private readonly maxKeys = 10_000,
  ) {}

  /** Pays `cost` from the key's pool at local time `now`, if the pool can; else `undefined`. */
  take(key: string, cost: number, now: number): RateLimitDecision | undefined {
    const pool = this.pools.get(key);
    if (pool === undefined) return undefined;
    if (now >= pool.expiresAt) {
      this.pools.delete(key);
      return undefined;
    }
    if (pool.permits < cost) return undefined;
    pool.permits -= cost;
    return {
      allowed: true,
      limit: pool.limit,
      intervalMs: pool.intervalMs,
      remaining: Math.floor(pool.permits),
      retryAfterMs: 0,
      resetAfterMs: wholeMs(pool.resetAt - now),
      source: 'reservation',
    };
  }

  /**
   * Keeps `permits` the store granted beyond the call's cost. Leftovers of an older pool of the key
   * (too few to pay a call) are dropped rather than merged, which keeps the bound above.
   */
  keep(
    key: string,
    permits: number,
    takenAt: number,
    now: number,
    decision: RateLimitDecision,
  ): void {
    this.pools.delete(key);
    if (permits <= 0) return;
    this.pools.set(key, {
      permits,
      takenAt,
      expiresAt: now + this.holdMs,
      resetAt: now + decision.resetAfterMs,
      limit: decision.limit,
      intervalMs: decision.intervalMs,
    });
    if (this.pools.size > this.maxKeys) {
      for (const oldest of this.pools.keys()) {
        this.pools.delete(oldest);
        break;
      }
    }
  }

  /** The batch of `key` being fetched, if any. */
  pending(key: string): Promise<unknown> | undefined {
    return this.fetching.get(key);
  }

  /** Marks `fetch` as the batch of `key` on its way; returns it. */
  fetch<T>(key: string, fetch: Promise<T>): Promise<T> {
    this.fetching.set(key, fetch);
    const done = () => {
      if (this.fetching.get(key) === fetch) this.fetching.delete(key);
    };
    fetch.then(done, done);
    return fetch;
  }

  /** Unused permits of the pools still held at `now`, handing them all over (close()). */
  drain(now: number): UnusedPermits[] {
    const unused: UnusedPermits[] = [];
    for (const [key, pool] of this.pools) {
      if (now < pool.expiresAt && pool.permits > 0) {
        unused.push({ key, permits: pool.permits, takenAt: pool.takenAt });
      }
    }
    this.pools.clear();
    return unused;
  }

  /** Drops the pool of `key` (after a reset). */
  forget(key: string): void {
    this.pools.delete(key);
  }
}

/**
 * Gives the unused reserved permits back (at `close()`): in place to an in-process store, else
 * one refund each, bounded by the store deadline. A permit that cannot be returned is simply not
 * reused: the fleet under-admits a little.
 */
export async function refundReserved(
  reservations: Reservations,
  now: number,
  handle: StoreHandle,
  refund: StoreOp<void, RefundRequest>,
): Promise<void> {
  const refunds: Promise<void>[] = [];
  for (const { key, permits, takenAt } of reservations.drain(now)) {
    if (!handle.remote) {
      handle.refund(key, permits, takenAt, now, undefined);
      continue;
    }
    const refunded = refund.run({ key, permits, takenAt, now });
    if (refunded instanceof Promise) refunds.push(refunded.catch(ignoreStoreError));
  }
  await Promise.all(refunds);
}

/**
 * One store round trip asking for a reservation batch. A call answered without the store (its
 * deadline passed, the store failed, the caller aborted) is marked abandoned, and the batch the
 * store may still grant afterwards is not kept: the key's fetch ended with that answer, so the next
 * caller may be fetching another batch already, and keeping both would let a replica hold more
 * than `batch − 1` permits the store counted earlier (the bound above). Dropped permits only make
 * the fleet under-admit.
 */
export function fetchBatch(
  consume: StoreOp<RateLimitDecision, ConsumeRequest>,
  call: ConsumeRequest,
  signal: AbortSignal | undefined,
): Promise<RateLimitDecision> {
  return Promise.resolve(consume.run(call, signal)).then(
    (decision) => {
      if (decision.source !== 'store') call.abandoned = true;
      return decision;
    },
    (error: unknown) => {
      call.abandoned = true;
      throw error;
    },
  );
}

function ignoreStoreError(error: unknown): void {
  if (!isStoreError(error)) throw error;
}
