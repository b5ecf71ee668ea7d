/**
 * The cache: a thin policy over the engine's parts. A read goes L1 → (single flight) → L2 →
 * lease → loader:
 *
 * 1. L1 hit within `l1.maxStaleMs` and not voided by a tag: answered here, synchronously from
 *    memory (fresh, or stale with a background refresh). No allocation beyond the returned promise.
 * 2. Otherwise one flight per key in this process: concurrent callers share it ({@link ReadPath}).
 * 3. The flight reads the L2 (one round trip; tag versions come from this process's tag table).
 * 4. On a miss it takes the key's fleet lease — or, if another replica holds it, waits for the
 *    bus to announce the value (with a bounded backoff re-check) and takes over if the lease
 *    expires ({@link FleetLeases}) — then runs the loader and writes the value with a version
 *    check, so a load that raced a `set` or `delete` never overwrites it ({@link LoadFlights}).
 *
 * Writes go through {@link WritePath} (`set`, `write`) and {@link Invalidation} (`delete`,
 * `invalidateTags`); other replicas' invalidations arrive through {@link InvalidationBus};
 * write-behind pins, settles and unpins values through {@link WriteBehindPins}. The tiers are
 * {@link L1Tier} and the L2 store ({@link L2Store}: core's store call path, its health and status
 * events).
 */
import { randomUUID } from 'node:crypto';
import {
  type Clock,
  type Disposer,
  expectFunction,
  expectObject,
  POLICY_HEALTH,
  type PolicyHealth,
  policyHealth,
  type StoreStatus,
  type StoreStatusListener,
  warnUnknownOptions,
} from '@breakwater/core';
import { expectTags, rejectKey, rejectNotFunction } from '../arguments.js';
import type { Cache, PersistContext, WrapOptions, WriteOptions } from '../cache.js';
import { CACHE_HOOKS, type CacheHooks } from '../cache-hooks.js';
import type { Entry } from '../entry.js';
import { WRAP_OPTIONS, WRAP_RENAMES } from '../known-options.js';
import type { Loader } from '../loader-run.js';
import {
  DEFAULTS,
  type GetOrLoadOptions,
  type ResolvedOptions,
  resolvePerCall,
  type SetOptions,
} from '../options.js';
import { CacheTelemetry } from '../telemetry.js';
import { BackgroundWrites } from './background-writes.js';
import { FleetLeases } from './fleet-lease.js';
import { FlightTable } from './flight-table.js';
import { shouldRefreshEarly } from './freshness.js';
import { GraceBackoff } from './grace-backoff.js';
import { Invalidation } from './invalidation.js';
import { InvalidationBus } from './invalidation-bus.js';
import { KeyWaiters } from './key-waiters.js';
import { L1Tier } from './l1-tier.js';
import { L2Reader } from './l2-reader.js';
import { L2Store } from './l2-store.js';
import { LoadFlights } from './load-flight.js';
import { ReadPath } from './read-flight.js';
import { RecentVersions } from './recent-versions.js';
import { TagTable } from './tag-table.js';
import { WriteBehindPins } from './write-behind-pins.js';
import { WritePath } from './write-path.js';

/** The implementation of {@link Cache}. */
export class CacheEngine implements Cache {
  readonly name: string;
  private readonly l1: L1Tier | undefined;
  private readonly tags: TagTable;
  private readonly telemetry: CacheTelemetry;
  private readonly clock: Clock;
  /** The L2 store behind core's store call path; `undefined` without a store. */
  private readonly l2: L2Store | undefined;
  private readonly reads: ReadPath;
  private readonly loads: LoadFlights;
  private readonly leases: FleetLeases;
  private readonly writes: WritePath;
  private readonly invalidation: Invalidation;
  private readonly pins: WriteBehindPins;
  /** Store writes in flight that nobody awaits; `close()` waits for them. */
  private readonly background = new BackgroundWrites();
  private readonly unsubscribe: (() => void) | undefined;
  /** Tells this process's own messages on the bus from other replicas'. */
  private readonly origin = randomUUID();
  private closing: Promise<void> | undefined;

