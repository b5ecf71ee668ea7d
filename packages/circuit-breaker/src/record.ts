/**
 * The shape of one breaker's shared record, as the memory and DynamoDB stores hold it (the Redis
 * store keeps the same fields in a hash; see stores/redis-script.ts). Field names are short because
 * the record travels on every store operation.
 */
import type { BreakerRules, BreakerState, BreakerView } from './store.js';
import { BREAKER_STATES } from './store.js';

/** The version of the record layout; a record with another `fmt` is foreign and replaced. */
export const RECORD_FORMAT = 1;

/** One breaker's shared state. */
export interface BreakerRecord {
  /** Layout version, {@link RECORD_FORMAT}. */
  fmt: number;
  /** Current state. */
  state: BreakerState;
  /** Transition counter. */
  ver: number;
  /** When the record was created (epoch ms): its generation. */
  gen: number;
  /** When the current state began, epoch ms. */
  since: number;
  /** Open: when the break ends. Isolated: when the isolation ends, 0 = never. Epoch ms. */
  until: number;
  /** Openings in a row. */
  opens: number;
  /** Failures in a row. */
  consec: number;
  /**
   * The window entries: time windows `[bucketId, successes, failures, slow]`, count windows
   * `[successes, failures, slow]`, oldest first.
   */
  win: number[][];
  /** Window totals: `[successes, failures, slow]`. */
  tot: number[];
  /** Half-open probe leases: token → lease expiry (epoch ms). */
  probes: Record<string, number>;
  /** Successful probes in the current half-open state. */
  psucc: number;
  /** Quorum: replica → time of its last failure report (epoch ms). */
  rep: Record<string, number>;
}

/** A closed breaker with an empty window. */
export function freshRecord(now: number): BreakerRecord {
  return {
    fmt: RECORD_FORMAT,
    state: 'closed',
    ver: 0,
    gen: now,
    since: now,
    until: 0,
    opens: 0,
    consec: 0,
    win: [],
    tot: [0, 0, 0],
    probes: {},
    psucc: 0,
    rep: {},
  };
}

const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0;

const isNumberMap = (value: unknown): value is Record<string, number> =>
  typeof value === 'object' &&
  value !== null &&
  !Array.isArray(value) &&
  Object.values(value).every((entry) => typeof entry === 'number' && Number.isFinite(entry));

/**
 * Checks a record read from a store. Anything that is not a well-formed record of this layout
 * (written by another version, another tool, or corrupted) yields `undefined`, and the store
 * replaces it instead of letting it crash a call.
 */
export function parseRecord(value: unknown, rules: BreakerRules): BreakerRecord | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Partial<BreakerRecord>;
  if (record.fmt !== RECORD_FORMAT) return undefined;
  if (!BREAKER_STATES.includes(record.state as BreakerState)) return undefined;
  if (
    ![
      record.ver,
      record.gen,
      record.since,
      record.until,
      record.opens,
      record.consec,
      record.psucc,
    ].every(isCount)
  ) {
    return undefined;
  }
  const entryLength = rules.windowKind === 'time' ? 4 : 3;
  if (
    !Array.isArray(record.win) ||
    !record.win.every(
      (entry) => Array.isArray(entry) && entry.length === entryLength && entry.every(isCount),
    )
  ) {
    return undefined;
  }
  if (!Array.isArray(record.tot) || record.tot.length !== 3 || !record.tot.every(isCount))
    return undefined;
  if (!isNumberMap(record.probes) || !isNumberMap(record.rep)) return undefined;
  return record as BreakerRecord;
}

/** The view of `record` at `now`. */
export function viewOf(record: BreakerRecord, now: number, replaced = false): BreakerView {
  let remainingMs = 0;
  if (record.state === 'open') remainingMs = Math.max(0, record.until - now);
  else if (record.state === 'isolated')
    remainingMs = record.until === 0 ? -1 : Math.max(0, record.until - now);
  const [successes = 0, failures = 0, slowCalls = 0] = record.tot;
  return {
    state: record.state,
    version: record.ver,
    generation: record.gen,
    remainingMs,
    consecutiveOpens: record.opens,
    consecutiveFailures: record.consec,
    calls: successes + failures,
    failures,
    slowCalls,
    probes: record.state === 'half-open' ? Object.keys(record.probes).length : 0,
    replaced,
  };
}
