/**
 * Breaker invariant over the shared resource's probe actions (`kind: 'probe-start'` and
 * `'probe-end'`, one clock: the resource's): half-open probes running at once, fleet-wide.
 */
import type { CheckResult, Violation } from '../checker.js';
import { faultIntervals, lossWithin, stateLosses } from '../fault-log.js';
import type { HistoryEvent } from '../history.js';
import { STATE_KEEPING_FAULTS } from './state-keeping-faults.js';

/** How long after a fault healed replicas may still decide locally (probe and reconnect). */
const LOCAL_TAIL_MS = 1_000;

interface Probe {
  call: string;
  replica: number;
  /**
   * Whether the replica decided the probe alone: its breaker was degraded when the probe started,
   * or the probe's lease was the breaker's own (`lease: 'local'`: the lease request failed or
   * outlived its deadline, see recording-breaker-store.ts).
   */
  degraded: boolean;
  start: HistoryEvent;
  end: HistoryEvent | undefined;
}

/** How much earlier than its first action a probe's lease may have been taken, in ms. */
const LEASE_SLACK_MS = 50;

/**
 * Faults that leave every replica's store reachable: they never let a replica decide alone. With
 * them the {@link STATE_KEEPING_FAULTS} of a Redis Cluster: a lease request that meets one may
 * miss its deadline, but the probe it let through says so itself (`lease: 'local'`).
 */
const STORE_REACHABLE_FAULTS = new Set(['replica-pause', 'clock-jump', ...STATE_KEEPING_FAULTS]);

/**
 * Probes at once ≤ `maxCalls` fleet-wide. While a fault hits the store or a link (and shortly
 * after), or while a probing replica reports its store `degraded` or ran the probe on a lease of
 * its own (`lease: 'local'`), a replica that cannot reach the store decides alone and may probe on
 * its own: then the bound is `maxCalls` per replica. A restart
 * that lost the store's probe leases adds `maxCalls`. A replica pause or a clock jump relaxes
 * nothing. With `probeLeaseMs`, a probe whose replica was paused longer than the lease while it ran
 * counts only until its lease ended (its start + `probeLeaseMs`, the lease not being renewed while
 * the probe runs): the store hands the probe on then, the lease's documented bound; such probes
 * are counted in `excused`.
 */
export function checkHalfOpenProbes(
  history: HistoryEvent[],
  maxCalls: number,
  replicas: number,
  probeLeaseMs?: number,
): CheckResult {
  const probes = new Map<string, Probe>();
  for (const event of history) {
    if (event.f !== 'act') continue;
    const { call, replica, kind, storeStatus, lease } = event.value as {
      call: string;
      replica: number;
      kind?: string;
      storeStatus?: string;
      lease?: string;
    };
    if (kind === 'probe-start') {
      const degraded = storeStatus === 'degraded' || lease === 'local';
      probes.set(call, { call, replica, degraded, start: event, end: undefined });
    } else if (kind === 'probe-end') {
      const probe = probes.get(call);
      if (probe !== undefined) probe.end = event;
    }
  }
  const all = faultIntervals(history);
  const faults = all.filter((fault) => !STORE_REACHABLE_FAULTS.has(fault.fault));
  const losses = stateLosses(faults);
  let pastLease = 0;
  // When each probe stops counting: its end, or, for a probe that a pause of its replica kept
  // running past its lease, when the lease lapsed. The lease is taken at admission, just before
  // the probe's first action, and is not renewed while the probe runs: the store hands the probe
  // on `probeLeaseMs` after (less a slack for the admission's round trip).
  const until = (probe: Probe): number => {
    const end = probe.end?.mono ?? Number.POSITIVE_INFINITY;
    if (probeLeaseMs === undefined || end - probe.start.mono <= probeLeaseMs) return end;
    const paused = all.some(
      (fault) =>
        fault.fault === 'replica-pause' &&
        fault.target === probe.replica &&
        fault.start < end &&
        fault.end > probe.start.mono,
    );
    if (!paused) return end;
    pastLease++;
    return probe.start.mono + probeLeaseMs - LEASE_SLACK_MS;
  };
  const edges = [...probes.values()].flatMap((probe) => [
    { at: probe.start.mono, delta: 1, probe },
    { at: until(probe), delta: -1, probe },
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
    const lost = losses.filter((loss) => lossWithin(loss, oldest - LOCAL_TAIL_MS, edge.at)).length;
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
    ...(pastLease > 0 ? { excused: { 'prober paused past its lease': pastLease } } : {}),
  };
}
