/**
 * Circuit breaker under the nemesis: a fleet of replica processes sharing one breaker in Redis,
 * calling a dependency that stays down, so the fleet opens, probes, and opens again, while the
 * links and the store fail. Invariant: half-open probes fleet-wide ≤ `halfOpen.maxCalls` (per
 * replica while it cannot reach the store).
 */
import { fileURLToPath } from 'node:url';
import type { FaultName } from '../faults.js';
import { checkHalfOpenProbes } from '../invariants/breaker.js';
import type { BreakerParams } from '../replicas/breaker.js';
import type { Scenario } from '../scenario.js';

/** The faults the breaker scenario draws from. */
export const BREAKER_FAULTS: readonly FaultName[] = [
  'proxy-latency',
  'proxy-drop',
  'proxy-reset',
  'store-pause',
  'store-crash',
  'store-crash-aof',
  'clock-jump',
];

/** The breaker scenario, with `faults` (default: all of {@link BREAKER_FAULTS}). */
export function breakerScenario(
  faults: readonly FaultName[] = BREAKER_FAULTS,
  replicas = 3,
): Scenario<BreakerParams> {
  const params: BreakerParams = {
    maxCalls: 1,
    breakDurationMs: 200,
    probeLeaseMs: 2_000,
    storeDeadlineMs: 100,
    probeMs: 40,
    loops: 2,
    pauseMs: 10,
  };
  return {
    name: 'breaker',
    script: fileURLToPath(new URL('../replicas/breaker.ts', import.meta.url)),
    replicas,
    params,
    faults,
    resource: true,
    perReplica: (fault) => fault.startsWith('proxy-') && fault !== 'proxy-drop',
    faultMs: [300, 1_500],
    healthyMs: [500, 1_500],
    check: (history) => [checkHalfOpenProbes(history, params.maxCalls, replicas)],
  };
}
