/**
 * The in-process L2 store: for a single process, and for tests that model a fleet with several
 * caches sharing one store. It implements the full store contract, including the invalidation bus
 * (delivered synchronously to every cache of the same name in this process) and leases.
 */
import {
  type Clock,
  expectInteger,
  expectObject,
  systemClock,
  warnUnknownOptions,
} from '@breakwater/core';
import { ClockCache } from '../clock-cache.js';
import { MEMORY_STORE_OPTIONS, MEMORY_STORE_RENAMES } from '../known-options.js';
import type {
  CacheScope,
  CacheStore,
  InvalidationListener,
  InvalidationMessage,
  LeaseResult,
  RecordWrite,
  StoredRecord,
  WriteResult,
} from '../store.js';

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Upper bound on the number of records per cache name; the least recently used go first.
   * @default 100_000
   */
  maxEntries?: number;
  /**
   * The clock that expires records and leases. Give the same fake clock as the cache in tests.
   * @default systemClock
   */
  clock?: Clock;
}

/** Defaults of {@link MemoryStoreOptions}. */
export const MEMORY_STORE_DEFAULTS = { maxEntries: 100_000 } as const;

/**
 * An in-process store. Records are encoded strings, like in Redis, so a value read back is a copy
 * that callers can mutate safely. Lost when the process exits.
 *
 * @example
 * const c = cache({ name: 'profiles', store: memoryStore(), ttlMs: 60_000 });
 */
