/**
 * Cache invariants.
 *
 * - One loader per key per lease, judged from the shared resource's `load-start` / `load-end`
 *   actions (one clock: the resource's): two loads of one key overlap only when the first one's
 *   lease can have ended.
 * - Monotonic reads, judged from the replicas' `read` operations: per key and per replica, a read
 *   that starts after another ended returns a version at least as new.
 */
import type { CheckResult, Violation } from '../checker.js';
import { type FaultInterval, faultIntervals, hits, lossWithin, stateLosses } from '../fault-log.js';
import type { HistoryEvent } from '../history.js';
import { operations } from '../history.js';
import { STATE_KEEPING_FAULTS } from './state-keeping-faults.js';

/** What bounds a cache's loads: its lease, and how long a replica decides alone after a fault. */
export interface CacheLoadBound {
  /** The fleet lease's TTL (`lease.ttlMs`). */
  leaseTtlMs: number;
  /**
   * How long after a fault that hit a replica healed the replica may still load without the lease
   * (its store read failed: the cache then neither takes the lease nor writes).
   */
  localTailMs: number;
  /** Slack for the time between taking the lease and the load's first action. @default 50 */
  slackMs?: number;
}

/** What a replica records of a load's last store call when that call failed or outlived its deadline. */
const STORE_CALL_LOST = new Set(['lease-failed', 'read-failed', 'lease-pending', 'read-pending']);

interface Load {
  call: string;
  replica: number;
  key: string;
  /** The replica's cache reported its store degraded: it loads without the lease. */
  degraded: boolean;
  /**
   * A store call on the way to the load failed or outlived its deadline (the replica recorded it,
   * see `recording-cache-store.ts`): the cache loads without the lease, and writes nothing.
   */
  alone: boolean;
  start: HistoryEvent;
  end: HistoryEvent | undefined;
}

function loads(history: HistoryEvent[]): Load[] {
  const byCall = new Map<string, Load>();
  for (const event of history) {
    if (event.f !== 'act') continue;
    const { call, replica, kind, key, storeStatus, lease } = event.value as {
      call: string;
      replica: number;
      kind?: string;
      key?: string;
      storeStatus?: string;
      lease?: string;
    };
    if (key === undefined) continue;
    if (kind === 'load-start') {
      const degraded = storeStatus === 'degraded';
      const alone = lease !== undefined && STORE_CALL_LOST.has(lease);
      byCall.set(call, { call, replica, key, degraded, alone, start: event, end: undefined });
    } else if (kind === 'load-end') {
      const load = byCall.get(call);
      if (load !== undefined) load.end = event;
    }
  }
  return [...byCall.values()];
}

/**
 * Whether a fault that hit `replica` was in force (or healed less than `tailMs` ago) in
 * `[from, to]`. A pause of the replica counts: at SIGCONT a store read's deadline timer may fire
 * before its reply is read, and a failed read loads without the lease.
 */
function faultNear(
  faults: FaultInterval[],
  replica: number,
  from: number,
  to: number,
  tailMs: number,
): boolean {
  return faults.some(
    (fault) => hits(fault, replica) && fault.start <= to && fault.end + tailMs >= from,
  );
}

/**
 * Why a load `later` of a key may overlap an earlier load `earlier` of the same key, or
 * `undefined` when it may not: one of them ran without the lease (its store was degraded, a store
 * call on its way failed or outlived its deadline, or a fault kept its replica from the store
 * around its start), the store lost its leases in between,
 * or `earlier`'s lease can have expired (its replica stopped renewing — paused, or cut off from
 * the store — and `later` started at least two thirds of a lease TTL after `earlier`: a holder
 * renews every third of the TTL, so its lease outlives its last renewal by at least that much).
 */
function excuse(
  earlier: Load,
  later: Load,
  faults: FaultInterval[],
  bound: CacheLoadBound,
): string | undefined {
  const slack = bound.slackMs ?? 50;
  if (earlier.degraded || later.degraded) return 'degraded';
  const from = earlier.start.mono;
  const to = later.start.mono;
  if (faultNear(faults, later.replica, to, to, bound.localTailMs)) return 'later without lease';
  if (faultNear(faults, earlier.replica, from, from, bound.localTailMs)) {
    return 'earlier without lease';
  }
  if (stateLosses(faults).some((loss) => lossWithin(loss, from, to))) {
    return 'store lost its leases';
  }
  const stopped = faults.some(
    (fault) =>
      (fault.target === earlier.replica || fault.target === 'store') &&
      fault.start <= to &&
      fault.end >= from,
  );
  if (stopped && to - from >= (bound.leaseTtlMs * 2) / 3 - slack) return 'lease expired';
  // Last, so the count shows the overlaps no fault explains: a store call that failed or outlived
  // its deadline on a replica no fault hit (a starved event loop, a slow store).
  if (earlier.alone || later.alone) return 'store call failed';
  return undefined;
}

/**
 * At most one loader per key per lease across the fleet: two loads of a key overlap only when
 * {@link excuse} finds that the first one's lease can have ended or that one of them loaded without
 * it. `worst` is the most loads of one key seen running at once that the lease should have kept
 * apart (bound 1); `excused` counts the overlaps the bound let through, by reason.
 */
