/**
 * Retry-budget invariant over a history of calls (`call` invokes: the budget counts each) and
 * their attempts (`attempt` and `attempt-failed` facts, `{ call, attempt }`).
 *
 * A retry was granted somewhere between the failure of the attempt before it and its own start:
 * a window counts only the retries granted wholly inside it (no false alarm), and credits every
 * call the budget could have counted by then (the window, plus one slot the budget keeps longer).
 */
import type { CheckResult, Violation } from '../checker.js';
import { faultIntervals, lossWithin, stateLosses } from '../fault-log.js';
import type { HistoryEvent } from '../history.js';

/** The budget a fleet was run with. */
export interface RetryBudgetBound {
  ratio: number;
  minPerSecond: number;
  windowMs: number;
  slots: number;
  /** Replicas in the fleet (each has its own reserve while the store is out of reach). */
  replicas: number;
}

interface Retry {
  start: number;
  end: number;
  event: HistoryEvent;
}

/** How long after a fault healed replicas may still decide locally (probe and reconnect). */
const DEGRADED_TAIL_MS = 1_000;

/** How many of the sorted `times` are in (`from`, `to`]. */
function countBetween(times: number[], from: number, to: number): number {
  const firstAfter = (value: number) => {
    let low = 0;
    let high = times.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (times[mid]! <= value) low = mid + 1;
      else high = mid;
    }
    return low;
  };
  return firstAfter(to) - firstAfter(from);
}

/**
 * Fleet retries over any span of `windowMs` − one slot (the least the budget's slotted window
 * covers) ≤ `ratio` × calls + `minPerSecond` × `windowMs` / 1000 (+ 1 for rounding). Where a fault hit the store or a link in or before the window, each
 * replica budgets alone on its own calls and the store knows nothing of those retries: twice the
 * ratio share, and one reserve per replica more. A restart that lost the store's state adds one
 * budget's worth.
 */
export function checkRetryBudget(history: HistoryEvent[], bound: RetryBudgetBound): CheckResult {
  const key = (event: HistoryEvent) => {
    const { call, attempt } = event.value as { call: number; attempt: number };
    return `${event.pid}:${call}:${attempt}`;
  };
  const failed = new Map<string, HistoryEvent>();
  for (const event of history) if (event.f === 'attempt-failed') failed.set(key(event), event);
  const retries: Retry[] = [];
  for (const event of history) {
    if (event.f !== 'attempt') continue;
    const { call, attempt } = event.value as { call: number; attempt: number };
    if (attempt < 2) continue;
    const before = failed.get(`${event.pid}:${call}:${attempt - 1}`);
    retries.push({ start: before?.mono ?? event.mono, end: event.mono, event });
  }
  retries.sort((a, b) => a.start - b.start);
  const calls = history
    .filter((event) => event.f === 'call' && event.type === 'invoke')
    .map((event) => event.mono)
    .sort((a, b) => a - b);
  const faults = faultIntervals(history);
  // Any fault can make store operations miss their deadline (latency and bandwidth included), and
  // each miss is decided locally; the store is back for all replicas within a probe or two after
  // the fault heals.
  const outages = faults;
  const losses = stateLosses(faults);
  const slotMs = bound.windowMs / bound.slots;
  // The budget's window moves a slot at a time: at any moment it sees at least the last
  // windowMs - slotMs, so that is the span its bound holds over.
  const judgedMs = bound.windowMs - slotMs;
  const reserve = (bound.minPerSecond * bound.windowMs) / 1000;
  const violations: Violation[] = [];
  let worst = 0;
  let worstBound = 0;
  let reportedUntil = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < retries.length; i++) {
    const from = retries[i]!.start;
    const to = from + judgedMs;
    const inside: Retry[] = [];
    let last = from;
    for (let j = i; j < retries.length && retries[j]!.start <= to; j++) {
      if (retries[j]!.end > to) continue;
      inside.push(retries[j]!);
      last = Math.max(last, retries[j]!.end);
    }
    // What the budget could have counted at its last grant in the window.
    const creditFrom = last - bound.windowMs - slotMs;
    const credited = countBetween(calls, creditFrom, last);
    const degraded = outages.some(
      (fault) => fault.start <= last && fault.end + DEGRADED_TAIL_MS >= creditFrom,
    );
    const lost = losses.filter((loss) =>
      lossWithin(loss, creditFrom - bound.windowMs, last),
    ).length;
    const one = bound.ratio * credited + reserve;
    const allowed = Math.floor(
      one * (1 + lost) + (degraded ? bound.ratio * credited + bound.replicas * reserve : 0) + 1,
    );
    if (inside.length > worst) {
      worst = inside.length;
      worstBound = allowed;
    }
    if (inside.length > allowed && from > reportedUntil) {
      reportedUntil = to;
      violations.push({
        invariant: 'retry-budget/fleet-retries',
        message:
          `${inside.length} retries within ${judgedMs} ms; bound ${allowed} ` +
          `(${credited} calls credited${degraded ? ', faults nearby' : ''}${lost > 0 ? `, ${lost} state loss(es)` : ''})`,
        events: [inside[0]!.event, inside[inside.length - 1]!.event],
      });
    }
  }
  return {
    invariant: 'retry-budget/fleet-retries',
    checked: retries.length,
    violations,
    worst,
    bound: worstBound,
  };
}
