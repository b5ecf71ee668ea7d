/**
 * Bulkhead invariants over the shared resource's `act` events (one clock: the resource's).
 *
 * A call acts from its first action to its last. A call that stops at once when its lease is lost
 * does not act after that; one that acts on after its lease ended overlaps the call that got the
 * permit next, and the overlap shows.
 *
 * With `permitQuota`, calls of one replica are served from a block: one lease, one fencing token,
 * shared by the calls that run under it at once and one after the other. The checkers tell a block
 * by its token: the sessions of one replica with one token that follow each other closely (within
 * `staleAfterMs`, longer than a lease: a block no call ran under for a renewal is handed back) are
 * one holding. It matters twice: a state loss forgets the block, not only the calls that ran under
 * it then, so the calls the block serves after the loss (until its next renewal finds it gone) are
 * covered by the loss's allowance; and a call that starts under a block after its replica was
 * paused past the block's lease acts on a lease that surely ended, like a call paused mid-way.
 *
 * A failover that loses what the replica had not received (Sentinel's, recorded from just before
 * the primary is cut off from its replica) forgets the leases granted until the replica is promoted,
 * not only those granted before the fault began: the loss is stretched to the promotion
 * ({@link throughPromotion}).
 */
import type { CheckResult, Violation } from '../checker.js';
import {
  type FaultInterval,
  faultIntervals,
  lossWithin,
  type StateLoss,
  stateLosses,
  throughPromotion,
} from '../fault-log.js';
import type { HistoryEvent } from '../history.js';

interface Session {
  call: string;
  replica: number;
  token: number | undefined;
  first: HistoryEvent;
  last: HistoryEvent;
  acts: HistoryEvent[];
}

/** Pauses of a replica process that outlived a lease: `staleAfterMs` or longer. */
function longPauses(history: HistoryEvent[], staleAfterMs: number): FaultInterval[] {
  return faultIntervals(history).filter(
    (fault) => fault.fault === 'replica-pause' && fault.end - fault.start > staleAfterMs,
  );
}

/**
 * The calls' sessions on the resource. With `stale`, the actions a call made after its replica
 * resumed from a long pause are left out (the no-stale-action invariant judges those).
 */
function sessions(history: HistoryEvent[], stale?: Set<HistoryEvent>): Session[] {
  const byCall = new Map<string, Session>();
  for (const event of history) {
    if (event.f !== 'act' || stale?.has(event)) continue;
    const { call, replica } = event.value as { call: string; replica: number };
    const session = byCall.get(call);
    if (session === undefined) {
      byCall.set(call, {
        call,
        replica,
        token: event.token,
        first: event,
        last: event,
        acts: [event],
      });
    } else {
      session.last = event;
      session.acts.push(event);
    }
  }
  return [...byCall.values()];
}

/**
 * When each session's permit was taken: the first action of its holding — its block (the sessions
 * of its replica with its token, each starting within `gapMs` of the previous one's last action),
 * or, for a call with a lease of its own (or with no `gapMs`), its own first action.
 */
function heldSince(all: Session[], gapMs: number | undefined): Map<Session, number> {
  const since = new Map<Session, number>();
  const byHolder = new Map<string, Session[]>();
  for (const session of all) {
    since.set(session, session.first.mono);
    if (gapMs === undefined || session.token === undefined) continue;
    const key = `${session.replica}:${session.token}`;
    const group = byHolder.get(key);
    if (group === undefined) byHolder.set(key, [session]);
    else group.push(session);
  }
  for (const group of byHolder.values()) {
    group.sort((a, b) => a.first.mono - b.first.mono);
    let start = Number.NEGATIVE_INFINITY;
    let lastAct = Number.NEGATIVE_INFINITY;
    for (const session of group) {
      if (session.first.mono - lastAct > gapMs!) start = session.first.mono;
      since.set(session, start);
      lastAct = Math.max(lastAct, session.last.mono);
    }
  }
  return since;
}

/** The history's state losses, each stretched to its failover's promotion when it has one. */
function leaseLosses(history: HistoryEvent[]): StateLoss[] {
  return stateLosses(faultIntervals(history)).map((loss) => throughPromotion(loss, history));
}

/** Whether `loss` may have made the store forget a lease between `from` and `to`. */
function lostBetween(losses: StateLoss[], from: number, to: number): boolean {
  return losses.some((loss) => lossWithin(loss, from, to));
}

/** When each call ended (its `ok` or `fail`), by the resource's call id (`pid:id`). */
function callEnds(history: HistoryEvent[]): Map<string, number> {
  const ends = new Map<string, number>();
  for (const event of history) {
    if (event.f === 'call' && (event.type === 'ok' || event.type === 'fail')) {
      ends.set(`${event.pid}:${event.id}`, event.mono);
    }
  }
  return ends;
}

