/**
 * Breaker invariant over the shared resource's probe actions (`kind: 'probe-start'` and
 * `'probe-end'`, one clock: the resource's): half-open probes running at once, fleet-wide.
 */
import type { CheckResult, Violation } from '../checker.js';
import { faultIntervals } from '../fault-log.js';
import type { HistoryEvent } from '../history.js';

/** How long after a fault healed replicas may still decide locally (probe and reconnect). */
const LOCAL_TAIL_MS = 1_000;

interface Probe {
  call: string;
  replica: number;
  /** Whether the replica's breaker was degraded (deciding alone) when it started the probe. */
  degraded: boolean;
  start: HistoryEvent;
  end: HistoryEvent | undefined;
}

/**
 * Probes at once ≤ `maxCalls` fleet-wide. While a fault hits the store or a link (and shortly
 * after), or while a probing replica reports its store `degraded`, a replica that cannot reach the
 * store decides alone and may probe on its own: then the bound is `maxCalls` per replica. A restart that lost the store's probe leases adds `maxCalls`.
 */
export function checkHalfOpenProbes(
  history: HistoryEvent[],
  maxCalls: number,
  replicas: number,
): CheckResult {
  const probes = new Map<string, Probe>();
  for (const event of history) {
    if (event.f !== 'act') continue;
    const { call, replica, kind, storeStatus } = event.value as {
      call: string;
      replica: number;
      kind?: string;
      storeStatus?: string;
    };
    if (kind === 'probe-start') {
      const degraded = storeStatus === 'degraded';
      probes.set(call, { call, replica, degraded, start: event, end: undefined });
    } else if (kind === 'probe-end') {
      const probe = probes.get(call);
      if (probe !== undefined) probe.end = event;
    }
  }
  const faults = faultIntervals(history);
  const edges = [...probes.values()].flatMap((probe) => [
    { at: probe.start.mono, delta: 1, probe },
    { at: probe.end?.mono ?? Number.POSITIVE_INFINITY, delta: -1, probe },
  ]);
  edges.sort((a, b) => a.at - b.at || a.delta - b.delta);
  const open = new Set<Probe>();
  const violations: Violation[] = [];
  let worst = 0;
  let worstBound = maxCalls;
  let reportedUntil = Number.NEGATIVE_INFINITY;
  for (const edge of edges) {
    if (edge.delta === -1) {
      open.delete(edge.probe);
      continue;
    }
    open.add(edge.probe);
    const oldest = Math.min(...[...open].map((probe) => probe.start.mono));
    const local =
      [...open].some((probe) => probe.degraded) ||
      faults.some((fault) => fault.start <= edge.at && fault.end + LOCAL_TAIL_MS >= oldest);
    const lost = faults.filter(
      (fault) =>
        fault.losesState && fault.start >= oldest - LOCAL_TAIL_MS && fault.start <= edge.at,
    ).length;
    const bound = (local ? maxCalls * replicas : maxCalls) + lost * maxCalls;
    if (open.size > worst) {
      worst = open.size;
      worstBound = bound;
    }
    if (open.size > bound && edge.at > reportedUntil) {
      reportedUntil = Math.max(...[...open].map((probe) => probe.end?.mono ?? edge.at));
      violations.push({
        invariant: 'breaker/half-open-probes',
        message:
          `${open.size} half-open probes at once (bound ${bound}${local ? ', faults nearby' : ''}): ` +
          [...open].map((probe) => `r${probe.replica} call ${probe.call}`).join(', '),
        events: [...open].flatMap((probe) =>
          probe.end ? [probe.start, probe.end] : [probe.start],
        ),
      });
    }
  }
  return {
    invariant: 'breaker/half-open-probes',
    checked: probes.size,
    violations,
    worst,
    bound: worstBound,
  };
}
