/**
 * Bulkhead under the nemesis: a fleet of replica processes sharing `maxConcurrent` permits in
 * Redis, acting on a shared resource, while replicas are paused past their leases and the store
 * pauses or slows. Invariants: calls acting at once ≤ `maxConcurrent`; a holder paused past its
 * lease does not act when it resumes.
 */
import { fileURLToPath } from 'node:url';
import type { FaultName } from '../faults.js';
import { checkBulkheadConcurrency, checkNoStaleActions } from '../invariants/bulkhead.js';
import type { BulkheadParams } from '../replicas/bulkhead.js';
import type { Scenario } from '../scenario.js';

/** The faults the bulkhead scenario draws from. */
export const BULKHEAD_FAULTS: readonly FaultName[] = [
  'replica-pause',
  'store-pause',
  'store-crash-aof',
  'proxy-latency',
  'proxy-drop',
  'proxy-reset',
];

/**
 * Actions a call paused past its lease may still make when it resumes: none. The replica checks
 * `signal.aborted` before each action, and that read checks the lease's local validity
 * synchronously (monotonic time against the last confirmed renewal plus the TTL, less a safety
 * margin), so it sees the signal aborted before the step that was already due can act — without
 * waiting for the lease keeper's timer. (Until that check existed this was 1: the due step ran
 * first.)
 */
export const STALE_ACTIONS_AFTER_PAUSE = 0;

/**
 * The bulkhead scenario, with `faults` (default: all of {@link BULKHEAD_FAULTS}) and the stale
 * actions allowed per paused call (default {@link STALE_ACTIONS_AFTER_PAUSE}; 0 for the strict
 * invariant).
 */
export function bulkheadScenario(
  faults: readonly FaultName[] = BULKHEAD_FAULTS,
  replicas = 3,
  allowedStaleActions = STALE_ACTIONS_AFTER_PAUSE,
): Scenario<BulkheadParams> {
  const params: BulkheadParams = {
    maxConcurrent: 2,
    leaseTtlMs: 600,
    renewIntervalMs: 150,
    storeDeadlineMs: 100,
    loops: 2,
    steps: 8,
    stepMs: 15,
  };
  return {
    name: 'bulkhead',
    script: fileURLToPath(new URL('../replicas/bulkhead.ts', import.meta.url)),
    replicas,
    params,
    faults,
    resource: true,
    perReplica: (fault) => fault === 'replica-pause' || fault.startsWith('proxy-'),
    // A pause outlives the lease (600 ms) by far: the store surely hands the permit on.
    faultMs: [1_000, 1_800],
    healthyMs: [300, 900],
    check: (history) => {
      // A pause this long outlives the lease in the store, whatever was in flight.
      const staleAfterMs = params.leaseTtlMs + 100;
      return [
        checkBulkheadConcurrency(history, params.maxConcurrent, staleAfterMs),
        checkNoStaleActions(history, staleAfterMs, allowedStaleActions),
      ];
    },
  };
}

/**
 * The faults of the `permitQuota` variant: the bulkhead's, and a store restart without persistence
 * (the blocks the store counted are forgotten while their replicas still serve calls from them).
 */
export const BULKHEAD_QUOTA_FAULTS: readonly FaultName[] = [...BULKHEAD_FAULTS, 'store-crash'];

/**
 * The bulkhead scenario with `permitQuota` (`bulkhead-quota`): `maxConcurrent: 7`, blocks of at
 * most 2. Each replica runs 2 callers all along — 6 calls, below the limit, so in a calm phase
 * every replica serves its calls from a block of 2 and nobody is refused — and, in every other
 * phase of 1.5 s (the first is calm), one more that waits up to 300 ms between calls: demand that
 * comes and goes around the limit, so the fleet turns contended (calls take a permit each, blocks
 * shrink and are handed back) and calm again (blocks again), and the limit binds. A pause in the
 * first 1.5 s (a short run's first fault, with `firstFault: 'replica-pause'`) surely stops a
 * replica with calls running under its block; later ones, about half of the time.
 */
export function bulkheadQuotaScenario(
  faults: readonly FaultName[] = BULKHEAD_QUOTA_FAULTS,
  replicas = 3,
): Scenario<BulkheadParams> {
  const base = bulkheadScenario(faults, replicas);
  const params: BulkheadParams = {
    ...base.params,
    maxConcurrent: 7,
    permitQuota: 2,
    loops: 2,
    burstLoops: 1,
    phaseMs: 1_500,
    thinkMs: 300,
  };
  return {
    ...base,
    name: 'bulkhead-quota',
    params,
    check: (history) => {
      // The bounds of the bulkhead scenario: a block's lease lapses like a call's own.
      const staleAfterMs = params.leaseTtlMs + 100;
      return [
        checkBulkheadConcurrency(history, params.maxConcurrent, staleAfterMs),
        checkNoStaleActions(history, staleAfterMs, STALE_ACTIONS_AFTER_PAUSE),
      ];
    },
  };
}

/**
 * `bulkhead-quota` on another topology: `faults` (the Cluster's, or Sentinel's failover) with a
 * replica paused past its leases among them (`replica-pause` needs no fault proxy, so it runs on
 * any topology), so both invariants judge something: the blocks' concurrency through the topology
 * change, and a paused holder's calls after it.
 */
export function bulkheadQuotaTopologyScenario(
  faults: readonly FaultName[],
  replicas = 3,
): Scenario<BulkheadParams> {
  return bulkheadQuotaScenario([...faults, 'replica-pause'], replicas);
}
