/**
 * The in-process permit store: the same lease semantics as the Redis and DynamoDB stores, for a
 * single process, tests and the contract suite. Expired leases are pruned on every decision, as
 * the shared stores do, so a lease that is never released still frees its permit after its TTL.
 */

import { type Clock, systemClock, warnUnknownOptions } from '@breakwater/core';
import { admits } from '../admission.js';
import { MEMORY_STORE_OPTIONS } from '../known-options.js';
import type {
  AcquireRequest,
  AcquireResult,
  Lease,
  PermitScope,
  PermitScopeOptions,
  PermitStore,
  ResizeRequest,
  ResizeResult,
} from '../store.js';
import { ContentionListeners, ReleaseWaiters } from './release-waiters.js';

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /** Time source for lease expiry. @default systemClock */
  clock?: Clock | undefined;
}

/** The permits of one bulkhead name. */
interface Permits {
  /** Lease id → expiry time, class and the permits it counts (more than one for a block). */
  readonly leases: Map<string, { expiresAt: number; classIndex: number; permits: number }>;
  fence: number;
  /**
   * Until when (clock time) a refusal counts as recent: a refusal, or a block granted fewer
   * permits than it asked, marks the name as contended for the request's `refusedWaitMs`.
   */
  contendedUntil: number;
  /** Told when the name becomes contended (no refusal was recent). */
  readonly contention: ContentionListeners;
  /** The waiters of this name for a freed permit. */
  readonly release: ReleaseWaiters;
}

/**
 * An in-process permit store. Bulkheads built on the same store object with the same name share
 * permits, like replicas sharing a Redis store.
 */
export function memoryStore(options: MemoryStoreOptions = {}): PermitStore {
  warnUnknownOptions('memoryStore()', options, { known: MEMORY_STORE_OPTIONS });
  const clock = options.clock ?? systemClock;
  const byName = new Map<string, Permits>();
  const close = (): Promise<void> => Promise.resolve();
  return {
    kind: 'memory',
    grantsBlocks: true,
    scope(scopeOptions: PermitScopeOptions): PermitScope {
      let permits = byName.get(scopeOptions.name);
      if (permits === undefined) {
        permits = {
          leases: new Map(),
          fence: 0,
          contendedUntil: 0,
          contention: new ContentionListeners(),
          release: new ReleaseWaiters(),
        };
        byName.set(scopeOptions.name, permits);
      }
      return new MemoryScope(permits, clock);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * How many more permits, up to `wanted`, class `classIndex` may take given `held` (which it
 * updates): the admission rule of `admission.ts`, applied permit by permit.
 */
function grantable(
  layout: AcquireRequest['layout'],
  held: number[],
  classIndex: number,
  wanted: number,
): number {
  let granted = 0;
  while (granted < wanted && admits(layout, held, classIndex)) {
    held[classIndex] = (held[classIndex] ?? 0) + 1;
    granted++;
  }
  return granted;
}

class MemoryScope implements PermitScope {
  constructor(
    private readonly permits: Permits,
    private readonly clock: Clock,
  ) {}

  /** Drops expired leases; returns live counts per class and the earliest expiry. */
  private prune(classCount: number): { held: number[]; earliest: number } {
    const now = this.clock.now();
    const held = new Array<number>(classCount).fill(0);
    let earliest = Number.POSITIVE_INFINITY;
    for (const [id, lease] of this.permits.leases) {
      if (lease.expiresAt <= now) {
        this.permits.leases.delete(id);
        continue;
      }
      held[lease.classIndex] = (held[lease.classIndex] ?? 0) + lease.permits;
      if (lease.expiresAt < earliest) earliest = lease.expiresAt;
    }
    return { held, earliest };
  }

  async acquire(request: AcquireRequest): Promise<AcquireResult> {
    const { held, earliest } = this.prune(request.layout.reserved.length);
    const wanted = request.permits ?? 1;
    const permits = grantable(request.layout, held, request.classIndex, wanted);
    if (permits < wanted) this.contend(request.refusedWaitMs);
    if (permits === 0) {
      const retryAfterMs = Number.isFinite(earliest)
        ? Math.max(1, earliest - this.clock.now())
        : undefined;
      return { granted: false, retryAfterMs };
    }
    const fencingToken = ++this.permits.fence;
    this.permits.leases.set(request.leaseId, {
      expiresAt: this.clock.now() + request.ttlMs,
      classIndex: request.classIndex,
      permits,
    });
    return {
      granted: true,
      lease: { id: request.leaseId, classIndex: request.classIndex, fencingToken, permits },
    };
  }

  async resize(lease: Lease, request: ResizeRequest): Promise<ResizeResult> {
    const { held } = this.prune(request.layout.reserved.length);
    const live = this.permits.leases.get(lease.id);
    if (live === undefined) return { permits: 0, contended: false };
    const wanted = request.permits;
    let permits = wanted;
    if (wanted > live.permits) {
      permits =
        live.permits + grantable(request.layout, held, live.classIndex, wanted - live.permits);
      if (permits < wanted) this.contend(request.refusedWaitMs);
    }
    const gaveBack = permits < live.permits;
    live.permits = permits;
    live.expiresAt = this.clock.now() + request.ttlMs;
    if (gaveBack) this.permits.release.wakeAll();
    return { permits, contended: this.clock.now() < this.permits.contendedUntil };
  }

  /** Marks the name as contended for `ms` (the Redis store's waiting marker). */
  private contend(ms: number): void {
    const now = this.clock.now();
    const fresh = now >= this.permits.contendedUntil;
    this.permits.contendedUntil = Math.max(this.permits.contendedUntil, now + ms);
    if (fresh) this.permits.contention.notify();
  }

  onContention(listener: () => void): () => void {
    return this.permits.contention.add(listener);
  }

  async renew(lease: Lease, ttlMs: number): Promise<boolean> {
    const held = this.permits.leases.get(lease.id);
    const now = this.clock.now();
    if (held === undefined || held.expiresAt <= now) return false;
    held.expiresAt = now + ttlMs;
    return true;
  }

  async release(lease: Lease): Promise<boolean> {
    const existed = this.permits.leases.delete(lease.id);
    this.permits.release.wakeAll();
    return existed;
  }

  get wakeups(): number {
    return this.permits.release.wakeups;
  }

  waitForRelease(timeoutMs: number, signal: AbortSignal | undefined, seen?: number): Promise<void> {
    return this.permits.release.wait(this.clock, timeoutMs, signal, seen);
  }

  async close(): Promise<void> {}
}