/** A paused call judged by {@link checkNoStaleActions}. */
interface PausedCall {
  session: Session;
  pause: FaultInterval;
  /** Its last action before the pause (under its own lease, or under its block). */
  before: HistoryEvent;
  /** Its actions after the pause. */
  stale: HistoryEvent[];
}

/**
 * The calls that acted before a pause of their replica of `staleAfterMs` or longer and were still
 * running when it ended (they acted after it, or ended after it: a call that stops at once on its
 * aborted signal acts no more), with the actions they made after resuming: on a lease that had
 * surely ended. Per call, in order. And the calls that started after such a pause under a lease
 * their replica held before it — a block of `permitQuota` (same replica, same token), with no
 * state loss in between that could have handed the token out again — with all their actions.
 */
function staleActions(history: HistoryEvent[], staleAfterMs: number): PausedCall[] {
  const found: PausedCall[] = [];
  const pauses = longPauses(history, staleAfterMs);
  const ends = callEnds(history);
  const losses = leaseLosses(history);
  const all = sessions(history);
  for (const pause of pauses) {
    // The last action before the pause under each token the paused replica held.
    const heldBefore = new Map<number, HistoryEvent>();
    for (const session of all) {
      if (session.replica !== pause.target || session.token === undefined) continue;
      for (const act of session.acts) {
        if (act.mono > pause.start) break;
        const seen = heldBefore.get(session.token);
        if (seen === undefined || seen.mono < act.mono) heldBefore.set(session.token, act);
      }
    }
    for (const session of all) {
      if (session.replica !== pause.target) continue;
      if (session.first.mono <= pause.start) {
        // A call with no recorded end was still running when its replica stopped.
        const end = Math.max(session.last.mono, ends.get(session.call) ?? Number.POSITIVE_INFINITY);
        if (end < pause.end) continue;
        const stale = session.acts.filter((act) => act.mono >= pause.end);
        const before = session.acts.filter((act) => act.mono < pause.end).at(-1)!;
        found.push({ session, pause, before, stale });
      } else if (session.first.mono >= pause.end && session.token !== undefined) {
        const before = heldBefore.get(session.token);
        if (before === undefined || lostBetween(losses, before.mono, session.first.mono)) continue;
        found.push({ session, pause, before, stale: session.acts });
      }
    }
  }
  return found;
}

/**
 * Calls acting at once ≤ `maxConcurrent` (+ `maxConcurrent` for each restart that made the store
 * forget its leases while the overlap lasted — from the first action under the oldest lease still
 * acting, a block's first call's for calls under a block — until the last: the documented bound of
 * a store that lost its state; a failover's loss covers the leases granted until its promotion).
 * With `staleAfterMs`, actions after a replica's pause that long are
 * left to {@link checkNoStaleActions}, and the sessions of a block are told apart by it.
 */
export function checkBulkheadConcurrency(
  history: HistoryEvent[],
  maxConcurrent: number,
  staleAfterMs?: number,
): CheckResult {
  const stale =
    staleAfterMs === undefined
      ? undefined
      : new Set(staleActions(history, staleAfterMs).flatMap((found) => found.stale));
  const all = sessions(history, stale);
  const since = heldSince(all, staleAfterMs);
  const losses = leaseLosses(history);
  // Sweep: at equal times an end comes before a start (a call that handed its permit on).
  const edges = all.flatMap((session) => [
    { at: session.first.mono, delta: 1, session },
    { at: session.last.mono, delta: -1, session },
  ]);
  edges.sort((a, b) => a.at - b.at || a.delta - b.delta);
  const open = new Set<Session>();
  const violations: Violation[] = [];
  let worst = 0;
  let worstBound = maxConcurrent;
  let reportedUntil = Number.NEGATIVE_INFINITY;
  // A one-action session starts and ends at the same time: its end edge sorts first.
  const ended = new Set<Session>();
  for (const edge of edges) {
    if (edge.delta === -1) {
      if (!open.delete(edge.session)) ended.add(edge.session);
      continue;
    }
    open.add(edge.session);
    // A call under a block taken before a state loss counts from the block's first call.
    const oldest = Math.min(...[...open].map((s) => since.get(s)!));
    const lost = losses.filter((loss) => lossWithin(loss, oldest, edge.at)).length;
    const bound = maxConcurrent * (1 + lost);
    if (open.size > worst) {
      worst = open.size;
      worstBound = bound;
    }
    if (open.size > bound && edge.at > reportedUntil) {
      reportedUntil = Math.max(...[...open].map((s) => s.last.mono));
      violations.push({
        invariant: 'bulkhead/concurrency',
        message:
          `${open.size} calls acting at once (bound ${bound}): ` +
          [...open].map((s) => `r${s.replica} call ${s.call} token ${s.token}`).join(', '),
        events: [...open].flatMap((s) => [s.first, s.last]),
      });
    }
    if (ended.delete(edge.session)) open.delete(edge.session);
  }
  return {
    invariant: 'bulkhead/concurrency',
    checked: all.length,
    violations,
    worst,
    bound: worstBound,
  };
}

