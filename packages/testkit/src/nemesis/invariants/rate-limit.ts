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
  /**
   * `reserve.batch` when the fleet ran in reservation mode: each replica may spend in a window up
   * to `batch − 1` permits it took from the store before the window. @default no reservation
   */
  reserveBatch?: number | undefined;
  /**
   * The store the fleet decided on. Redis decides on its server time (`TIME`): replica clocks
   * play no part. DynamoDB decides on the replicas' clocks, and the rate-limit docs
   * (packages/rate-limit/docs/stores.md, "Clocks" and "Clock jumps") bound what skew adds: clocks
   * `D` ms apart admit at most `D / T` units more (`T = intervalMs / limit`). @default 'redis'
   */
  store?: 'redis' | 'dynamodb' | undefined;
}

/**
 * How long after a `clock-jump` healed a replica may still decide on the moved clock: the heal
 * reaches it over its stdin, and a decision in flight keeps the time it read.
 */
const CLOCK_JUMP_TAIL_MS = 1_000;

/**
 * The DynamoDB skew allowance of the window `[from, to]`: `ceil(|J| / T)` units for every clock
 * jump of `J` ms in force in it (or healed less than {@link CLOCK_JUMP_TAIL_MS} before it). Two
 * decisions of the window read clocks at most the sum of those jumps apart.
 */
function skewAllowance(jumps: FaultInterval[], from: number, to: number, bound: RateLimitBound) {
  const emissionMs = bound.intervalMs / bound.limit;
  let units = 0;
  for (const jump of jumps) {
    if (jump.start > to || jump.end + CLOCK_JUMP_TAIL_MS < from) continue;
    const offsetMs = Math.abs(Number((jump.detail as { offsetMs?: number } | undefined)?.offsetMs));
    units += Number.isFinite(offsetMs) ? Math.ceil(offsetMs / emissionMs) : 0;
  }
  return units;
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
 *   in reservation mode permits spent locally (`source: 'reservation'`) count as the store's, and
 *   the bound grows by `replicas × (reserveBatch − 1)`: the documented bound of reservation mode
 *   (packages/rate-limit/docs/algorithms.md), a replica holding at most `batch − 1` unspent
 *   permits it took before the window; on DynamoDB (`store: 'dynamodb'`), `ceil(J / T)` more for
 *   each clock jump of `J` ms nearby, the documented skew bound;
 * - in all, when the window holds degraded admissions: that, plus `limit + burst + replicas` (each
 *   replica's local share of the limit and burst, each rounding up by at most one unit).
 */
export function checkRateLimitWindows(history: HistoryEvent[], bound: RateLimitBound): CheckResult {
  const { admitted, decided } = admissions(history);
  const faults = faultIntervals(history);
  const losses = stateLosses(faults);
  // Only a store deciding on the replicas' clocks feels a replica's clock jump.
  const jumps =
    bound.store === 'dynamodb' ? faults.filter((fault) => fault.fault === 'clock-jump') : [];
  const perWindow = bound.limit + bound.burst;
  const reserved = bound.replicas * Math.max(0, (bound.reserveBatch ?? 1) - 1);
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
    const skew = skewAllowance(jumps, from, to, bound);
    const storeBound = perWindow * (1 + lost) + reserved + skew;
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
          `${storeBound} by the store, ${totalBound} in all (${lost} state loss(es) nearby` +
          `${reserved > 0 ? `, ${reserved} reserved` : ''}` +
          `${skew > 0 ? `, ${skew} for clock skew` : ''})`,
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
 * the store was not decided by the store, so it must say `source: 'degraded'` — or, in reservation
 * mode (`reserveBatch`), `source: 'reservation'`: a permit the store granted before the outage.
 * A replica holds at most `reserveBatch − 1` of them (its pool, or the batch on its way when the
 * link went down, never both), and cannot get more while the store is out of reach: more
 * reservation admissions than that by one replica within one outage are a silent fail-open. Those
 * within the allowance are counted in `excused`.
 */
export function checkNoSilentFailOpen(history: HistoryEvent[], reserveBatch?: number): CheckResult {
  const outages = faultIntervals(history).filter((fault) => fault.unreachable);
  const held = Math.max(0, (reserveBatch ?? 1) - 1);
  const violations: Violation[] = [];
  // Reservation admissions per outage and replica.
  const spent = new Map<FaultInterval, Map<number, number>>();
  let excused = 0;
  let checked = 0;
  for (const operation of operations(history, 'limit')) {
    const end = operation.end;
    if (end === undefined || end.type !== 'ok') continue;
    const value = end.value as { allowed: boolean; source: string };
    const replica = operation.invoke.process;
    const outage = outages.find(
      (fault: FaultInterval) =>
        hits(fault, replica) && operation.invoke.mono >= fault.start && end.mono <= fault.end,
    );
    if (outage === undefined) continue;
    checked++;
    if (!value.allowed || value.source === 'degraded') continue;
    if (value.source === 'reservation') {
      const perReplica = spent.get(outage) ?? new Map<number, number>();
      spent.set(outage, perReplica);
      const count = (perReplica.get(replica) ?? 0) + 1;
      perReplica.set(replica, count);
      if (count <= held) {
        excused++;
        continue;
      }
      if (count > held + 1) continue; // One report per replica and outage.
      violations.push({
        invariant: 'rate-limit/no-silent-fail-open',
        message:
          `r${replica} spent ${count} reserved permits while the store was unreachable ` +
          `(${outage.fault}); it can have held at most ${held}`,
        events: [outage.event, operation.invoke, end],
      });
      continue;
    }
    violations.push({
      invariant: 'rate-limit/no-silent-fail-open',
      message: `admitted with source '${value.source}' while the store was unreachable (${outage.fault})`,
      events: [outage.event, operation.invoke, end],
    });
  }
  return {
    invariant: 'rate-limit/no-silent-fail-open',
    checked,
    violations,
    ...(excused > 0 ? { excused: { 'reserved permits spent while unreachable': excused } } : {}),
  };
}
