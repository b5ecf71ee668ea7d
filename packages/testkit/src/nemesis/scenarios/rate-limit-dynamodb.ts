/**
 * Rate limit under the nemesis on DynamoDB: the fleet of the rate-limit scenario sharing one limit
 * in a dynalite of its own (a child process the nemesis pauses, kills and restarts), each replica's
 * client behind its own fault proxy. Same invariants, with the DynamoDB bound: decisions use the
 * replicas' clocks, so a clock jump of `J` ms allows `J / T` more units nearby (the documented
 * skew bound, packages/rate-limit/docs/stores.md).
 */
import type { FaultName } from '../faults.js';
import { checkNoSilentFailOpen, checkRateLimitWindows } from '../invariants/rate-limit.js';
import type { RateLimitParams } from '../replicas/rate-limit.js';
import type { Scenario } from '../scenario.js';
import { rateLimitScenario } from './rate-limit.js';

/** The faults the DynamoDB rate-limit scenario draws from: every fault DynamoDB has. */
export const RATE_LIMIT_DYNAMODB_FAULTS: readonly FaultName[] = [
  'proxy-latency',
  'proxy-drop',
  'proxy-reset',
  'store-pause',
  'store-crash',
  'store-crash-aof',
  'clock-jump',
];

/**
 * How far a `clock-jump` moves a replica's clock on DynamoDB, in ms. The allowance it buys is
 * `J / T` = 40 units (`T` = 25 ms), within reach of what the fleet could overshoot by; the 30 s of
 * the Redis scenarios would allow 1,200 (more than the fleet can ask for in a window: a bound that
 * cannot fail) and, a forward jump leaving the key's state 30 s ahead, refuse the whole fleet for
 * the rest of a run.
 */
export const DYNAMODB_CLOCK_JUMP_MS = 1_000;

/** The rate-limit scenario on DynamoDB, with `faults` (default {@link RATE_LIMIT_DYNAMODB_FAULTS}). */
export function rateLimitDynamoScenario(
  faults: readonly FaultName[] = RATE_LIMIT_DYNAMODB_FAULTS,
  replicas = 3,
  onStoreError: RateLimitParams['onStoreError'] = 'local',
): Scenario<RateLimitParams> {
  const base = rateLimitScenario(faults, replicas, onStoreError);
  const params: RateLimitParams = { ...base.params, store: 'dynamodb' };
  return {
    ...base,
    name: 'rate-limit-dynamodb',
    store: 'dynamodb',
    params,
    clockJumpMs: DYNAMODB_CLOCK_JUMP_MS,
    check: (history) => [
      checkRateLimitWindows(history, {
        limit: params.limit,
        burst: params.burst,
        intervalMs: params.intervalMs,
        replicas,
        store: 'dynamodb',
      }),
      checkNoSilentFailOpen(history),
    ],
  };
}
