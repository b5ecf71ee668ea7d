/**
 * Breaker invariants about the fleet as a whole, from the replicas' own records (`state`
 * changes, `admitted` calls and periodic `view` samples, all on the shared monotonic clock):
 *
 * - every replica rejects within the stated bound after the fleet opens;
 * - after a fault that kept replicas from the store heals, the fleet converges to one state (every
 *   replica back on the store, all seeing the same state) within a bound.
 */
import type { CheckResult, Violation } from '../checker.js';
import { type FaultInterval, faultIntervals, hits, lossWithin, stateLosses } from '../fault-log.js';
import type { HistoryEvent } from '../history.js';

/** What bounds the fleet's rejection after it opens. */
export interface FleetRejectBound {
  /** How long after the fleet opened every replica must reject (the README: 2 × `syncIntervalMs`). */
  boundMs: number;
  /** The breaker's `breakDurationMs`: the fleet is open that long after it tripped. */
  breakDurationMs: number;
  /**
   * How long before the first replica saw the open state the store can have tripped (the tripping
   * flush's round trip: at most one store deadline).
   */
  tripLeadMs: number;
  /** How long after a fault that hit a replica healed it may still decide alone (`'local'`). */
  localTailMs: number;
}

/**
 * The moments the fleet opened: a replica on the store saw `open` with no replica having seen it
 * shortly before. An open seen by a replica that a fault kept from the store (or had just healed)
 * may be its own local decision, not the fleet's: it is left out.
 */
function fleetOpens(
  history: HistoryEvent[],
  faults: FaultInterval[],
  bound: FleetRejectBound,
): HistoryEvent[] {
  const opens: HistoryEvent[] = [];
  let last = Number.NEGATIVE_INFINITY;
  for (const event of history) {
    if (event.f !== 'state') continue;
    const { to, storeStatus } = event.value as { to: string; storeStatus?: string };
    if (to !== 'open') continue;
    const local =
      storeStatus === 'degraded' ||
      faults.some(
        (fault) =>
          hits(fault, event.process) &&
          fault.start <= event.mono &&
          fault.end + bound.localTailMs >= event.mono,
      );
    if (!local && event.mono - last >= bound.breakDurationMs / 2) opens.push(event);
    last = event.mono;
  }
  return opens;
}

/**
 * Every replica rejects within `boundMs` after the fleet opens: the first replica to see the fleet
 * open at `t` means the store tripped after `t − tripLeadMs`, so it stays open until at least
 * `t − tripLeadMs + breakDurationMs`; a call any replica lets through between `t + boundMs` and
 * then is a violation — unless that replica was deciding alone (its store degraded, or a fault hit
 * it from `localTailMs` before the open on), or the store lost its state meanwhile, or the call was
 * a half-open probe on a lease the store granted (its shared resource action says `lease:
 * 'store'`): the store, on its own clock, found the break over, so `t` came more than
 * `tripLeadMs` after the trip (every replica slow to hear of it, as on a machine stalled at start);
 * those are counted in `excused`. `worst` is the latest a replica let a call through after an open
 * it was judged for (ms), `bound` `boundMs`.
 */
export function checkFleetRejects(history: HistoryEvent[], bound: FleetRejectBound): CheckResult {
  const faults = faultIntervals(history);
  const admitted = history.filter((event) => event.f === 'admitted');
  // Probes the store granted, by replica, process and call (see replicas/breaker-fleet.ts).
  const storeProbes = new Set<string>();
  for (const event of history) {
    if (event.f !== 'act') continue;
    const { replica, call, kind, lease } = event.value as {
      replica?: number;
      call?: string;
      kind?: string;
      lease?: string;
    };
    if (kind === 'probe-start' && lease === 'store') storeProbes.add(`${replica}:${call}`);
  }
  const violations: Violation[] = [];
  let worst = 0;
  let judged = 0;
  let storeGranted = 0;
  for (const open of fleetOpens(history, faults, bound)) {
    const from = open.mono;
    const until = from - bound.tripLeadMs + bound.breakDurationMs;
    if (until <= from + bound.boundMs) continue;
    judged++;
    for (const call of admitted) {
      if (call.mono <= from || call.mono >= until) continue;
      const {
        storeStatus,
        state,
        call: id,
      } = call.value as {
        storeStatus?: string;
        state?: string;
        call?: number;
      };
      if (storeStatus === 'degraded') continue;
      if (state === 'half-open' && storeProbes.has(`${call.process}:${call.pid}:${id}`)) {
        storeGranted++;
        continue;
      }
      const alone = faults.some(
        (fault) =>
          hits(fault, call.process) &&
          fault.start <= call.mono &&
          fault.end + bound.localTailMs >= from,
      );
      const lost = stateLosses(faults).some((loss) =>
        lossWithin(loss, from - bound.localTailMs, call.mono),
      );
      if (alone || lost) continue;
      const after = call.mono - from;
      worst = Math.max(worst, after);
      if (after <= bound.boundMs) continue;
      violations.push({
        invariant: 'breaker/fleet-rejects',
        message:
          `r${call.process} let a call through (${state ?? '?'}) ${after.toFixed(0)} ms after ` +
          `r${open.process} saw the fleet open (bound ${bound.boundMs} ms)`,
        events: [open, call],
      });
    }
  }
  return {
    invariant: 'breaker/fleet-rejects',
    checked: judged,
    violations,
    worst: Math.round(worst),
    bound: bound.boundMs,
    ...(storeGranted > 0 ? { excused: { 'probe the store granted': storeGranted } } : {}),
  };
}

