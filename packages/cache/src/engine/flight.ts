/**
 * The shapes of a key's resolution in one process: a flight (what concurrent callers share), the
 * job that runs it, and what it answers. Internal to the cache.
 */
import type { StoreError } from '@breakwater/core';
import type { Entry } from '../entry.js';
import type { Loader } from '../loader-run.js';
import type { ResolvedPerCall } from '../options.js';
import type { RequestResult, Tier } from '../telemetry.js';

/** How a flight answered its callers. */
export interface Outcome {
  readonly entry: Entry;
  readonly result: RequestResult;
  readonly tier: Tier;
}

/**
 * The one resolution of a key running in this process: a {@link LoadFlight}, or a
 * {@link ReadFlight} while a `getOrLoad` only reads the L2.
 */
export type Flight = LoadFlight | ReadFlight;

interface FlightState {
  /** The tags of the value being loaded, so `invalidateTags` can find the flight. */
  readonly tags: readonly string[];
  /**
   * Set by `set`, `delete` or `invalidateTags` while the flight runs: it is retired at once (new
   * callers start afresh) and its result must not land in the L1.
   */
  superseded: boolean;
}

/** A flight that may take the lease and load: it answers with an {@link Outcome}. */
export interface LoadFlight extends FlightState {
  readonly outcome: Promise<Outcome>;
  readonly value: undefined;
}

/**
 * The L2 hit path of `getOrLoad`: a flight that reads the L2 and answers with the value itself
 * (the promise its first caller got), which saves that caller the {@link Outcome} and a promise
 * hop. Anything but a fresh record hands over to a {@link LoadFlight}, which `value` follows.
 */
export interface ReadFlight extends FlightState {
  readonly outcome: undefined;
  readonly value: Promise<unknown>;
}

/** The state of one flight while it runs. */
export interface Job {
  readonly key: string;
  readonly loader: Loader<unknown>;
  readonly settings: ResolvedPerCall;
  readonly tags: readonly string[];
  readonly refresh: boolean;
  readonly started: number;
  readonly flight: LoadFlight;
  /** A value that may stand in: stale, or in grace if the load fails. */
  candidate: Entry | undefined;
  /** Where the candidate came from. */
  candidateTier: Tier;
  /** The L2 read already made by the cache's read-first path, if any. */
  readonly initialRead: L2Read | undefined;
  delivered: boolean;
  /** The L2/L1 write of the loaded value, awaited before the flight retires. */
  pendingWrite: Promise<unknown> | undefined;
  /**
   * Answers the flight's callers. `final` (the default) also retires the flight at once, so a
   * caller arriving a microtask later starts afresh instead of joining a finished flight; a
   * non-final answer (a stale value served while the load goes on) keeps it, so the running load
   * is not started twice.
   */
  deliver(outcome: Outcome, final?: boolean): void;
}

/** Result of reading the L2. */
export type L2Read =
  | { readonly ok: true; readonly version: number; readonly entry: Entry | undefined }
  | { readonly ok: false; readonly error: StoreError };

/** The read of a key the L2 does not have. */
export const MISSING: L2Read = Object.freeze({ ok: true, version: 0, entry: undefined });

/** How a value that is not fresh at `now` stands in for a slow or failed load. */
export function standIn(entry: Entry, tier: Tier, now: number): Outcome {
  return { entry, result: now < entry.staleUntil ? 'stale' : 'grace', tier };
}
