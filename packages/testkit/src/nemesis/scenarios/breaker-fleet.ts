/**
 * The breaker's fleet properties under the nemesis: a fleet of replica processes sharing one
 * breaker in Redis, calling a dependency that is down and up in turns, so the fleet opens from
 * closed, probes and closes again, while the store and the links fail and a replica is paused
 * (one probing on a lease the store granted, when one is; else the one that acted on the resource
 * last). Invariants: every replica rejects within 2 × `syncIntervalMs` after the fleet opens;
 * after a fault heals the fleet converges to one state within a bound; half-open probes
 * fleet-wide ≤ `halfOpen.maxCalls`, a paused prober's lease (which outlives the pause) included;
 * a probe outcome reported after its lease lapsed moves nothing.
 */
import { fileURLToPath } from 'node:url';
import type { FaultName } from '../faults.js';
import { checkHalfOpenProbes } from '../invariants/breaker.js';
import { checkFleetConverges, checkFleetRejects } from '../invariants/breaker-fleet.js';
import { checkStaleProbeOutcomes } from '../invariants/breaker-lease.js';
import type { BreakerFleetParams } from '../replicas/breaker-fleet.js';
import type { Scenario } from '../scenario.js';

/** The faults the breaker-fleet scenario draws from. */
export const BREAKER_FLEET_FAULTS: readonly FaultName[] = [
  'replica-pause',
  'store-pause',
  'store-crash',
  'store-crash-aof',
  'proxy-drop',
  'proxy-latency',
  'proxy-reset',
];

/**
 * How long after the store returns the fleet must agree again: ioredis drops a dead connection
 * after its `socketTimeout` (1 s) and reconnects; the breaker's probe finds the store back within
 * `storeProbeIntervalMs` (100 ms) and re-reads the shared state; a transition reaches every replica
 * within 2 × `syncIntervalMs` (200 ms). 1,300 ms in all; the bound doubles it for a loaded machine.
 */
export const BREAKER_CONVERGENCE_MS = 2_600;

/**
 * The probe lease of the `breaker-fleet-lease` variant: shorter than its pauses (1,000–1,800 ms),
 * so a prober paused mid-probe loses its lease and another replica may probe meanwhile.
 */
export const SHORT_PROBE_LEASE_MS = 600;

/**
 * The breaker-fleet scenario, with `faults` (default: all of {@link BREAKER_FLEET_FAULTS}). With
 * `pastLease`, the variant `breaker-fleet-lease`: probe lease {@link SHORT_PROBE_LEASE_MS}, pauses
 * of 1,000–1,800 ms and probes of 400 ms, so a pause catches a prober mid-probe and outlives its
 * lease.
 */
export function breakerFleetScenario(
  faults: readonly FaultName[] = BREAKER_FLEET_FAULTS,
  replicas = 3,
  pastLease = false,
): Scenario<BreakerFleetParams> {
  const params: BreakerFleetParams = {
    maxCalls: 1,
    breakDurationMs: 1_000,
    // Longer than any pause: a paused prober keeps its lease, and nobody else probes meanwhile
    // (the variant: shorter than every pause).
    probeLeaseMs: pastLease ? SHORT_PROBE_LEASE_MS : 2_500,
    syncIntervalMs: 100,
    storeDeadlineMs: 100,
    storeProbeIntervalMs: 100,
    downMs: 1_500,
    staggerMs: 150,
    probeMs: pastLease ? 400 : 150,
    sampleMs: 25,
    loops: 2,
    pauseMs: 10,
  };
  return {
    name: pastLease ? 'breaker-fleet-lease' : 'breaker-fleet',
    script: fileURLToPath(new URL('../replicas/breaker-fleet.ts', import.meta.url)),
    replicas,
    params,
    faults,
    resource: true,
    // A pause hits a replica probing on a lease the store granted when one is.
    leases: ['store'],
    perReplica: (fault) =>
      fault === 'replica-pause' || (fault.startsWith('proxy-') && fault !== 'proxy-drop'),
    faultMs: pastLease ? [1_000, 1_800] : [500, 1_500],
    // Long enough for the fleet to converge before the next fault, so each heal is judged.
    healthyMs: [2_800, 3_500],
    check: (history) => [
      checkFleetRejects(history, {
        // The README's bound: every replica's view is open within 2 × syncIntervalMs.
        boundMs: 2 * params.syncIntervalMs,
        breakDurationMs: params.breakDurationMs,
        tripLeadMs: params.storeDeadlineMs,
        localTailMs: 1_500,
      }),
      checkFleetConverges(history, {
        boundMs: BREAKER_CONVERGENCE_MS,
        sampleMs: params.sampleMs,
        replicas,
      }),
      checkHalfOpenProbes(history, params.maxCalls, replicas, params.probeLeaseMs),
      checkStaleProbeOutcomes(history, { probeLeaseMs: params.probeLeaseMs }),
    ],
  };
}