/** What bounds the fleet's convergence after a fault heals. */
export interface ConvergenceBound {
  /** How long after a fault healed the fleet must agree, in ms. */
  boundMs: number;
  /** The replicas' sampling interval (`view` events), in ms: a sample older than two is stale. */
  sampleMs: number;
  /** How many replicas the fleet has. */
  replicas: number;
}

/**
 * After the store returns the fleet converges to one state: within `boundMs` after each fault
 * (other than a replica pause) healed, there is a moment when every replica's latest view sample
 * is fresh, says its store is healthy, and names the same state. A fault whose healing was
 * followed by the next fault or the end of the run before the bound (and before convergence) is
 * not judged. `worst` is
 * the longest time to converge (ms), `bound` `boundMs`.
 */
export function checkFleetConverges(history: HistoryEvent[], bound: ConvergenceBound): CheckResult {
  const faults = faultIntervals(history).filter((fault) => fault.fault !== 'replica-pause');
  const samples = history.filter((event) => event.f === 'view');
  const endOfRun = samples.at(-1)?.mono ?? Number.NEGATIVE_INFINITY;
  const violations: Violation[] = [];
  let worst = 0;
  let judged = 0;
  for (const fault of faults) {
    if (!Number.isFinite(fault.end)) continue;
    const healed = fault.end;
    const next = faults.find((other) => other.start > healed)?.start ?? Number.POSITIVE_INFINITY;
    const deadline = healed + bound.boundMs;
    const latest = new Map<number, HistoryEvent>();
    // Views sampled before the heal are the starting point.
    for (const sample of samples) {
      if (sample.mono > healed) break;
      latest.set(sample.process, sample);
    }
    let converged: number | undefined;
    let last: HistoryEvent | undefined;
    for (const sample of samples) {
      if (sample.mono <= healed) continue;
      if (sample.mono > Math.min(deadline, next)) break;
      latest.set(sample.process, sample);
      last = sample;
      if (latest.size < bound.replicas) continue;
      const views = [...latest.values()];
      const fresh = views.every((view) => sample.mono - view.mono <= 2 * bound.sampleMs);
      const healthy = views.every(
        (view) => (view.value as { storeStatus: string }).storeStatus === 'healthy',
      );
      const states = new Set(views.map((view) => (view.value as { state: string }).state));
      if (fresh && healthy && states.size === 1) {
        converged = sample.mono;
        break;
      }
    }
    if (converged !== undefined) {
      judged++;
      worst = Math.max(worst, converged - healed);
      continue;
    }
    // The next fault, or the end of the run, came before the bound: nothing to judge.
    if (Math.min(next, endOfRun) < deadline) continue;
    judged++;
    worst = Math.max(worst, bound.boundMs);
    const views = [...latest.values()];
    violations.push({
      invariant: 'breaker/fleet-converges',
      message:
        `${bound.boundMs} ms after ${fault.fault} (${fault.target === 'store' ? 'store' : `r${fault.target}`}) healed, ` +
        `the fleet still disagreed: ${views
          .map((view) => {
            const { state, storeStatus } = view.value as { state: string; storeStatus: string };
            return `r${view.process} ${state} (${storeStatus})`;
          })
          .join(', ')}`,
      events: last === undefined ? [fault.event] : [fault.event, ...views],
    });
  }
  return {
    invariant: 'breaker/fleet-converges',
    checked: judged,
    violations,
    worst: Math.round(worst),
    bound: bound.boundMs,
  };
}
