/**
 * Limits for the whole fleet: `setLimits(limits, { fleet: true })` writes them to the store as a
 * versioned record (`RateLimitStore.writeLimits`), and every replica of the limiter reads the
 * record once per `limitsSyncIntervalMs` (`readLimits`) and adopts a version above the one it holds.
 * Both operations run on the limiter's `StoreCalls` (deadline, degraded mode, store telemetry): a
 * read that fails, times out or is skipped while the store is degraded keeps the limits in force.
 *
 * The loop holds its limiter weakly: a limiter dropped without `close()` is not kept alive by its
 * timer (the timer's next run finds it gone and stops).
 */
import { expectObject, type StoreCalls, type StoreOp } from '@breakwater/core';
import type { LimitSpec, SetLimitsOptions } from '../options.js';
import type { PublishedLimits, RateLimitStore } from '../store.js';
import type { LimitsInForce } from './limits-in-force.js';

/** The store operations of published limits, when the store has them. */
export interface FleetLimitsOps {
  /** Reads the record; a `StoreError` naming `read-limits` when the store does not answer. */
  readonly read: StoreOp<PublishedLimits | undefined, void>;
  /** Writes a record, resolving with its version; a `StoreError` naming `write-limits`. */
  readonly write: StoreOp<number, string>;
}

/** Builds the published-limits operations of limiter `name`; `undefined` if the store has none. */
export function fleetLimitsOps(
  calls: StoreCalls,
  store: RateLimitStore,
  name: string,
  abortable: boolean,
): FleetLimitsOps | undefined {
  const { readLimits, writeLimits } = store;
  if (typeof readLimits !== 'function' || typeof writeLimits !== 'function') return undefined;
  return {
    read: calls.operation<PublishedLimits | undefined, void>(
      'read-limits',
      (_, signal) => readLimits.call(store, name, signal),
      { abortable },
    ),
    write: calls.operation<number, string>(
      'write-limits',
      (limits, signal) => writeLimits.call(store, name, limits, signal),
      { abortable },
    ),
  };
}

/** The JSON of a record: the limits as `LimitOptions`, each with its algorithm spelled out. */
export function encodeLimits(specs: readonly LimitSpec[]): string {
  return JSON.stringify(
    specs.map((spec) => ({
      limit: spec.perReplica ? { perReplica: spec.limit } : spec.limit,
      intervalMs: spec.intervalMs,
      burst: spec.burst,
      algorithm: spec.algorithm,
    })),
  );
}

/** The limiter whose limits are published and synced. */
export interface FleetLimitsContext {
  readonly name: string;
  readonly storeKind: string;
  readonly limits: LimitsInForce;
  /** `undefined` when the store cannot publish limits. */
  readonly ops: FleetLimitsOps | undefined;
}

/**
 * `setLimits(limits, { fleet: true })`: validates the limits for this limiter, writes them as the
 * next version (under the store deadline), then puts them in force here at once; the other
 * replicas adopt them at their next sync.
 * @throws {TypeError | RangeError} naming the option, for invalid limits or options, a limiter
 *   with a `limits` function, or a store that cannot publish; nothing is written then.
 * @throws {StoreError} naming `write-limits` when the store fails, misses its deadline, or is
 *   degraded; the limits in force stay.
 */
export async function publishLimits(
  context: FleetLimitsContext,
  limits: unknown,
  options: SetLimitsOptions,
): Promise<void> {
  expectObject('options', options);
  if (options.fleet !== true) {
    throw new TypeError(`Expected \`fleet\` to be true, got ${String(options.fleet)}`);
  }
  if (context.limits.plans !== undefined) {
    throw new TypeError(
      `Expected a rate limiter with fixed limits to publish: "${context.name}" takes its limits from a function, which cannot be published`,
    );
  }
  const ops = context.ops;
  if (ops === undefined) {
    throw new TypeError(
      `Expected a store with readLimits() and writeLimits() to publish limits, got the "${context.storeKind}" store without them`,
    );
  }
  const checked = context.limits.check(limits);
  const version = await ops.write.run(encodeLimits(checked.specs), options.signal);
  context.limits.adopt(version, checked);
}

/**
 * Reads the published limits and adopts them when their version is above the one in force. A
 * store failure keeps the limits in force (the store call path has counted it); limits this
 * replica cannot take (e.g. `{ perReplica }` on a limiter counting no fleet) are skipped with a
 * process warning (code `BREAKWATER_LIMITS_NOT_ADOPTED`) until a newer version. Never rejects.
 */
export async function syncPublished(context: FleetLimitsContext): Promise<void> {
  let record: PublishedLimits | undefined;
  try {
    record = await context.ops!.read.run(undefined);
  } catch {
    return;
  }
  const inForce = context.limits;
  if (record === undefined || !(record.version > inForce.version)) return;
  try {
    inForce.adopt(record.version, inForce.check(JSON.parse(record.limits)));
  } catch (error) {
    // Not retried: the same record would fail the same way.
    inForce.version = record.version;
    process.emitWarning(
      `Rate limit "${context.name}": published limits version ${record.version} not adopted, the limits in force stay: ${error instanceof Error ? error.message : String(error)}`,
      { code: 'BREAKWATER_LIMITS_NOT_ADOPTED' },
    );
  }
}

/** What the loop asks of its limiter at each interval. */
export interface SyncTarget {
  /** Reads the record and adopts it if newer; never rejects. */
  syncLimits(): Promise<void>;
}

/** Stops a sync loop. */
export interface LimitsSync {
  stop(): void;
}

/**
 * Reads the published limits `intervalMs` after the start, then `intervalMs` after each read
 * ends, on an unref'd timer, until stopped or until the limiter is garbage collected. The first
 * read waits one interval too: a replica's start is busy enough (connections, scripts, the first
 * decisions) without one more request competing under the deadline, and it adopts published
 * limits within one interval all the same.
 */
export function startLimitsSync(target: SyncTarget, intervalMs: number): LimitsSync {
  const limiter = new WeakRef(target);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(tick, intervalMs);
    timer.unref();
  };
  // Holds no reference to the limiter between runs: only the WeakRef.
  function tick(): void {
    timer = undefined;
    const current = stopped ? undefined : limiter.deref();
    if (current === undefined) return;
    current.syncLimits().then(schedule, schedule);
  }
  schedule();
  return {
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}