  constructor(private readonly o: ResolvedOptions) {
    this.name = o.name;
    this.clock = o.clock;
    const origin = this.origin;
    // Versions announced on the bus lately: an older read that lands after them stays out of L1.
    const recentVersions = new RecentVersions();
    // Without an L2 the L1 and the tag table are the only truth: nothing to re-check.
    this.l1 =
      o.l1 === undefined
        ? undefined
        : new L1Tier(
            o.l1.maxEntries,
            o.l1.maxBytes,
            o.store === undefined ? Number.POSITIVE_INFINITY : (o.l1.maxStaleMs ?? 0),
            o.clock,
            recentVersions,
          );
    this.telemetry = new CacheTelemetry(o.name, o.store?.kind ?? 'none', () => this.l1?.size ?? 0);
    let ns: L2Store | undefined;
    if (o.store === undefined) {
      ns = undefined;
      this.tags = new TagTable(Number.POSITIVE_INFINITY);
    } else {
      ns = new L2Store(o, o.store, this.telemetry.telemetry);
      // Without an L1, tag versions are still worth remembering when a bus keeps them current.
      this.tags = new TagTable(o.l1?.maxStaleMs ?? (ns.hasBus ? DEFAULTS.l1.maxStaleMs : 0));
    }
    this.l2 = ns;
    const reader = new L2Reader(ns, o.codec, this.tags, this.telemetry, o.clock);
    const flights = new FlightTable();
    // Callers waiting for another replica's load, woken by bus messages.
    const waiters = new KeyWaiters(o.clock);
    const bus = new InvalidationBus(
      this.l1,
      this.tags,
      recentVersions,
      waiters,
      this.telemetry,
      o.clock,
      origin,
      ns?.hasBus ?? false,
    );
    this.invalidation = new Invalidation(
      o,
      ns,
      this.l1,
      this.tags,
      flights,
      bus,
      this.telemetry,
      origin,
    );
    this.writes = new WritePath(o, ns, this.l1, reader, flights, this.invalidation, bus, origin);
    this.leases = new FleetLeases(o, ns, this.l1, reader, waiters, this.background);
    this.loads = new LoadFlights(
      o,
      ns,
      this.l1,
      reader,
      flights,
      this.leases,
      this.writes,
      new GraceBackoff(o.graceBackoffMs, DEFAULTS.maxGraceBackoffMs),
      this.background,
      this.telemetry,
    );
    this.reads = new ReadPath(o, ns, this.l1, reader, flights, this.loads, this.telemetry);
    this.pins = new WriteBehindPins(o, ns, this.l1, flights, this.writes, bus, origin);
    this.unsubscribe = ns?.subscribe((message) => bus.onMessage(message));
  }

  // ---------------------------------------------------------------- reads

  getOrLoad<T>(key: string, loader: Loader<T>, options?: GetOrLoadOptions): Promise<T> {
    if (typeof key !== 'string' || key.length === 0) return rejectKey(key);
    if (typeof loader !== 'function') return rejectNotFunction('loader', loader);
    const l1 = this.l1;
    let candidate: Entry | undefined;
    if (l1 !== undefined) {
      const slot = l1.get(key);
      if (slot !== undefined) {
        const entry = slot.entry;
        if (entry.tags.length === 0 || !this.tags.voids(entry.tags, entry.tagVersions)) {
          candidate = entry;
          const now = this.clock.now();
          if (now < slot.checkUntil) {
            if (now < entry.freshUntil) {
              if (this.o.beta !== 0 && shouldRefreshEarly(entry, now, this.o.beta, this.o.random)) {
                this.loads.refresh(key, loader as Loader<unknown>, options, entry);
              }
              this.telemetry.request('hit', 'l1');
              return Promise.resolve(entry.value as T);
            }
            if (now < entry.staleUntil) {
              this.loads.refresh(key, loader as Loader<unknown>, options, entry);
              this.telemetry.request('stale', 'l1');
              return Promise.resolve(entry.value as T);
            }
          }
        }
      }
    }
    return this.reads.slowPath(key, loader as Loader<unknown>, options, candidate) as Promise<T>;
  }

