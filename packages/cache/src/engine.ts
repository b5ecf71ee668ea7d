/**
 * The cache logic, written once against the {@link StoreNamespace} interface.
 *
 * A read goes L1 → (single flight) → L2 → lease → loader:
 *
 * 1. L1 hit within `l1.maxStaleMs` and not voided by a tag: answered synchronously from memory
 *    (fresh, or stale with a background refresh). No allocation beyond the returned promise.
 * 2. Otherwise one flight per key in this process: concurrent callers share it.
 * 3. The flight reads the L2 (one round trip; tag versions come from this process's tag table).
 * 4. On a miss it takes the key's fleet lease — or, if another replica holds it, waits for the
 *    bus to announce the value (with a bounded backoff re-check) and takes over if the lease
 *    expires — then runs the loader and writes the value with a version check, so a load that
 *    raced a `set` or `delete` never overwrites it.
 */
import { randomUUID } from 'node:crypto';
import {
  type Clock,
  DeadlineQueue,
  expectFunction,
  expectObject,
  isTimeoutError,
  raceAbort,
  TimeoutError,
} from '@breakwater/core';
import { approximateSize } from './approximate-size.js';
import { expectKey, expectTags, rejectKey, rejectNotFunction } from './arguments.js';
import type {
  Cache,
  CacheStoreStatus,
  PersistContext,
  WrapOptions,
  WriteOptions,
} from './cache.js';
import { EMPTY_TAGS, type Entry, type EntryMeta } from './entry.js';
import { isCacheCodecError } from './errors.js';
import type { Flight, Job, L2Read, LoadFlight, Outcome, ReadFlight } from './flight.js';
import { entryTimes, physicalTtlMs, shouldRefreshEarly } from './freshness.js';
import { GraceBackoff } from './grace-backoff.js';
import { GuardedNamespace } from './guarded-store.js';
import { HealthGate } from './health-gate.js';
import { KeyWaiters } from './key-waiters.js';
import { failedRead, L2Reader } from './l2-reader.js';
import { LeaseKeeper } from './lease-keeper.js';
import { type Loader, runLoader } from './loader-run.js';
import { Lru } from './lru.js';
import {
  CACHE_DEFAULTS,
  type GetOrLoadOptions,
  type ResolvedOptions,
  type ResolvedPerCall,
  resolvePerCall,
  type SetOptions,
} from './options.js';
import { RecentVersions } from './recent-versions.js';
import { type EncodedValue, encodeRecord, encodeValue, NEGATIVE } from './record.js';
import type { InvalidationMessage } from './store.js';
import { TagTable } from './tag-table.js';
import {
  CacheTelemetry,
  EVENT_GRACE,
  EVENT_STORE_DEGRADED,
  EVENT_STORE_RECOVERED,
  type Tier,
} from './telemetry.js';
import { CACHE_HOOKS, type CacheHooks } from './write-behind/options.js';

/** The meta of an untagged entry written at `now` whose every window ends at `until`. */
const untilMeta = (now: number, until: number, negative: boolean): EntryMeta => ({
  createdAt: now,
  freshUntil: until,
  staleUntil: until,
  graceUntil: until,
  loadMs: 0,
  negative,
  tags: EMPTY_TAGS.tags,
  tagVersions: EMPTY_TAGS.versions,
});

/** An L1 entry and until when it may be served without asking the L2. */
interface L1Slot {
  readonly entry: Entry;
  readonly checkUntil: number;
}

const MAX_LEASE_POLL_MS = 1_000;
const FIRST_LEASE_POLL_MS = 25;

/** The implementation of {@link Cache}. */
export class CacheEngine implements Cache {
  readonly name: string;
  private readonly l1: Lru<L1Slot> | undefined;
  private readonly l1TrustMs: number;
  private readonly ns: GuardedNamespace | undefined;
  private readonly tags: TagTable;
  private readonly reader: L2Reader;
  private readonly flights = new Map<string, Flight>();
  private readonly backoff: GraceBackoff;
  private readonly telemetry: CacheTelemetry;
  private readonly clock: Clock;
  private readonly origin = randomUUID();
  private readonly deadlines: DeadlineQueue;
  /** Abort callbacks of the loaders running now, called by `close()`. */
  private readonly running = new Set<(reason: unknown) => void>();
  private closed = false;
  /** Store writes in flight that nobody awaits; `close()` waits for them. */
  private readonly unsettled = new Set<Promise<void>>();
  private readonly leaseKeeper: LeaseKeeper | undefined;
  private readonly statusListeners = new Set<(status: CacheStoreStatus) => void>();
  /** Callers waiting for another replica's load, woken by bus messages. */
  private readonly waiters: KeyWaiters;
  /** Versions announced on the bus lately: an older read that lands after them stays out of L1. */
  private readonly recentVersions = new RecentVersions();
  private readonly unsubscribe: (() => void) | undefined;

