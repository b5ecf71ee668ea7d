/**
 * Cache invariants.
 *
 * - One loader per key per lease, judged from the shared resource's `load-start` / `load-end`
 *   actions (one clock: the resource's): two loads of one key overlap only when the first one's
 *   lease can have ended. A replica's `close` action ends its loads still running: closing the
 *   cache aborts them and releases their leases.
 * - Monotonic reads, judged from the replicas' `read` operations: per key and per replica, a read
 *   that starts after another ended returns a version at least as new.
 * - No stale load write, judged from the replicas' `lease-call` records: a load's write sent after
 *   its lease can have lapsed (its holder paused past it) never lands over a value written since
 *   the lease was taken.
 */
import type { CheckResult, Violation } from '../checker.js';
import {
  type FaultInterval,
  faultIntervals,
  hits,
  lostWith,
  type StateLoss,
  stateLosses,
  throughPromotion,
} from '../fault-log.js';
import type { HistoryEvent } from '../history.js';
import { operations } from '../history.js';
import type { LeaseCall } from '../recording-cache-store.js';
import { holderPauses } from './lease-pauses.js';
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

/** Faults that promote a replica which may have missed the primary's latest writes. */
const LOSSY_FAILOVERS: ReadonlySet<string> = new Set([
  'store-failover',
  'sentinel-failover',
  'cluster-failover-force',
]);

/**
 * The spans of acknowledgements the store may have forgotten: for a failover, from the fault's
 * start (recorded just before the replica is cut off from the primary or the primary is killed)
 * until its promotion is known (see {@link throughPromotion}; a forced Cluster failover's fault
 * ends once the old master knows it was demoted); for a restart without persistence, everything
 * acknowledged before it. A write acknowledged outside its span survived.
 */
export function lossWindows(history: HistoryEvent[]): StateLoss[] {
  return stateLosses(faultIntervals(history)).map((loss) => {
    const promoted = throughPromotion(loss, history);
    return LOSSY_FAILOVERS.has(loss.fault.fault)
      ? { ...promoted, from: loss.fault.start }
      : promoted;
  });
}

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
    if (kind === 'close') {
      // The replica's cache closes: it aborts its loads still running and releases their leases.
      const pid = call.slice(0, call.indexOf(':') + 1);
      for (const load of byCall.values()) {
        if (load.end === undefined && load.call.startsWith(pid)) load.end = event;
      }
      continue;
    }
    if (key === undefined) continue;
    if (kind === 'load-start') {
      const degraded = storeStatus === 'degraded';
      const alone = lease !== undefined && STORE_CALL_LOST.has(lease);
      byCall.set(call, { call, replica, key, degraded, alone, start: event, end: undefined });
    } else if (kind === 'load-end') {
      // An aborted load reports its end after the close that aborted it, which ended it first.
      const load = byCall.get(call);
      if (load !== undefined && load.end === undefined) load.end = event;
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
 * around its start), the store may have forgotten `earlier`'s lease (granted within a loss's span,
 * see {@link lossWindows}, and `later` started after the loss began),
 * or `earlier`'s lease can have expired (its replica stopped renewing — paused, or cut off from
 * the store — and `later` started at least two thirds of a lease TTL after `earlier`: a holder
 * renews every third of the TTL, so its lease outlives its last renewal by at least that much).
 */
function excuse(
  earlier: Load,
  later: Load,
  faults: FaultInterval[],
  losses: StateLoss[],
  bound: CacheLoadBound,
): string | undefined {
  const slack = bound.slackMs ?? 50;
  if (earlier.degraded || later.degraded) return 'degraded';
  const from = earlier.start.mono;
  const to = later.start.mono;
  // A failover keeps no replica from the store by itself: a store call it failed is labelled by
  // the replica (`alone`, below), and the leases it lost are judged by their grant time.
  const near = faults.filter((fault) => !LOSSY_FAILOVERS.has(fault.fault));
  if (faultNear(near, later.replica, to, to, bound.localTailMs)) return 'later without lease';
  if (faultNear(near, earlier.replica, from, from, bound.localTailMs)) {
    return 'earlier without lease';
  }
  // The store may have forgotten `earlier`'s lease: granted (between `slack` before its load's
  // start and that start) within a loss's span, `later` starting once the loss can have happened.
  const lost = losses.find(
    (loss) => from >= loss.from && from - slack <= loss.to && to >= loss.fault.start,
  );
  if (lost !== undefined) return `lease lost with the store's writes (${lost.fault.fault})`;
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
  const losses = lossWindows(history);
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
        const reason = excuse(earlier, load, faults, losses, bound);
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
 *
 * A store that lost acknowledged writes (a failover promoting a replica that missed them, a
 * restart without persistence) may hand a read an older value than one already read, only when
 * it can have forgotten that one: the newer value's write (its loader's `set`) was acknowledged
 * within a loss's span ({@link lossWindows}: for a failover, from the fault's start until the
 * promotion is known) and the older read ended after the loss began. Those reads are counted in
 * `excused` (`back from a write the store lost`); any other read that goes back is a violation.
 */