  get<T = unknown>(key: string): Promise<T | undefined> {
    if (typeof key !== 'string' || key.length === 0) return rejectKey(key);
    const now = this.clock.now();
    const slot = this.l1?.get(key);
    const candidate =
      slot !== undefined &&
      (slot.entry.tags.length === 0 || !this.tags.voids(slot.entry.tags, slot.entry.tagVersions))
        ? slot.entry
        : undefined;
    // An L1 hit answers without an async frame, like getOrLoad's.
    if (candidate !== undefined && now < slot!.checkUntil && now < candidate.staleUntil) {
      this.telemetry.request(now < candidate.freshUntil ? 'hit' : 'stale', 'l1');
      return Promise.resolve(candidate.value as T);
    }
    return this.reads.getFromL2<T>(key, now, candidate);
  }

  // ---------------------------------------------------------------- writes

  set<T>(key: string, value: T, options?: SetOptions): Promise<void> {
    return this.writes.set(key, value, options);
  }

  delete(key: string): Promise<void> {
    return this.invalidation.delete(key);
  }

  invalidateTags(tags: readonly string[]): Promise<void> {
    return this.invalidation.invalidateTags(tags);
  }

  write<T>(
    key: string,
    value: T,
    persist: (value: T, context: PersistContext) => unknown,
    options?: WriteOptions,
  ): Promise<void> {
    return this.writes.write(key, value, persist, options);
  }

  wrap<A extends unknown[], T>(
    fn: (...args: A) => T | PromiseLike<T>,
    options: WrapOptions<A>,
  ): (...args: A) => Promise<Awaited<T>> {
    expectFunction('fn', fn);
    expectObject('options', options);
    warnUnknownOptions('cache.wrap()', options, { known: WRAP_OPTIONS, renames: WRAP_RENAMES });
    const keyOf = expectFunction<(...args: A) => string>('key', options.key);
    const { key: _key, ...callOptions } = options;
    // Validate once here, so a bad option fails at wrap time rather than on the first miss.
    resolvePerCall(callOptions, this.o);
    expectTags(callOptions.tags);
    return (...args: A) =>
      this.getOrLoad(keyOf(...args), () => fn(...args), callOptions) as Promise<Awaited<T>>;
  }

  /** What write-behind needs from this cache (see {@link CacheHooks}). */
  get [CACHE_HOOKS](): CacheHooks {
    return this.pins.hooks;
  }

  // ---------------------------------------------------------------- lifecycle

  clearL1(): void {
    this.l1?.clear();
  }

  get storeStatus(): StoreStatus {
    return this.l2?.status ?? 'healthy';
  }

  [POLICY_HEALTH](): PolicyHealth {
    return policyHealth({
      name: this.name,
      pattern: 'cache',
      storeKind: this.o.store?.kind ?? 'memory',
      storeStatus: this.storeStatus,
      onStoreError: this.o.onStoreError,
      closed: this.closing !== undefined,
    });
  }

  onStoreStatusChange(listener: StoreStatusListener): Disposer {
    expectFunction('listener', listener);
    // Without an L2 there is no store whose status could change.
    return this.l2?.onStatusChange(listener) ?? noop;
  }

  async settle(): Promise<void> {
    // A write that lands may start another (a load's write, then its lease release).
    while (this.background.count > 0) await Promise.all(this.background.pending());
  }

  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private async closeOnce(): Promise<void> {
    this.unsubscribe?.();
    this.loads.abortAll();
    this.leases.close();
    // Aborted loads release their leases a few microtasks from now; then let every write that
    // is still on its way land (each is bounded by the store deadline).
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.background.count > 0) await Promise.all(this.background.pending());
    // Stops the background probe; what is still in flight ends by its deadline at the latest.
    await this.l2?.close();
    this.telemetry.dispose();
    this.l1?.clear();
  }
}

function noop(): void {}