export function checkOneLoaderPerKey(history: HistoryEvent[], bound: CacheLoadBound): CheckResult {
  const all = loads(history);
  // A Cluster's topology change relaxes nothing: a load it kept from the store carries its label.
  const faults = faultIntervals(history).filter((fault) => !STATE_KEEPING_FAULTS.has(fault.fault));
  const violations: Violation[] = [];
  const byKey = new Map<string, Load[]>();
  for (const load of all) {
    const list = byKey.get(load.key) ?? [];
    list.push(load);
    byKey.set(load.key, list);
  }
  let worst = 0;
  const excused: Record<string, number> = {};
  for (const list of byKey.values()) {
    list.sort((a, b) => a.start.mono - b.start.mono);
    const running: Load[] = [];
    for (const load of list) {
      // Loads of this key still running when `load` starts (an end at the same instant is over).
      for (let i = running.length - 1; i >= 0; i--) {
        const end = running[i]!.end?.mono ?? Number.POSITIVE_INFINITY;
        if (end <= load.start.mono) running.splice(i, 1);
      }
      let unexcused = 1;
      for (const earlier of running) {
        const reason = excuse(earlier, load, faults, bound);
        if (reason !== undefined) {
          excused[reason] = (excused[reason] ?? 0) + 1;
          continue;
        }
        unexcused++;
        violations.push({
          invariant: 'cache/one-loader-per-key',
          message:
            `r${load.replica} started loading ${load.key} (call ${load.call}) ` +
            `${(load.start.mono - earlier.start.mono).toFixed(0)} ms after r${earlier.replica} ` +
            `(call ${earlier.call}), which was still loading under its lease (TTL ${bound.leaseTtlMs} ms)`,
          events: earlier.end
            ? [earlier.start, load.start, earlier.end]
            : [earlier.start, load.start],
        });
      }
      running.push(load);
      worst = Math.max(worst, unexcused);
    }
  }
  return {
    invariant: 'cache/one-loader-per-key',
    checked: all.length,
    violations,
    worst,
    bound: 1,
    excused,
  };
}

interface Read {
  invoke: HistoryEvent;
  end: HistoryEvent;
  key: string;
  version: number;
  /** The replica that loaded the value. */
  from: number;
}

/**
 * Monotonic reads, per key and per replica: a read invoked after another read of the key ended
 * returns a version at least as new as that one's. Reads that failed are not judged.
 *
 * With `localTailMs`, the bound `onStoreError: 'local'` documents: a value a replica loaded
 * itself while a fault kept it from the store (or less than `localTailMs` after it healed), or
 * while its store was degraded or a store call on the load's way failed, was never written to the
 * store, so once back the replica may read the fleet's value, older than
 * its own. Such values do not raise the version later reads are held to (the fleet's values
 * still must never go back); `excused` counts the reads that went back below one of them.
 */
export function checkMonotonicReads(history: HistoryEvent[], localTailMs?: number): CheckResult {
  const faults = faultIntervals(history);
  const groups = new Map<string, Read[]>();
  let checked = 0;
  for (const { invoke, end } of operations(history, 'read')) {
    if (end === undefined || end.type !== 'ok') continue;
    const { key, version, from } = end.value as { key: string; version: number; from: number };
    const group = `${invoke.process}:${key}`;
    const list = groups.get(group) ?? [];
    list.push({ invoke, end, key, version, from });
    groups.set(group, list);
    checked++;
  }
  // Loads the replica ran without the store (degraded, or a store call on the way failed): their
  // values were never written, like those of a load a fault kept from the store.
  const unwritten = new Set<number>();
  for (const { end } of operations(history, 'load')) {
    if (end === undefined || end.type !== 'ok') continue;
    const { version, lease, storeStatus } = end.value as {
      version: number;
      lease?: string;
      storeStatus?: string;
    };
    if (storeStatus === 'degraded' || (lease !== undefined && STORE_CALL_LOST.has(lease))) {
      unwritten.add(version);
    }
  }
  // The value's version is the shared monotonic time its load started.
  const alone = (read: Read) =>
    localTailMs !== undefined &&
    read.from === read.invoke.process &&
    (unwritten.has(read.version) ||
      faultNear(faults, read.from, read.version, read.version, localTailMs));
  const violations: Violation[] = [];
  let worst = 0;
  let excused = 0;
  for (const list of groups.values()) {
    const byInvoke = [...list].sort((a, b) => a.invoke.mono - b.invoke.mono);
    const byEnd = [...list].sort((a, b) => a.end.mono - b.end.mono);
    let seen: Read | undefined;
    let seenAlone: Read | undefined;
    let next = 0;
    for (const read of byInvoke) {
      while (next < byEnd.length && byEnd[next]!.end.mono < read.invoke.mono) {
        const done = byEnd[next++]!;
        if (alone(done)) {
          if (seenAlone === undefined || done.version > seenAlone.version) seenAlone = done;
        } else if (seen === undefined || done.version > seen.version) {
          seen = done;
        }
      }
      if (seen === undefined || read.version >= seen.version) {
        if (seenAlone !== undefined && read.version < seenAlone.version) excused++;
        continue;
      }
      const back = seen.version - read.version;
      worst = Math.max(worst, back);
      violations.push({
        invariant: 'cache/monotonic-reads',
        message:
          `r${read.invoke.process} read ${read.key} at version ${read.version.toFixed(1)} after ` +
          `it had read version ${seen.version.toFixed(1)} (${back.toFixed(1)} ms older)`,
        events: [seen.end, read.invoke, read.end],
      });
    }
  }
  return {
    invariant: 'cache/monotonic-reads',
    checked,
    violations,
    worst: Math.round(worst),
    bound: 0,
    ...(localTailMs === undefined
      ? {}
      : { excused: { 'back from a value loaded alone': excused } }),
  };
}