export function checkMonotonicReads(history: HistoryEvent[], localTailMs?: number): CheckResult {
  // A failover keeps no replica from the store by itself: what it failed is labelled (`unwritten`).
  const faults = faultIntervals(history).filter((fault) => !LOSSY_FAILOVERS.has(fault.fault));
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
  // When the store acknowledged each value: its loader's first `set` of the key sent after the
  // load started (a replica runs one load of a key at a time), by `replica:key:version`.
  const sets = new Map<string, { askedAt: number; at: number; ok: boolean }[]>();
  for (const event of history) {
    if (event.f !== 'lease-call') continue;
    const call = event.value as LeaseCall;
    if (call.call !== 'set') continue;
    const id = `${event.process}:${call.key}`;
    const list = sets.get(id) ?? [];
    list.push({ askedAt: call.askedAt, at: event.mono, ok: call.ok });
    sets.set(id, list);
  }
  const acknowledgedAt = (read: Read): number | undefined => {
    let first: { askedAt: number; at: number; ok: boolean } | undefined;
    for (const set of sets.get(`${read.from}:${read.key}`) ?? []) {
      if (set.askedAt >= read.version && (first === undefined || set.askedAt < first.askedAt)) {
        first = set;
      }
    }
    return first?.ok ? first.at : undefined;
  };
  const losses = lossWindows(history);
  // A failover (or a restart without persistence) may hand `read` a value older than `seen` only
  // when it can have forgotten `seen`'s: acknowledged within a loss's span, `read` ending after
  // the loss began.
  const lostBefore = (seen: Read, read: Read): StateLoss | undefined => {
    const at = acknowledgedAt(seen);
    if (at === undefined) return undefined;
    return losses.find((loss) => lostWith(loss, at) && read.end.mono >= loss.fault.start);
  };
  // The value's version is the shared monotonic time its load started.
  const alone = (read: Read) =>
    localTailMs !== undefined &&
    read.from === read.invoke.process &&
    (unwritten.has(read.version) ||
      faultNear(faults, read.from, read.version, read.version, localTailMs));
  const violations: Violation[] = [];
  let worst = 0;
  let excused = 0;
  let lostExcused = 0;
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
      if (lostBefore(seen, read) !== undefined) {
        lostExcused++;
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
    excused: {
      ...(localTailMs === undefined ? {} : { 'back from a value loaded alone': excused }),
      'back from a write the store lost': lostExcused,
    },
  };
}

/** What bounds a load lease's life, for {@link checkStaleLoadWrites}. */
export interface StaleWriteBound {
  /** The fleet lease's TTL (`lease.ttlMs`). */
  leaseTtlMs: number;
  /** Slack between the store's expiry of a lease and the replicas' clock. @default 10 */
  slackMs?: number;
}

interface RecordedCall {
  event: HistoryEvent;
  call: LeaseCall;
}

/**
 * No stale load write: a load's write (`set` with its lease token) sent when its lease had surely
 * lapsed — later than `leaseTtlMs` after the answer of the last take or renewal of the lease sent
 * before it: a holder paused past its lease, the others free to load meanwhile — must not land
 * when another write of the key landed after the lease was taken (a newer load's value, even one
 * expired since: readers saw it, and the late write would hand them an older one). `checked`
 * counts the writes sent past their lease; `excused` those that landed with nothing written since
 * (no reader can have seen newer); `counts` the refused ones and the pauses that caught a loader
 * under its lease. `worst` is the most newer writes one stale write landed over (bound 0).
 */
export function checkStaleLoadWrites(history: HistoryEvent[], bound: StaleWriteBound): CheckResult {
  const slack = bound.slackMs ?? 10;
  const byToken = new Map<string, RecordedCall[]>();
  const writesByKey = new Map<string, RecordedCall[]>();
  for (const event of history) {
    if (event.f !== 'lease-call') continue;
    const call = event.value as LeaseCall;
    if (call.call === 'set' && call.ok) {
      const list = writesByKey.get(call.key) ?? [];
      list.push({ event, call });
      writesByKey.set(call.key, list);
    }
    if (call.token === undefined) continue;
    // A token is drawn per load: one replica process's calls on one key share it.
    const id = `${event.pid}:${call.key}:${call.token}`;
    const list = byToken.get(id) ?? [];
    list.push({ event, call });
    byToken.set(id, list);
  }
  const violations: Violation[] = [];
  let checked = 0;
  let landed = 0;
  let refused = 0;
  let worst = 0;
  for (const calls of byToken.values()) {
    const taken = calls.find(({ call }) => call.call === 'acquire' && call.ok);
    if (taken === undefined) continue;
    for (const write of calls) {
      if (write.call.call !== 'set') continue;
      const sentAt = write.call.askedAt;
      // The latest the lease can have lived to, as the write was sent: the last answer of a take
      // or renewal sent before it, plus the TTL (the store set the expiry before answering).
      const heldUntil = Math.max(
        ...calls
          .filter(({ call }) => call.call !== 'set' && call.ok && call.askedAt <= sentAt)
          .map(({ event }) => event.mono + bound.leaseTtlMs),
      );
      if (sentAt <= heldUntil + slack) continue;
      checked++;
      if (!write.call.ok) {
        refused++;
        continue;
      }
      const newer = (writesByKey.get(write.call.key) ?? []).filter(
        (other) =>
          other !== write &&
          other.event.mono >= taken.event.mono &&
          other.event.mono < write.event.mono,
      );
      if (newer.length === 0) {
        landed++;
        continue;
      }
      const late = sentAt - heldUntil;
      worst = Math.max(worst, newer.length);
      violations.push({
        invariant: 'cache/no-stale-load-write',
        message:
          `r${write.event.process} wrote ${write.call.key} ${late.toFixed(0)} ms after its lease ` +
          `(token ${write.call.token}) had lapsed, over ${newer.length} newer write(s) since the ` +
          `lease was taken (last by r${newer.at(-1)!.event.process}, version ${newer.at(-1)!.call.version})`,
        events: [taken.event, ...newer.map((other) => other.event), write.event],
      });
    }
  }
  return {
    invariant: 'cache/no-stale-load-write',
    checked,
    violations,
    worst,
    bound: 0,
    excused: { 'landed past its lease, nothing written since': landed },
    counts: {
      'refused past its lease': refused,
      'pauses of a loader under its lease': holderPauses(history, 'load-start').length,
    },
  };
}