export function memoryStore(options: MemoryStoreOptions = {}): CacheStore {
  expectObject('options', options);
  warnUnknownOptions('memoryStore() (@breakwater/cache)', options, {
    known: MEMORY_STORE_OPTIONS,
    renames: MEMORY_STORE_RENAMES,
  });
  const maxEntries = expectInteger(
    'maxEntries',
    options.maxEntries ?? MEMORY_STORE_DEFAULTS.maxEntries,
  );
  const clock = options.clock ?? systemClock;
  const scopes = new Map<string, MemoryScope>();
  // Nothing to release: the store holds no connection, and its records live as long as it does.
  const close = (): Promise<void> => Promise.resolve();
  return {
    kind: 'memory',
    scope(cacheName) {
      let scope = scopes.get(cacheName);
      if (scope === undefined) {
        scope = new MemoryScope(maxEntries, clock);
        scopes.set(cacheName, scope);
      }
      return scope;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

interface Slot {
  version: number;
  /** `undefined` for a tombstone: the key was deleted, its version is kept to stay monotonic. */
  record: string | undefined;
  expiresAt: number;
}

class MemoryScope implements CacheScope {
  private readonly records: ClockCache<Slot>;
  private readonly tags = new Map<string, number>();
  private readonly leases = new Map<string, { token: string; expiresAt: number }>();
  private readonly listeners = new Set<InvalidationListener>();

  constructor(
    maxEntries: number,
    private readonly clock: Clock,
  ) {
    this.records = new ClockCache<Slot>(maxEntries, Number.POSITIVE_INFINITY);
  }

  async get(key: string): Promise<StoredRecord | undefined> {
    const slot = this.live(key);
    return slot?.record === undefined ? undefined : { version: slot.version, record: slot.record };
  }

  async set(key: string, write: RecordWrite): Promise<WriteResult> {
    const current = this.currentVersion(key);
    if (write.leaseToken !== undefined) {
      // A load's write lands only under its live lease (see RecordWrite.leaseToken).
      const lease = this.leases.get(key);
      const held = lease?.token === write.leaseToken && lease.expiresAt > this.clock.now();
      if (!held) return { written: false, version: current };
      this.release(key, write.leaseToken);
    }
    if (write.expectVersion !== undefined && write.expectVersion !== current) {
      return { written: false, version: current };
    }
    // A write that lands ends the key's lease: its own holder's (released above), or, for a
    // `set`, a running load's, whose value would be older (see RecordWrite.leaseToken).
    this.leases.delete(key);
    const version = this.nextVersion(key);
    const expiresAt =
      write.ttlMs === undefined ? Number.POSITIVE_INFINITY : this.clock.now() + write.ttlMs;
    this.records.set(key, { version, record: write.record, expiresAt }, 1);
    this.publish({ kind: 'keys', origin: write.origin, keys: [key], versions: [version] });
    return { written: true, version };
  }

  async delete(key: string, origin: string): Promise<number> {
    // Ends the key's lease too: a load running now may have read what this delete invalidates.
    this.leases.delete(key);
    const version = this.nextVersion(key);
    this.records.set(key, { version, record: undefined, expiresAt: Number.POSITIVE_INFINITY }, 1);
    this.publish({ kind: 'keys', origin, keys: [key], versions: [version] });
    return version;
  }

  async getTagVersions(tags: readonly string[]): Promise<number[]> {
    return tags.map((tag) => this.tags.get(tag) ?? 0);
  }

  async bumpTags(tags: readonly string[], origin: string): Promise<number[]> {
    const versions = tags.map((tag) => {
      const version = (this.tags.get(tag) ?? 0) + 1;
      this.tags.set(tag, version);
      return version;
    });
    this.publish({ kind: 'tags', origin, tags, versions });
    return versions;
  }

  async acquireLease(
    key: string,
    token: string,
    ttlMs: number,
    seenVersion: number,
  ): Promise<LeaseResult> {
    const slot = this.live(key);
    const version = slot?.record === undefined ? 0 : slot.version;
    if (version !== seenVersion) {
      return {
        status: 'changed',
        current: slot?.record === undefined ? undefined : { version, record: slot.record },
      };
    }
    const now = this.clock.now();
    const lease = this.leases.get(key);
    if (lease !== undefined && lease.expiresAt > now) {
      return { status: 'held', ttlMs: lease.expiresAt - now };
    }
    this.leases.set(key, { token, expiresAt: now + ttlMs });
    return { status: 'acquired' };
  }

  async releaseLease(key: string, token: string): Promise<boolean> {
    return this.release(key, token);
  }

  async extendLease(key: string, token: string, ttlMs: number): Promise<boolean> {
    const lease = this.leases.get(key);
    const now = this.clock.now();
    if (lease === undefined || lease.token !== token || lease.expiresAt <= now) return false;
    lease.expiresAt = now + ttlMs;
    return true;
  }

  subscribe(listener: InvalidationListener): () => void {
    const subscription: InvalidationListener = (message) => listener(message);
    this.listeners.add(subscription);
    return () => {
      this.listeners.delete(subscription);
    };
  }

  private release(key: string, token: string): boolean {
    const lease = this.leases.get(key);
    if (lease === undefined || lease.token !== token) return false;
    this.leases.delete(key);
    return true;
  }

  /** The slot of `key` if it has not expired; expired slots are dropped on the way. */
  private live(key: string): Slot | undefined {
    const slot = this.records.get(key);
    if (slot === undefined) return undefined;
    if (slot.expiresAt <= this.clock.now()) {
      // Keep the version (as a tombstone) so the next write still gets a larger one.
      slot.record = undefined;
      slot.expiresAt = Number.POSITIVE_INFINITY;
    }
    return slot;
  }

  /** The version a conditional write compares with: 0 when there is no live record. */
  private currentVersion(key: string): number {
    const slot = this.live(key);
    return slot?.record === undefined ? 0 : slot.version;
  }

  private nextVersion(key: string): number {
    const previous = this.records.peek(key)?.version ?? 0;
    return Math.max(previous + 1, Math.floor(this.clock.now() * 1000));
  }

  private publish(message: InvalidationMessage): void {
    for (const listener of this.listeners) {
      try {
        listener(message);
      } catch {
        // A cache's listener never throws by design; a faulty one must not break the write.
      }
    }
  }
}
