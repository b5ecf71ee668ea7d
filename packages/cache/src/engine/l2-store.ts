/**
 * The L2 store as the cache engine calls it, and its health as the cache reports it. The one place
 * that builds the store call path (`GuardedNamespace`: deadline, health gate, telemetry) and the
 * health gate (`HealthGate`); the rest of the engine sees only {@link L2Store}.
 */
import type { DeadlineQueue, StoreError } from '@breakwater/core';
import type { CacheStoreStatus } from '../cache.js';
import { GuardedNamespace } from '../guarded-store.js';
import { HealthGate } from '../health-gate.js';
import type { ResolvedOptions } from '../options.js';
import type {
  CacheStore,
  InvalidationListener,
  LeaseResult,
  RecordWrite,
  StoredRecord,
  WriteResult,
} from '../store.js';
import { type CacheTelemetry, EVENT_STORE_DEGRADED, EVENT_STORE_RECOVERED } from '../telemetry.js';

/**
 * The cache's namespace of its L2 store. Every operation runs under the store deadline and the
 * health gate, is timed and counted, and fails only with a `StoreError` (a `StoreTimeoutError`
 * for a missed deadline). What to do about a failure is the cache's decision (`onStoreError`).
 */
export interface L2Store {
  /** Whether the store has an invalidation bus. */
  readonly hasBus: boolean;
  get(key: string): Promise<StoredRecord | undefined>;
  set(key: string, write: RecordWrite): Promise<WriteResult>;
  delete(key: string, origin: string): Promise<number>;
  getTagVersions(tags: readonly string[]): Promise<number[]>;
  bumpTags(tags: readonly string[], origin: string): Promise<number[]>;
  acquireLease(
    key: string,
    token: string,
    ttlMs: number,
    seenVersion: number,
  ): Promise<LeaseResult>;
  releaseLease(key: string, token: string): Promise<boolean>;
  extendLease(key: string, token: string, ttlMs: number): Promise<boolean>;
  /** Subscribes to the bus, if the store has one. */
  subscribe(listener: InvalidationListener): (() => void) | undefined;
}

/**
 * Opens the cache's namespace of `store` behind the deadline queue and, with `storeBreaker`, a
 * health gate whose changes go to `status`.
 */
export function openL2Store(
  o: ResolvedOptions,
  store: CacheStore,
  deadlines: DeadlineQueue,
  telemetry: CacheTelemetry,
  status: StoreStatusFeed,
): L2Store {
  let guarded: GuardedNamespace | undefined;
  const gate =
    o.storeBreaker === undefined
      ? undefined
      : new HealthGate(
          o.storeBreaker.failureThreshold,
          o.storeBreaker.breakDurationMs,
          o.clock,
          (s) => status.changed(s, guarded?.lastError),
        );
  guarded = new GuardedNamespace(store.namespace(o.name), store.kind, deadlines, gate, telemetry);
  return guarded;
}

/** The subscribers to one cache's L2 health changes. */
export class StoreStatusFeed {
  private readonly listeners = new Set<(status: CacheStoreStatus) => void>();

  constructor(private readonly telemetry: CacheTelemetry) {}

  /** Adds a subscriber; returns a function that removes it. */
  subscribe(listener: (status: CacheStoreStatus) => void): () => void {
    const subscription = (status: CacheStoreStatus) => listener(status);
    this.listeners.add(subscription);
    return () => {
      this.listeners.delete(subscription);
    };
  }

  /** The health gate opened (`degraded`, after `error`) or closed again (`healthy`). */
  changed(status: 'healthy' | 'degraded', error: StoreError | undefined): void {
    const change: CacheStoreStatus = status === 'healthy' ? { status } : { status, error };
    this.telemetry.event(status === 'healthy' ? EVENT_STORE_RECOVERED : EVENT_STORE_DEGRADED);
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch {
        // A subscriber's bug must not break cache calls.
      }
    }
  }
}
