/**
 * Circuit breaker under the nemesis on DynamoDB: the fleet of the breaker scenario sharing one
 * breaker item in a dynalite of its own (a child process the nemesis pauses, kills and restarts),
 * each replica's client behind its own fault proxy. Invariant: half-open probes fleet-wide ≤
 * `halfOpen.maxCalls` (per replica while it cannot reach the store), as on Redis.
 */
import type { FaultName } from '../faults.js';
import type { BreakerParams } from '../replicas/breaker.js';
import type { Scenario } from '../scenario.js';
import { BREAKER_FAULTS, breakerScenario } from './breaker.js';

/**
 * The faults the DynamoDB breaker scenario draws from. No `clock-jump`: the DynamoDB store keeps
 * time on the replicas' clocks, and its docs (packages/circuit-breaker/docs/stores.md) ask them
 * to agree within a small fraction of the shortest duration configured — a 30 s jump of a replica
 * is outside what it promises (its probe leases would expire early on that replica's clock).
 */
export const BREAKER_DYNAMODB_FAULTS: readonly FaultName[] = BREAKER_FAULTS.filter(
  (fault) => fault !== 'clock-jump',
);

/** The breaker scenario on DynamoDB, with `faults` (default {@link BREAKER_DYNAMODB_FAULTS}). */
export function breakerDynamoScenario(
  faults: readonly FaultName[] = BREAKER_DYNAMODB_FAULTS,
  replicas = 3,
): Scenario<BreakerParams> {
  const base = breakerScenario(faults, replicas);
  return {
    ...base,
    name: 'breaker-dynamodb',
    store: 'dynamodb',
    params: { ...base.params, store: 'dynamodb' },
  };
}