/** An action that took longer than a lease to be recorded: when it was checked, when answered. */
interface LateAction {
  checkedAt: number;
  /** When the replica had the resource's answer (its `act-late` event). */
  answeredAt: number;
}

/**
 * The actions that took longer than a lease to be recorded, by call (`pid:id`): the replica
 * records an `act-late` event for each (the process was paused while it was in flight).
 */
function lateActions(history: HistoryEvent[]): Map<string, LateAction[]> {
  const late = new Map<string, LateAction[]>();
  for (const event of history) {
    if (event.f !== 'act-late' || event.process < 0) continue;
    const { call, checkedAt } = event.value as { call: number; checkedAt: number };
    const key = `${event.pid}:${call}`;
    late.set(key, [...(late.get(key) ?? []), { checkedAt, answeredAt: event.mono }]);
  }
  return late;
}

/**
 * A holder paused past its lease acts no more when it resumes: a call that acted before a pause
 * of its replica longer than `staleAfterMs` (the lease TTL plus a margin) makes at most
 * `allowedPerCall` actions after it (0 for the strict invariant), and so does a call that starts
 * after the pause under a block its replica held before it (`permitQuota`).
 *
 * One action per paused call is told apart and counted in `excused` rather than judged: one the
 * replica had already checked its signal for and sent before the pause began (its `act-late`
 * says when it was checked), which reached the resource after the pause — the documented limit of
 * a check before each action (a process paused in the middle of an action). Anything the call did
 * after that was decided after the pause, and is judged.
 */
export function checkNoStaleActions(
  history: HistoryEvent[],
  staleAfterMs: number,
  allowedPerCall = 0,
): CheckResult {
  const violations: Violation[] = [];
  let worst = 0;
  const found = staleActions(history, staleAfterMs);
  const late = lateActions(history);
  let inFlight = 0;
  for (const { session, pause, before, stale: all } of found) {
    // Checked before the pause, and recorded before its answer came: that action, not the next
    // (one that went through before the pause and was answered after it leaves nothing to excuse).
    const sentBefore =
      session.first.mono <= pause.start &&
      all.length > 0 &&
      (late.get(session.call) ?? []).some(
        ({ checkedAt, answeredAt }) => checkedAt < pause.start && all[0]!.mono <= answeredAt,
      );
    const stale = sentBefore ? all.slice(1) : all;
    if (sentBefore) inFlight++;
    worst = Math.max(worst, stale.length);
    if (stale.length <= allowedPerCall) continue;
    const started = session.first.mono >= pause.end ? ' (started after it under its block)' : '';
    violations.push({
      invariant: 'bulkhead/no-stale-action',
      message:
        `r${session.replica} call ${session.call} (token ${session.token}) was paused ` +
        `${(pause.end - pause.start).toFixed(0)} ms, past its lease${started}, and acted ` +
        `${stale.length} time(s) after resuming (allowed: ${allowedPerCall})`,
      events: [pause.event, before, ...stale.slice(0, 3)],
    });
  }
  return {
    invariant: 'bulkhead/no-stale-action',
    checked: found.length,
    violations,
    worst,
    bound: allowedPerCall,
    ...(inFlight > 0
      ? { excused: { 'checked and sent before the pause (in flight)': inFlight } }
      : {}),
  };
}

/**
 * How many of the paused calls {@link checkNoStaleActions} judges ran under a block of
 * `permitQuota` — their token is shared with another call of their replica — and what the calls
 * that ran under blocks were, in all: what a run with `permitQuota` must have exercised.
 */
export function blockCoverage(
  history: HistoryEvent[],
  staleAfterMs: number,
): { blockCalls: number; calls: number; pausedBlockCalls: number } {
  const all = sessions(history);
  const callsPerHolder = new Map<string, number>();
  const holder = (session: Session): string => `${session.replica}:${session.token}`;
  for (const session of all) {
    if (session.token === undefined) continue;
    callsPerHolder.set(holder(session), (callsPerHolder.get(holder(session)) ?? 0) + 1);
  }
  const shared = (session: Session): boolean =>
    session.token !== undefined && callsPerHolder.get(holder(session))! > 1;
  return {
    blockCalls: all.filter(shared).length,
    calls: all.length,
    pausedBlockCalls: staleActions(history, staleAfterMs).filter(({ session }) => shared(session))
      .length,
  };
}
