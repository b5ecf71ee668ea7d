/**
 * The read path past an L1 hit: `get`'s L2 read, and `getOrLoad`'s read flight — one flight per
 * key in this process, which reads the L2 and answers a fresh record itself (as few promises as
 * `get`), or hands over to a load flight ({@link LoadFlights}) for anything else.
 */
import { type Clock, raceAbort } from '@breakwater/core';
import { expectTags } from '../arguments.js';
import type { Entry } from '../entry.js';
import type { Loader } from '../loader-run.js';
import {
  type GetOrLoadOptions,
  type ResolvedOptions,
  type ResolvedPerCall,
  resolvePerCall,
} from '../options.js';
import type { CacheTelemetry } from '../telemetry.js';
import type { L2Read, Outcome, ReadFlight } from './flight.js';
import type { FlightTable } from './flight-table.js';
import type { L1Tier } from './l1-tier.js';
import { failedRead, type L2Reader } from './l2-reader.js';
import type { L2Store } from './l2-store.js';
import type { LoadFlights } from './load-flight.js';

/** The read path of one cache. */
export class ReadPath {
  private readonly clock: Clock;

  constructor(
    private readonly o: ResolvedOptions,
    private readonly ns: L2Store | undefined,
    private readonly l1: L1Tier | undefined,
    private readonly reader: L2Reader,
    private readonly flights: FlightTable,
    private readonly loads: LoadFlights,
    private readonly telemetry: CacheTelemetry,
  ) {
    this.clock = o.clock;
  }

  /** `get` past the L1: plain callbacks on the store read, no async frame and no {@link L2Read}. */
  getFromL2<T>(key: string, now: number, candidate: Entry | undefined): Promise<T | undefined> {
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
      this.l1?.put(key, entry, undefined);
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
  slowPath(
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
      const flight = this.loads.start(key, loader, settings, tags, candidate, false, undefined);
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

  /**
   * The L2 hit path: a {@link ReadFlight} that only reads the L2 and, for a fresh record, answers
   * with its value — no job, no {@link Outcome}, and as few promises as `get`. Anything else hands
   * over to a full flight ({@link LoadFlights.start}), which takes its place in the flight map; callers
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
          this.flights.retire(key, flight);
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
      const outcome = this.loads.start(key, loader, settings, tags, candidate, false, read).outcome;
      return outcome.then(
        signal === undefined
          ? this.answer
          : (answer) => (signal.aborted ? outcomeValue(answer) : this.answer(answer)),
      );
    } catch (error) {
      // Never leave a dead flight behind for later callers to join.
      this.flights.retire(key, flight);
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
    this.l1?.put(key, entry, flight);
    this.flights.retire(key, flight);
    if (signal === undefined || !signal.aborted) this.telemetry.request('hit', 'l2');
    return entry.value;
  }
}

function outcomeValue(outcome: Outcome): unknown {
  return outcome.entry.value;
}