  constructor(private readonly o: ResolvedOptions) {
    this.name = o.name;
    this.clock = o.clock;
    this.waiters = new KeyWaiters(o.clock);
    this.l1 = o.l1 === undefined ? undefined : new Lru<L1Slot>(o.l1.maxEntries, o.l1.maxBytes);
    this.telemetry = new CacheTelemetry(o.name, o.store?.kind ?? 'none', () => this.l1?.size ?? 0);
    this.backoff = new GraceBackoff(o.graceBackoffMs, CACHE_DEFAULTS.maxGraceBackoffMs);
    this.deadlines = new DeadlineQueue(o.storeDeadlineMs);
    if (o.store === undefined) {
      // Without an L2 the L1 and the tag table are the only truth: nothing to re-check.
      this.ns = undefined;
      this.l1TrustMs = Number.POSITIVE_INFINITY;
      this.tags = new TagTable(Number.POSITIVE_INFINITY);
      this.reader = new L2Reader(undefined, o.codec, this.tags, this.telemetry, o.clock);
      this.unsubscribe = undefined;
      this.leaseKeeper = undefined;
      return;
    }
    const gate =
      o.storeBreaker === undefined
        ? undefined
        : new HealthGate(
            o.storeBreaker.failureThreshold,
            o.storeBreaker.breakDurationMs,
            o.clock,
            (s) => this.onGateChange(s),
          );
    this.ns = new GuardedNamespace(
      o.store.namespace(o.name),
      o.store.kind,
      this.deadlines,
      gate,
      this.telemetry,
    );
    this.l1TrustMs = o.l1?.maxStaleMs ?? 0;
    // Without an L1, tag versions are still worth remembering when a bus keeps them current.
    const tagTrustMs = o.l1?.maxStaleMs ?? (this.ns.hasBus ? CACHE_DEFAULTS.l1.maxStaleMs : 0);
    this.tags = new TagTable(tagTrustMs);
    this.reader = new L2Reader(this.ns, o.codec, this.tags, this.telemetry, o.clock);
    this.unsubscribe = this.ns.subscribe((message) => this.onBusMessage(message));
    const ns = this.ns;
    this.leaseKeeper =
      o.lease === undefined
        ? undefined
        : new LeaseKeeper(o.lease.ttlMs, o.clock, (key, token, ttlMs) =>
            ns.extendLease(key, token, ttlMs),
          );
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
                this.refreshInBackground(key, loader as Loader<unknown>, options, entry);
              }
              this.telemetry.request('hit', 'l1');
              return Promise.resolve(entry.value as T);
            }
            if (now < entry.staleUntil) {
              this.refreshInBackground(key, loader as Loader<unknown>, options, entry);
              this.telemetry.request('stale', 'l1');
              return Promise.resolve(entry.value as T);
            }
          }
        }
      }
    }
    return this.slowPath(key, loader as Loader<unknown>, options, candidate) as Promise<T>;
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
    return this.getFromL2<T>(key, now, candidate);
  }

  /** `get` past the L1: plain callbacks on the store read, no async frame and no {@link L2Read}. */
  private getFromL2<T>(
    key: string,
    now: number,
    candidate: Entry | undefined,
  ): Promise<T | undefined> {
    const ns = this.ns;
    if (ns === undefined) {
      this.telemetry.request('miss', 'l1');
      return Promise.resolve(undefined);
    }
    return ns.get(key).then(
      (stored) => {
        if (stored === undefined) return this.gotFromL2<T>(key, undefined);
        const entry = this.reader.usable(stored);
        return entry instanceof Promise
          ? entry.then((checked) => this.gotFromL2<T>(key, checked))
          : this.gotFromL2<T>(key, entry);
      },
      (error: unknown) => {
        if (this.o.onStoreError === 'fail-closed') throw error;
        if (
          this.o.onStoreError === 'local' &&
          candidate !== undefined &&
          now < candidate.staleUntil
        ) {
          this.telemetry.request(now < candidate.freshUntil ? 'hit' : 'stale', 'l1');
          return candidate.value as T;
        }
        this.telemetry.request('miss', 'l2');
        return undefined;
      },
    );
  }

  private gotFromL2<T>(key: string, entry: Entry | undefined): T | undefined {
    const at = this.clock.now();
    if (entry !== undefined && at < entry.staleUntil) {
      this.putL1(key, entry, undefined);
      this.telemetry.request(at < entry.freshUntil ? 'hit' : 'stale', 'l2');
      return entry.value as T;
    }
    this.telemetry.request('miss', 'l2');
    return undefined;
  }

  /**
   * Everything but an L1 hit. Not an `async` function: the common case (no signal) chains one
   * callback on the flight's promise and allocates nothing else.
   */
  private slowPath(
    key: string,
    loader: Loader<unknown>,
    options: GetOrLoadOptions | undefined,
    candidate: Entry | undefined,
  ): Promise<unknown> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const existing = this.flights.get(key);
    if (existing !== undefined) {
      this.telemetry.request('coalesced', 'l1');
      const shared = existing.value ?? existing.outcome.then(outcomeValue);
      return signal === undefined ? shared : raceAbort(shared, signal);
    }
    try {
      const settings = options === undefined ? this.o : resolvePerCall(options, this.o);
      const tags = expectTags(options?.tags);
      if (this.ns !== undefined) {
        const value = this.readFirst(key, loader, settings, tags, candidate, signal);
        return signal === undefined ? value : raceAbort(value, signal);
      }
      const flight = this.startFlight(key, loader, settings, tags, candidate, false, undefined);
      const outcome = flight.outcome;
      return (signal === undefined ? outcome : raceAbort(outcome, signal)).then(this.answer);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Counts a flight's answer and unwraps its value (bound once, not per call). */
  private readonly answer = (outcome: Outcome): unknown => {
    this.telemetry.request(outcome.result, outcome.tier);
    return outcome.entry.value;
  };

  private refreshInBackground(
    key: string,
    loader: Loader<unknown>,
    options: GetOrLoadOptions | undefined,
    entry: Entry,
  ): void {
    if (this.flights.has(key) || this.backoff.blocked(key, this.clock.now())) return;
    let settings: ResolvedPerCall;
    let tags: readonly string[];
    try {
      settings = options === undefined ? this.o : resolvePerCall(options, this.o);
      tags = expectTags(options?.tags);
    } catch {
      // The foreground call already answered; bad per-call options surface on its next miss.
      return;
    }
    this.startFlight(key, loader, settings, tags, entry, true, undefined).outcome.catch(() => {});
  }

  /**
   * The L2 hit path: a {@link ReadFlight} that only reads the L2 and, for a fresh record, answers
   * with its value — no job, no {@link Outcome}, and as few promises as `get`. Anything else hands
   * over to a full flight ({@link startFlight}), which takes its place in the flight map; callers
   * that joined this one follow along. Resolves with the value, counted for the first caller
   * (unless its `signal` aborted first: it then got the abort, as with any flight).
   */
  private readFirst(
    key: string,
    loader: Loader<unknown>,
    settings: ResolvedPerCall,
    tags: readonly string[],
    candidate: Entry | undefined,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    const reading = {
      outcome: undefined,
      value: undefined as Promise<unknown> | undefined,
      tags,
      superseded: false,
    };
    const flight = reading as ReadFlight;
    const value = this.ns!.get(key).then(
      (stored): unknown => {
        let read: L2Read | Promise<L2Read>;
        try {
          read = this.reader.readOf(stored);
        } catch (error) {
          // Never leave a dead flight behind for later callers to join.
          this.retire(key, flight);
          throw error;
        }
        return read instanceof Promise
          ? read.then((checked) =>
              this.afterRead(key, loader, settings, tags, candidate, signal, flight, checked),
            )
          : this.afterRead(key, loader, settings, tags, candidate, signal, flight, read);
      },
      (error: unknown) =>
        this.afterRead(key, loader, settings, tags, candidate, signal, flight, failedRead(error)),
    );
    reading.value = value;
    this.flights.set(key, flight);
    return value;
  }

  /** How a {@link ReadFlight} answers once its read landed. */
  private afterRead(
    key: string,
    loader: Loader<unknown>,
    settings: ResolvedPerCall,
    tags: readonly string[],
    candidate: Entry | undefined,
    signal: AbortSignal | undefined,
    flight: ReadFlight,
    read: L2Read,
  ): unknown {
    try {
      const entry = read.ok ? read.entry : undefined;
      if (entry !== undefined && this.clock.now() < entry.freshUntil) {
        return this.readHit(key, entry, flight, signal);
      }
      const outcome = this.startFlight(key, loader, settings, tags, candidate, false, read).outcome;
      return outcome.then(
        signal === undefined
          ? this.answer
          : (answer) => (signal.aborted ? outcomeValue(answer) : this.answer(answer)),
      );
    } catch (error) {
      // Never leave a dead flight behind for later callers to join.
      this.retire(key, flight);
      throw error;
    }
  }

  /** A fresh record answered a {@link ReadFlight}. */
  private readHit(
    key: string,
    entry: Entry,
    flight: ReadFlight,
    signal: AbortSignal | undefined,
  ): unknown {
    this.putL1(key, entry, flight);
    this.retire(key, flight);
    if (signal === undefined || !signal.aborted) this.telemetry.request('hit', 'l2');
    return entry.value;
  }

  private startFlight(
    key: string,
    loader: Loader<unknown>,
    settings: ResolvedPerCall,
    tags: readonly string[],
    candidate: Entry | undefined,
    refresh: boolean,
    initialRead: L2Read | undefined,
  ): LoadFlight {
    let resolveOutcome!: (outcome: Outcome) => void;
    let rejectOutcome!: (error: unknown) => void;
    const outcome = new Promise<Outcome>((resolve, reject) => {
      resolveOutcome = resolve;
      rejectOutcome = reject;
    });
    const flight: LoadFlight = { outcome, value: undefined, tags, superseded: false };
    const job: Job = {
      key,
      loader,
      settings,
      tags,
      refresh,
      started: this.clock.now(),
      flight,
      candidate,
      candidateTier: 'l1',
      initialRead,
      delivered: false,
      pendingWrite: undefined,
      deliver: (answer, final = true) => {
        if (final) this.retire(key, flight);
        if (job.delivered) return;
        job.delivered = true;
        resolveOutcome(answer);
      },
    };
    this.flights.set(key, flight);
    void this.runFlight(job, flight, rejectOutcome);
    return flight;
  }

  /** Runs a flight to its end; one async frame, whatever happens. */
  private async runFlight(
    job: Job,
    flight: Flight,
    reject: (error: unknown) => void,
  ): Promise<void> {
    try {
      await this.resolveKey(job);
    } catch (error) {
      if (!job.delivered) {
        job.delivered = true;
        reject(error);
      }
    } finally {
      this.retire(job.key, flight);
    }
  }

  private retire(key: string, flight: Flight): void {
    if (this.flights.get(key) === flight) this.flights.delete(key);
  }

  /** Answers one flight: L2, then lease, then the loader. */
  private async resolveKey(job: Job): Promise<void> {
    const ns = this.ns;
    const key = job.key;
    let seenVersion = 0;
    let storeUsable = ns !== undefined;
    if (job.refresh) {
      const stale = job.candidate!;
      seenVersion = stale.version;
      job.deliver({ entry: stale, result: 'stale', tier: 'l1' }, false);
    } else if (ns !== undefined) {
      const read = job.initialRead ?? (await this.reader.read(key));
      const now = this.clock.now();
      if (!read.ok) {
        if (this.o.onStoreError === 'fail-closed') throw read.error;
        storeUsable = false;
        const local = job.candidate;
        if (this.o.onStoreError === 'local' && local !== undefined) {
          if (now < local.freshUntil)
            return job.deliver({ entry: local, result: 'hit', tier: 'l1' });
          if (now < local.staleUntil)
            job.deliver({ entry: local, result: 'stale', tier: 'l1' }, false);
        }
      } else {
        seenVersion = read.version;
        const entry = read.entry;
        if (entry !== undefined) {
          if (now < entry.freshUntil) {
            this.putL1(key, entry, job.flight);
            return job.deliver({ entry, result: 'hit', tier: 'l2' });
          }
          if (now < entry.staleUntil) {
            this.putL1(key, entry, job.flight);
            job.deliver({ entry, result: 'stale', tier: 'l2' }, false);
          }
          if (now < entry.graceUntil) {
            job.candidate = entry;
            job.candidateTier = 'l2';
          }
        }
      }
    }

    const candidate = job.candidate;
    if (candidate !== undefined && this.backoff.blocked(key, this.clock.now())) {
      // The loader failed moments ago: serve the old value rather than hammer the backend.
      if (this.clock.now() < candidate.graceUntil) {
        return job.deliver({ entry: candidate, result: 'grace', tier: job.candidateTier });
      }
    }

    let leaseToken: string | undefined;
    if (storeUsable && this.o.lease !== undefined) {
      const lease = await this.takeLease(job, seenVersion);
      if (lease.done) return;
      leaseToken = lease.token;
      seenVersion = lease.seenVersion;
      storeUsable = lease.storeUsable;
    }
    await this.loadAndDeliver(job, seenVersion, leaseToken, storeUsable);
  }

  /**
   * Takes the key's fleet lease, or waits for the replica holding it to publish the value.
   * Returns `done` when the flight has been answered without loading here.
   */
  private async takeLease(
    job: Job,
    initialVersion: number,
  ): Promise<{ done: boolean; token?: string; seenVersion: number; storeUsable: boolean }> {
    const ns = this.ns!;
    const key = job.key;
    const token = randomUUID();
    const leaseTtlMs = this.o.lease!.ttlMs;
    let seenVersion = initialVersion;
    let poll = FIRST_LEASE_POLL_MS;
    for (;;) {
      let result: Awaited<ReturnType<GuardedNamespace['acquireLease']>>;
      try {
        result = await ns.acquireLease(key, token, leaseTtlMs, seenVersion);
      } catch (error) {
        if (this.o.onStoreError === 'fail-closed' && !job.delivered) throw error;
        return { done: false, seenVersion, storeUsable: false };
      }
      if (result.status === 'acquired')
        return { done: false, token, seenVersion, storeUsable: true };
      if (result.status === 'changed') {
        seenVersion = result.current?.version ?? 0;
        const entry =
          result.current === undefined ? undefined : await this.reader.usable(result.current);
        const now = this.clock.now();
        if (entry !== undefined && now < entry.staleUntil) {
          // Another replica (or a `set`) wrote the key meanwhile: that is our answer.
          this.putL1(key, entry, job.flight);
          job.deliver({ entry, result: 'hit', tier: 'l2' });
          return { done: true, seenVersion, storeUsable: true };
        }
        if (entry !== undefined && now < entry.graceUntil) {
          job.candidate = entry;
          job.candidateTier = 'l2';
        }
        continue;
      }
      // Held by another replica. A refresh, or a flight that already served a stale value, can
      // leave the load to it.
      if (job.refresh || job.delivered) return { done: true, seenVersion, storeUsable: true };
      const waited = this.clock.now() - job.started;
      const { softTimeoutMs, hardTimeoutMs } = job.settings;
      const candidate = job.candidate;
      if (
        candidate !== undefined &&
        softTimeoutMs !== undefined &&
        waited >= softTimeoutMs &&
        this.clock.now() < candidate.graceUntil
      ) {
        job.deliver(this.standIn(candidate, job.candidateTier));
        return { done: true, seenVersion, storeUsable: true };
      }
      if (hardTimeoutMs !== undefined && waited >= hardTimeoutMs) {
        throw new TimeoutError(
          `Cache "${this.name}" waited ${hardTimeoutMs} ms for another replica to load the key`,
          { policyName: this.name, timeoutMs: hardTimeoutMs },
        );
      }
      let waitMs = Math.min(poll, result.ttlMs + 1);
      if (softTimeoutMs !== undefined && candidate !== undefined) {
        waitMs = Math.min(waitMs, Math.max(1, softTimeoutMs - waited));
      }
      if (hardTimeoutMs !== undefined)
        waitMs = Math.min(waitMs, Math.max(1, hardTimeoutMs - waited));
      poll = Math.min(poll * 2, MAX_LEASE_POLL_MS);
      await this.waiters.wait(key, waitMs);
    }
  }

  /** Runs the loader; answers with its value, or with a stand-in when it is slow or fails. */
  private async loadAndDeliver(
    job: Job,
    seenVersion: number,
    leaseToken: string | undefined,
    storeUsable: boolean,
  ): Promise<void> {
    const load = this.load(job, seenVersion, leaseToken, storeUsable);
    const candidate = job.candidate;
    const softTimeoutMs = job.settings.softTimeoutMs;
    if (!job.delivered && candidate !== undefined && softTimeoutMs !== undefined) {
      const remaining = softTimeoutMs - (this.clock.now() - job.started);
      if (await this.slowerThan(load, remaining)) {
        if (this.clock.now() < candidate.graceUntil) {
          job.deliver(this.standIn(candidate, job.candidateTier), false);
        }
      }
    }
    try {
      const entry = await load;
      // With a write still running the flight stays open for new callers; without, it retires.
      const tier = this.ns === undefined ? 'l1' : 'l2';
      job.deliver({ entry, result: 'miss', tier }, job.pendingWrite === undefined);
      await job.pendingWrite;
    } catch (error) {
      const now = this.clock.now();
      if (candidate !== undefined && now < candidate.graceUntil) {
        this.backoff.failed(job.key, now);
        this.telemetry.event(EVENT_GRACE);
        job.deliver({ entry: candidate, result: 'grace', tier: job.candidateTier });
        return;
      }
      throw error;
    }
  }

  /** How a value that is not fresh stands in for a slow or failed load. */
  private standIn(entry: Entry, tier: Tier): Outcome {
    return { entry, result: this.clock.now() < entry.staleUntil ? 'stale' : 'grace', tier };
  }

  /** Whether `promise` is still pending after `ms` (on the cache's clock). */
  private async slowerThan(promise: Promise<unknown>, ms: number): Promise<boolean> {
    if (ms <= 0) return true;
    const timer = new AbortController();
    const settledFirst = promise.then(
      () => false,
      () => false,
    );
    const slept = this.clock.sleep(ms, timer.signal).then(
      () => true,
      () => false,
    );
    const slow = await Promise.race([settledFirst, slept]);
    timer.abort();
    return slow;
  }

  /** Captures tag versions, runs the loader, and stores the result. */
  private async load(
    job: Job,
    seenVersion: number,
    leaseToken: string | undefined,
    storeUsable: boolean,
  ): Promise<Entry> {
    const { key, settings, tags } = job;
    let value: unknown;
    let loadMs: number;
    let tagVersions: readonly number[];
    try {
      // Versions are captured before the load: an invalidation during the load voids the result.
      tagVersions = await this.reader.captureTagVersions(tags, storeUsable);
      if (this.closed) throw new Error(`Cache "${this.name}" was closed`);
      const started = this.clock.now();
      const wallStarted = performance.now();
      if (leaseToken !== undefined) this.leaseKeeper?.hold(key, leaseToken);
      try {
        value = await runLoader(
          job.loader,
          key,
          settings.hardTimeoutMs,
          this.clock,
          this.name,
          this.running,
        );
      } catch (error) {
        if (leaseToken !== undefined) this.leaseKeeper?.release(key, leaseToken);
        this.telemetry.loader(
          (performance.now() - wallStarted) / 1000,
          isTimeoutError(error) ? 'timeout' : 'error',
        );
        throw error;
      }
      // Renewal stops with the loader; the write that follows releases the lease.
      if (leaseToken !== undefined) this.leaseKeeper?.release(key, leaseToken);
      loadMs = this.clock.now() - started;
      this.telemetry.loader(
        (performance.now() - wallStarted) / 1000,
        value === undefined ? 'not_found' : 'success',
      );
    } catch (error) {
      if (leaseToken !== undefined) this.releaseLease(key, leaseToken);
      throw error;
    }
    const now = this.clock.now();
    const negative = value === undefined;
    const meta: EntryMeta = {
      createdAt: now,
      ...entryTimes(now, settings, negative, this.o.jitter, this.o.random),
      loadMs,
      negative,
      tags,
      tagVersions,
    };
    if (negative && settings.negativeTtlMs === 0) {
      if (leaseToken !== undefined) this.releaseLease(key, leaseToken);
      return { ...meta, value, version: 0, size: 0 };
    }
    let encoded: EncodedValue | undefined;
    try {
      // Encode now, so that a value the codec refuses fails this call, not a background write.
      encoded = this.ns === undefined ? undefined : negative ? NEGATIVE : this.encode(key, value);
    } catch (error) {
      if (leaseToken !== undefined) this.releaseLease(key, leaseToken);
      throw error;
    }
    // Callers get the value without waiting for the write's reply; the flight stays open until
    // it lands (new callers join it rather than finding neither an L1 entry nor a record), and
    // the write releases the lease.
    job.pendingWrite = this.track(
      this.storeEntry(key, value, meta, {
        expectVersion: seenVersion,
        leaseToken,
        storeUsable,
        flight: job.flight,
        strict: false,
        encoded,
      }),
    );
    return { ...meta, value, version: 0, size: 0 };
  }

  // ---------------------------------------------------------------- writes

  async set<T>(key: string, value: T, options?: SetOptions): Promise<void> {
    expectKey(key);
    const prepared = this.prepare(key, value, options);
    await this.commit(key, value, prepared);
  }

  async delete(key: string): Promise<void> {
    expectKey(key);
    this.l1?.delete(key);
    this.supersede(key);
    this.telemetry.invalidation('key', 'local');
    if (this.ns === undefined) return;
    try {
      const version = await this.ns.delete(key, this.origin);
      this.noteVersion(key, version);
    } catch (error) {
      if (this.o.onStoreError === 'fail-closed') throw error;
    }
  }

  async invalidateTags(tags: readonly string[]): Promise<void> {
    const list = expectTags(tags);
    if (list.length === 0) return;
    this.telemetry.invalidation('tag', 'local', list.length);
    this.supersedeTagged(list);
    const now = this.clock.now();
    if (this.ns === undefined) {
      for (const tag of list) this.tags.raise(tag, this.tags.latest(tag) + 1, now);
      return;
    }
    try {
      const versions = await this.ns.bumpTags(list, this.origin);
      for (let i = 0; i < list.length; i++) this.tags.raise(list[i]!, versions[i] ?? 0, now);
    } catch (error) {
      // The store did not record it, so other replicas keep the entries; at least this process
      // stops serving them.
      this.dropL1Tagged(list);
      if (this.o.onStoreError === 'fail-closed') throw error;
    }
  }

  async write<T>(
    key: string,
    value: T,
    persist: (value: T, context: PersistContext) => unknown,
    options?: WriteOptions,
  ): Promise<void> {
    expectKey(key);
    expectFunction('persist', persist);
    const signal = options?.signal;
    signal?.throwIfAborted();
    const prepared = this.prepare(key, value, options);
    try {
      await raceAbort(
        Promise.resolve().then(() => persist(value, { signal })),
        signal,
      );
    } catch (error) {
      // The database may or may not hold the new value: drop the cached one rather than guess.
      await this.delete(key).catch(() => {});
      throw error;
    }
    await this.commit(key, value, prepared);
  }

  // ---------------------------------------------------------------- write-behind hooks

  private writeBehindHooks: CacheHooks | undefined;

  /** What write-behind needs from this cache (see {@link CacheHooks}). */
  get [CACHE_HOOKS](): CacheHooks {
    this.writeBehindHooks ??= {
      codec: this.o.codec,
      storeKind: this.o.store?.kind,
      pin: (key, value, pinTtlMs) => this.pin(key, value, pinTtlMs),
      settle: (key, value, version) => this.settle(key, value, version),
      unpin: (key, version) => this.unpin(key, version),
    };
    return this.writeBehindHooks;
  }

  /** Caches a pending write-behind value: fresh, unevictable and unexpiring until settled. */
  private async pin(key: string, value: unknown, pinTtlMs: number): Promise<number> {
    this.supersede(key);
    const now = this.clock.now();
    const meta = untilMeta(now, Number.POSITIVE_INFINITY, false);
    let version: number;
    let size: number;
    const ns = this.ns;
    if (ns === undefined) {
      // No store to number the writes: number them here, like the stores do.
      const previous = (this.l1?.peek(key)?.entry.version ?? 0) + 1;
      version = Math.max(previous, now * 1000);
      size = approximateSize(value);
    } else {
      const record = encodeRecord(this.o.codec.id, meta, this.encode(key, value));
      // Whatever `onStoreError` says, this throws: queueing a write while the L2 keeps serving
      // an older value would break read-your-writes.
      const result = await ns.set(key, {
        record,
        ttlMs: Math.max(1, Math.ceil(pinTtlMs)),
        origin: this.origin,
      });
      version = result.version;
      size = record.length;
      this.noteVersion(key, version);
    }
    // Answers of concurrent writes can arrive out of order: never replace a newer version.
    const held = this.l1?.peek(key)?.entry.version ?? 0;
    if (version > held) {
      this.l1?.set(
        key,
        { entry: { ...meta, value, version, size }, checkUntil: now + this.l1TrustMs },
        size,
        true,
      );
    }
    return version;
  }

  /** The meta of a value written (not loaded) at `now`, fresh per `settings`. */
  private writtenMeta(
    now: number,
    settings: ResolvedPerCall,
    tags: readonly string[],
    tagVersions: readonly number[],
  ): EntryMeta {
    return {
      createdAt: now,
      ...entryTimes(now, settings, false, this.o.jitter, this.o.random),
      loadMs: 0,
      negative: false,
      tags,
      tagVersions,
    };
  }

  /** A pinned value was persisted: give it the normal freshness, unless a newer write came. */
  private async settle(key: string, value: unknown, version: number): Promise<void> {
    const now = this.clock.now();
    const meta = this.writtenMeta(now, this.o, EMPTY_TAGS.tags, EMPTY_TAGS.versions);
    if (this.ns === undefined) {
      const slot = this.l1?.peek(key);
      if (slot?.entry.version !== version) return;
      this.l1!.set(
        key,
        {
          entry: { ...meta, value, version, size: slot.entry.size },
          checkUntil: now + this.l1TrustMs,
        },
        slot.entry.size,
      );
      return;
    }
    await this.storeEntry(key, value, meta, {
      expectVersion: version,
      leaseToken: undefined,
      storeUsable: true,
      flight: undefined,
      strict: false,
    });
  }

  /** A pinned value was never queued, or was dead-lettered: drop it unless a newer write came. */
  private async unpin(key: string, version: number): Promise<void> {
    const slot = this.l1?.peek(key);
    if (slot?.entry.version === version) this.l1!.delete(key);
    const ns = this.ns;
    if (ns === undefined) return;
    // A conditional delete: overwrite with an already expired "not found" only if still ours.
    const now = this.clock.now();
    const gone = untilMeta(now, now, true);
    await ns.set(key, {
      record: encodeRecord(this.o.codec.id, gone, NEGATIVE),
      ttlMs: 1,
      expectVersion: version,
      origin: this.origin,
    });
  }

  wrap<A extends unknown[], T>(
    fn: (...args: A) => T | PromiseLike<T>,
    options: WrapOptions<A>,
  ): (...args: A) => Promise<Awaited<T>> {
    expectFunction('fn', fn);
    expectObject('options', options);
    const keyOf = expectFunction<(...args: A) => string>('key', options.key);
    const { key: _key, ...callOptions } = options;
    // Validate once here, so a bad option fails at wrap time rather than on the first miss.
    resolvePerCall(callOptions, this.o);
    expectTags(callOptions.tags);
    return (...args: A) =>
      this.getOrLoad(keyOf(...args), () => fn(...args), callOptions) as Promise<Awaited<T>>;
  }

  /** Validates and encodes what `set`/`write` will store, before anything is written. */
  private prepare(
    key: string,
    value: unknown,
    options: SetOptions | undefined,
  ): {
    settings: ResolvedPerCall;
    tags: readonly string[];
    encoded: EncodedValue | undefined;
  } {
    const settings = options === undefined ? this.o : resolvePerCall(options, this.o);
    const tags = expectTags(options?.tags);
    return { settings, tags, encoded: this.ns === undefined ? undefined : this.encode(key, value) };
  }

  private async commit(
    key: string,
    value: unknown,
    prepared: {
      settings: ResolvedPerCall;
      tags: readonly string[];
      encoded: EncodedValue | undefined;
    },
  ): Promise<void> {
    this.supersede(key);
    const tagVersions = await this.reader.captureTagVersions(prepared.tags, true);
    const meta = this.writtenMeta(this.clock.now(), prepared.settings, prepared.tags, tagVersions);
    await this.storeEntry(key, value, meta, {
      expectVersion: undefined,
      leaseToken: undefined,
      storeUsable: true,
      flight: undefined,
      strict: true,
      encoded: prepared.encoded,
    });
  }

  /**
   * Writes an entry to the L2 (if usable) and the L1. `strict` writes (`set`, `write`) surface
   * store errors under `'fail-closed'`; a load's write never does, since its value is good.
   */
  private async storeEntry(
    key: string,
    value: unknown,
    meta: EntryMeta,
    how: {
      expectVersion: number | undefined;
      leaseToken: string | undefined;
      storeUsable: boolean;
      flight: Flight | undefined;
      strict: boolean;
      encoded?: EncodedValue | undefined;
    },
  ): Promise<Entry> {
    const ns = this.ns;
    if (ns === undefined) {
      const entry: Entry = { ...meta, value, version: 0, size: approximateSize(value) };
      this.putL1(key, entry, how.flight);
      return entry;
    }
    const encoded = meta.negative ? NEGATIVE : (how.encoded ?? this.encode(key, value));
    const record = encodeRecord(this.o.codec.id, meta, encoded);
    let version = 0;
    if (how.storeUsable) {
      try {
        const result = await ns.set(key, {
          record,
          ttlMs: physicalTtlMs(meta, this.clock.now()),
          expectVersion: how.expectVersion,
          leaseToken: how.leaseToken,
          origin: this.origin,
        });
        if (!result.written) {
          // A `set` or `delete` won the race: hand the value to our callers, cache nothing.
          return { ...meta, value, version: result.version, size: record.length };
        }
        version = result.version;
        this.noteVersion(key, version);
      } catch (error) {
        if (how.strict && this.o.onStoreError === 'fail-closed') throw error;
      }
    }
    const entry: Entry = { ...meta, value, version, size: record.length };
    this.putL1(key, entry, how.flight);
    return entry;
  }

  private encode(key: string, value: unknown): EncodedValue {
    try {
      return encodeValue(this.o.codec, value);
    } catch (error) {
      throw isCacheCodecError(error) ? error.withKey(key) : error;
    }
  }

  // ---------------------------------------------------------------- L1 and bus

  private putL1(key: string, entry: Entry, flight: Flight | undefined): void {
    const l1 = this.l1;
    if (l1 === undefined || flight?.superseded) return;
    if (this.recentVersions.isOutdated(key, entry.version)) return;
    l1.set(key, { entry, checkUntil: this.clock.now() + this.l1TrustMs }, entry.size);
  }

  private supersede(key: string): void {
    const flight = this.flights.get(key);
    if (flight === undefined) return;
    flight.superseded = true;
    this.flights.delete(key);
  }

  private supersedeTagged(tags: readonly string[]): void {
    for (const [key, flight] of this.flights) {
      if (flight.tags.some((tag) => tags.includes(tag))) this.supersede(key);
    }
  }

  private noteVersion(key: string, version: number): void {
    if (!this.ns?.hasBus) return;
    this.recentVersions.note(key, version);
  }

  private dropL1Tagged(tags: readonly string[]): void {
    const l1 = this.l1;
    if (l1 === undefined) return;
    const doomed: string[] = [];
    for (const [key, { value }] of l1.entries()) {
      if (value.entry.tags.some((tag) => tags.includes(tag))) doomed.push(key);
    }
    for (const key of doomed) l1.delete(key);
  }

  private onBusMessage(message: InvalidationMessage): void {
    if (message.kind === 'reset') {
      this.l1?.clear();
      this.tags.clear();
      this.recentVersions.clear();
      this.telemetry.invalidation('all', 'bus');
      return;
    }
    if (message.origin === this.origin) return;
    if (message.kind === 'tags') {
      const now = this.clock.now();
      for (let i = 0; i < message.tags.length; i++) {
        this.tags.raise(message.tags[i]!, message.versions[i] ?? 0, now);
      }
      this.telemetry.invalidation('tag', 'bus', message.tags.length);
      return;
    }
    for (let i = 0; i < message.keys.length; i++) {
      const key = message.keys[i]!;
      const version = message.versions[i] ?? 0;
      this.noteVersion(key, version);
      const slot = this.l1?.peek(key);
      if (slot !== undefined && slot.entry.version < version) {
        this.l1!.delete(key);
        this.telemetry.invalidation('key', 'bus');
      }
      this.waiters.wake(key);
    }
  }

  private releaseLease(key: string, token: string): void {
    if (this.ns !== undefined) void this.track(this.ns.releaseLease(key, token));
  }

  /**
   * Remembers a store write nobody awaits (a load's write, a lease release), so that `close()`
   * can let it land: a process that exits right after answering must not lose the write (and
   * leave its lease to expire) on the way out. Never rejects.
   */
  private track(write: Promise<unknown>): Promise<void> {
    const settled: Promise<void> = write.then(
      () => {
        this.unsettled.delete(settled);
      },
      () => {
        this.unsettled.delete(settled);
      },
    );
    this.unsettled.add(settled);
    return settled;
  }

  // ---------------------------------------------------------------- lifecycle

  clearL1(): void {
    this.l1?.clear();
  }

  onStoreStatusChange(listener: (status: CacheStoreStatus) => void): () => void {
    expectFunction('listener', listener);
    const subscription = (status: CacheStoreStatus) => listener(status);
    this.statusListeners.add(subscription);
    return () => {
      this.statusListeners.delete(subscription);
    };
  }

  private onGateChange(status: 'healthy' | 'degraded'): void {
    const change: CacheStoreStatus =
      status === 'healthy' ? { status } : { status, error: this.ns?.lastError };
    this.telemetry.event(status === 'healthy' ? EVENT_STORE_RECOVERED : EVENT_STORE_DEGRADED);
    for (const listener of this.statusListeners) {
      try {
        listener(change);
      } catch {
        // A subscriber's bug must not break cache calls.
      }
    }
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    this.closed = true;
    const reason = new Error(`Cache "${this.name}" was closed`);
    for (const abort of [...this.running]) abort(reason);
    this.leaseKeeper?.close();
    // Aborted loads release their leases a few microtasks from now; then let every write that
    // is still on its way land (each is bounded by the store deadline).
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.unsettled.size > 0) await Promise.all([...this.unsettled]);
    this.deadlines.dispose();
    this.telemetry.dispose();
    this.l1?.clear();
  }
}

function outcomeValue(outcome: Outcome): unknown {
  return outcome.entry.value;
}
