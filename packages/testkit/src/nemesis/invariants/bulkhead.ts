/**
 * Bulkhead invariants over the shared resource's `act` events (one clock: the resource's).
 *
 * A call acts from its first action to its last. A call that stops at once when its lease is lost
 * does not act after that; one that acts on after its lease ended overlaps the call that got the
 * permit next, and the overlap shows.
 */
import type { CheckResult, Violation } from '../checker.js';
import { type FaultInterval, faultIntervals, lossWithin, stateLosses } from '../fault-log.js';
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

/**
 * The calls that acted before a pause of their replica of `staleAfterMs` or longer and were still
 * running when it ended (they acted after it, or ended after it: a call that stops at once on its
 * aborted signal acts no more), with the actions they made after resuming: on a lease that had
 * surely ended. Per call, in order.
 */
function staleActions(
  history: HistoryEvent[],
  staleAfterMs: number,
): { session: Session; pause: FaultInterval; stale: HistoryEvent[] }[] {
  const found: { session: Session; pause: FaultInterval; stale: HistoryEvent[] }[] = [];
  const pauses = longPauses(history, staleAfterMs);
  const ends = callEnds(history);
  for (const session of sessions(history)) {
    // A call with no recorded end was still running when its replica stopped.
    const end = Math.max(session.last.mono, ends.get(session.call) ?? Number.POSITIVE_INFINITY);
    for (const pause of pauses) {
      if (pause.target !== session.replica) continue;
      if (session.first.mono > pause.start || end < pause.end) continue;
      found.push({ session, pause, stale: session.acts.filter((act) => act.mono >= pause.end) });
    }
  }
  return found;
}

/**
 * Calls acting at once ≤ `maxConcurrent` (+ `maxConcurrent` for each restart that made the store
 * forget its leases while the overlap lasted: the documented bound of a store that lost its state).
 * With `staleAfterMs`, actions after a replica's pause that long are left to
 * {@link checkNoStaleActions}.
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
  const losses = stateLosses(faultIntervals(history));
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
    const oldest = Math.min(...[...open].map((s) => s.first.mono));
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

/**
 * A holder paused past its lease acts no more when it resumes: a call that acted before a pause
 * of its replica longer than `staleAfterMs` (the lease TTL plus a margin) makes at most
 * `allowedPerCall` actions after it (0 for the strict invariant).
 */
export function checkNoStaleActions(
  history: HistoryEvent[],
  staleAfterMs: number,
  allowedPerCall = 0,
): CheckResult {
  const violations: Violation[] = [];
  let worst = 0;
  const found = staleActions(history, staleAfterMs);
  for (const { session, pause, stale } of found) {
    worst = Math.max(worst, stale.length);
    if (stale.length <= allowedPerCall) continue;
    const before = session.acts[session.acts.indexOf(stale[0]!) - 1]!;
    violations.push({
      invariant: 'bulkhead/no-stale-action',
      message:
        `r${session.replica} call ${session.call} (token ${session.token}) was paused ` +
        `${(pause.end - pause.start).toFixed(0)} ms, past its lease, and acted ${stale.length} ` +
        `time(s) after resuming (allowed: ${allowedPerCall})`,
      events: [pause.event, before, ...stale.slice(0, 3)],
    });
  }
  return {
    invariant: 'bulkhead/no-stale-action',
    checked: found.length,
    violations,
    worst,
    bound: allowedPerCall,
  };
}
