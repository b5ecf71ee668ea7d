/**
 * The in-process permit store: the same lease semantics as the Redis and DynamoDB stores, for a
 * single process, tests and the contract suite. Expired leases are pruned on every decision, as
 * the shared stores do, so a lease that is never released still frees its permit after its TTL.
 */

import { type Clock, systemClock } from '@breakwater/core';
import { admits } from '../admission.js';
import type {
  AcquireRequest,
  AcquireResult,
  Lease,
  PermitSpace,
  PermitSpaceOptions,
  PermitStore,
} from '../store.js';
import { ReleaseWaiters } from './release-waiters.js';

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /** Time source for lease expiry. @default systemClock */
  clock?: Clock | undefined;
}

interface Space {
  /** Lease id → expiry time and class, per space. */
  readonly leases: Map<string, { expiresAt: number; classIndex: number }>;
  fence: number;
  /** This space's waiters for a freed permit. */
  readonly release: ReleaseWaiters;
}

/**
 * An in-process permit store. Bulkheads built on the same store object with the same name share
 * permits, like replicas sharing a Redis store.
 */
export function memoryStore(options: MemoryStoreOptions = {}): PermitStore {
  const clock = options.clock ?? systemClock;
  const spaces = new Map<string, Space>();
  return {
    kind: 'memory',
    space(spaceOptions: PermitSpaceOptions): PermitSpace {
      let space = spaces.get(spaceOptions.name);
      if (space === undefined) {
        space = { leases: new Map(), fence: 0, release: new ReleaseWaiters() };
        spaces.set(spaceOptions.name, space);
      }
      return new MemorySpace(space, clock);
    },
  };
}

class MemorySpace implements PermitSpace {
  constructor(
    private readonly space: Space,
    private readonly clock: Clock,
  ) {}

  /** Drops expired leases; returns live counts per class and the earliest expiry. */
  private prune(classCount: number): { held: number[]; earliest: number } {
    const now = this.clock.now();
    const held = new Array<number>(classCount).fill(0);
    let earliest = Number.POSITIVE_INFINITY;
    for (const [id, lease] of this.space.leases) {
      if (lease.expiresAt <= now) {
        this.space.leases.delete(id);
        continue;
      }
      held[lease.classIndex] = (held[lease.classIndex] ?? 0) + 1;
      if (lease.expiresAt < earliest) earliest = lease.expiresAt;
    }
    return { held, earliest };
  }

  async acquire(request: AcquireRequest): Promise<AcquireResult> {
    const { held, earliest } = this.prune(request.layout.reserved.length);
    if (!admits(request.layout, held, request.classIndex)) {
      const retryAfterMs = Number.isFinite(earliest)
        ? Math.max(1, earliest - this.clock.now())
        : undefined;
      return { granted: false, retryAfterMs };
    }
    const fencingToken = ++this.space.fence;
    this.space.leases.set(request.leaseId, {
      expiresAt: this.clock.now() + request.ttlMs,
      classIndex: request.classIndex,
    });
    return {
      granted: true,
      lease: { id: request.leaseId, classIndex: request.classIndex, fencingToken },
    };
  }

  async renew(lease: Lease, ttlMs: number): Promise<boolean> {
    const held = this.space.leases.get(lease.id);
    const now = this.clock.now();
    if (held === undefined || held.expiresAt <= now) return false;
    held.expiresAt = now + ttlMs;
    return true;
  }

  async release(lease: Lease): Promise<boolean> {
    const existed = this.space.leases.delete(lease.id);
    this.space.release.wakeAll();
    return existed;
  }

  get wakeups(): number {
    return this.space.release.wakeups;
  }

  waitForRelease(timeoutMs: number, signal: AbortSignal | undefined, seen?: number): Promise<void> {
    return this.space.release.wait(this.clock, timeoutMs, signal, seen);
  }

  async close(): Promise<void> {}
}
