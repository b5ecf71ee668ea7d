/**
 * Rate-limit invariants over a history of `limit` operations (`value` of the ending:
 * `{ allowed, source }`, of the invoke: `{ cost }`).
 *
 * Times are uncertain: a decision happened somewhere between its invoke and its ending. To report
 * no false violation, a window counts only the admissions that lie wholly inside it — a lower
 * bound of what the store admitted in it, so a count above the bound is a real overshoot.
 */
import type { CheckResult, Violation } from '../checker.js';
import { type FaultInterval, faultIntervals, hits, lossWithin, stateLosses } from '../fault-log.js';
import { type HistoryEvent, type Operation, operations } from '../history.js';

/** The limit a fleet was run with. */
export interface RateLimitBound {
  /** `limit` per `intervalMs`. */
  limit: number;
  /** `burst`. */
  burst: number;
  /** `intervalMs`. */
  intervalMs: number;
  /** Replicas in the fleet (each may admit one more unit on its local share while degraded). */
  replicas: number;
}

interface Admission {
  start: number;
  end: number;
  cost: number;
  degraded: boolean;
  operation: Operation;
}

function admissions(history: HistoryEvent[]): { admitted: Admission[]; decided: number } {
  const admitted: Admission[] = [];
  let decided = 0;
  for (const operation of operations(history, 'limit')) {
    const end = operation.end;
    if (end === undefined || end.type !== 'ok') continue;
    decided++;
    const value = end.value as { allowed: boolean; source: string };
    if (!value.allowed) continue;
    const cost = (operation.invoke.value as { cost?: number } | undefined)?.cost ?? 1;
    admitted.push({
      start: operation.invoke.mono,
      end: end.mono,
      cost,
      degraded: value.source === 'degraded',
      operation,
    });
  }
  admitted.sort((a, b) => a.start - b.start);
  return { admitted, decided };
}

/**
 * Admitted cost over any window of `intervalMs`:
 * - decided by the store: ≤ `limit + burst`, plus `limit + burst` for every restart that lost the
 *   store's state within one interval of the window (the store forgot what it had admitted);
 * - in all, when the window holds degraded admissions: that, plus `limit + burst + replicas` (each
 *   replica's local share of the limit and burst, each rounding up by at most one unit).
 */
export function checkRateLimitWindows(history: HistoryEvent[], bound: RateLimitBound): CheckResult {
  const { admitted, decided } = admissions(history);
  const losses = stateLosses(faultIntervals(history));
  const perWindow = bound.limit + bound.burst;
  const violations: Violation[] = [];
  let worst = 0;
  let worstBound = perWindow;
  // One report per overshooting stretch, not one per window start inside it.
  let reportedUntil = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < admitted.length; i++) {
    const from = admitted[i]!.start;
    const to = from + bound.intervalMs;
    let store = 0;
    let degraded = 0;
    const inside: Admission[] = [];
    for (let j = i; j < admitted.length && admitted[j]!.start <= to; j++) {
      const admission = admitted[j]!;
      if (admission.end > to) continue;
      inside.push(admission);
      if (admission.degraded) degraded += admission.cost;
      else store += admission.cost;
    }
    const lost = losses.filter((loss) => lossWithin(loss, from - bound.intervalMs, to)).length;
    const storeBound = perWindow * (1 + lost);
    const totalBound = degraded > 0 ? storeBound + perWindow + bound.replicas : storeBound;
    if (store + degraded > worst) {
      worst = store + degraded;
      worstBound = totalBound;
    }
    if ((store > storeBound || store + degraded > totalBound) && from > reportedUntil) {
      reportedUntil = to;
      const shown = [inside[0]!, inside[inside.length - 1]!].flatMap((a) =>
        a.operation.end === undefined
          ? [a.operation.invoke]
          : [a.operation.invoke, a.operation.end],
      );
      violations.push({
        invariant: 'rate-limit/window',
        message:
          `${store + degraded} admitted (${store} by the store, ${degraded} degraded) within ` +
          `${bound.intervalMs} ms from +${(from - (history[0]?.mono ?? 0)).toFixed(1)} ms; bound ` +
          `${storeBound} by the store, ${totalBound} in all (${lost} state loss(es) nearby)`,
        events: shown,
      });
    }
  }
  return {
    invariant: 'rate-limit/window',
    checked: decided,
    violations,
    worst,
    bound: worstBound,
  };
}

/**
 * Never a silent fail-open: an admission that started and ended while its replica could not reach
 * the store was not decided by the store, so it must say `source: 'degraded'`.
 */
export function checkNoSilentFailOpen(history: HistoryEvent[]): CheckResult {
  const outages = faultIntervals(history).filter((fault) => fault.unreachable);
  const violations: Violation[] = [];
  let checked = 0;
  for (const operation of operations(history, 'limit')) {
    const end = operation.end;
    if (end === undefined || end.type !== 'ok') continue;
    const value = end.value as { allowed: boolean; source: string };
    const outage = outages.find(
      (fault: FaultInterval) =>
        hits(fault, operation.invoke.process) &&
        operation.invoke.mono >= fault.start &&
        end.mono <= fault.end,
    );
    if (outage === undefined) continue;
    checked++;
    if (value.allowed && value.source !== 'degraded') {
      violations.push({
        invariant: 'rate-limit/no-silent-fail-open',
        message: `admitted with source '${value.source}' while the store was unreachable (${outage.fault})`,
        events: [outage.event, operation.invoke, end],
      });
    }
  }
  return { invariant: 'rate-limit/no-silent-fail-open', checked, violations };
}
