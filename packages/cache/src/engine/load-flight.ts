/**
 * The load flight of a key: past a read that found no fresh record, it serves what can stand in
 * (stale, or in grace while the loader is failing), takes the fleet lease (or leaves the load to
 * the replica holding it), runs the loader, and writes the value with a version check, so a load
 * that raced a `set` or `delete` never overwrites it. Concurrent callers share it.
 */
import { type Clock, isTimeoutError } from '@breakwater/core';
import { expectTags } from '../arguments.js';
import type { Entry, EntryMeta } from '../entry.js';
import { type Loader, runLoader } from '../loader-run.js';
import {
  type GetOrLoadOptions,
  type ResolvedOptions,
  type ResolvedPerCall,
  resolvePerCall,
} from '../options.js';
import { type EncodedValue, NEGATIVE } from '../record.js';
import { type CacheTelemetry, EVENT_GRACE } from '../telemetry.js';
import type { BackgroundWrites } from './background-writes.js';
import type { FleetLeases } from './fleet-lease.js';
import {
  type Flight,
  type Job,
  type L2Read,
  type LoadFlight,
  type Outcome,
  standIn,
} from './flight.js';
import type { FlightTable } from './flight-table.js';
import { entryTimes } from './freshness.js';
import type { GraceBackoff } from './grace-backoff.js';
import type { L1Tier } from './l1-tier.js';
import type { L2Reader } from './l2-reader.js';
import type { L2Store } from './l2-store.js';
import type { WritePath } from './write-path.js';

/** The load flights of one cache. */
export class LoadFlights {
  private readonly clock: Clock;
  private readonly name: string;
  /** Abort callbacks of the loaders running now, called by {@link abortAll}. */
  private readonly running = new Set<(reason: unknown) => void>();
  private closed = false;

  constructor(
    private readonly o: ResolvedOptions,
    private readonly ns: L2Store | undefined,
    private readonly l1: L1Tier | undefined,
    private readonly reader: L2Reader,
    private readonly flights: FlightTable,
    private readonly leases: FleetLeases,
    private readonly writes: WritePath,
    private readonly backoff: GraceBackoff,
    private readonly background: BackgroundWrites,
    private readonly telemetry: CacheTelemetry,
  ) {
    this.clock = o.clock;
    this.name = o.name;
  }

  /** Starts a background refresh of `entry` (stale, or fresh but due early), unless one runs. */
  refresh(
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
    this.start(key, loader, settings, tags, entry, true, undefined).outcome.catch(() => {});
  }

  /** Starts the load flight of `key` and makes it the one callers join. */
  start(
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
        if (final) this.flights.retire(key, flight);
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
      this.flights.retire(job.key, flight);
    }
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
            this.l1?.put(key, entry, job.flight);
            return job.deliver({ entry, result: 'hit', tier: 'l2' });
          }
          if (now < entry.staleUntil) {
            this.l1?.put(key, entry, job.flight);
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
      const lease = await this.leases.take(job, seenVersion);
      if (lease.done) return;
      leaseToken = lease.token;
      seenVersion = lease.seenVersion;
      storeUsable = lease.storeUsable;
    }
    await this.loadAndDeliver(job, seenVersion, leaseToken, storeUsable);
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
          job.deliver(standIn(candidate, job.candidateTier, this.clock.now()), false);
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
      if (leaseToken !== undefined) this.leases.keepAlive(key, leaseToken);
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
        if (leaseToken !== undefined) this.leases.stopKeepingAlive(key, leaseToken);
        this.telemetry.loader(
          (performance.now() - wallStarted) / 1000,
          isTimeoutError(error) ? 'timeout' : 'error',
        );
        throw error;
      }
      // Renewal stops with the loader; the write that follows releases the lease.
      if (leaseToken !== undefined) this.leases.stopKeepingAlive(key, leaseToken);
      loadMs = this.clock.now() - started;
      this.telemetry.loader(
        (performance.now() - wallStarted) / 1000,
        value === undefined ? 'not_found' : 'success',
      );
    } catch (error) {
      if (leaseToken !== undefined) this.leases.release(key, leaseToken);
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
      if (leaseToken !== undefined) this.leases.release(key, leaseToken);
      return { ...meta, value, version: 0, size: 0 };
    }
    let encoded: EncodedValue | undefined;
    try {
      // Encode now, so that a value the codec refuses fails this call, not a background write.
      encoded =
        this.ns === undefined ? undefined : negative ? NEGATIVE : this.writes.encode(key, value);
    } catch (error) {
      if (leaseToken !== undefined) this.leases.release(key, leaseToken);
      throw error;
    }
    // Callers get the value without waiting for the write's reply; the flight stays open until
    // it lands (new callers join it rather than finding neither an L1 entry nor a record), and
    // the write releases the lease.
    job.pendingWrite = this.background.track(
      this.writes.storeEntry(key, value, meta, {
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

  /** Aborts the running loads (releasing their leases) and refuses to start loaders from now on. */
  abortAll(): void {
    this.closed = true;
    const reason = new Error(`Cache "${this.name}" was closed`);
    for (const abort of [...this.running]) abort(reason);
  }
}
