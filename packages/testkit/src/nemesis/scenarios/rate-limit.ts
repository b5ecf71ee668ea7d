/**
 * Rate limit under the nemesis: a fleet of replica processes sharing one limit in Redis, each
 * behind its own fault proxy, while the links slow, drop and reset and the store pauses and
 * crashes. Invariants: the window bound (limit + burst, plus the documented degraded and
 * state-loss allowances) and no silent fail-open.
 */
import { fileURLToPath } from 'node:url';
import type { FaultName } from '../faults.js';
import { checkNoSilentFailOpen, checkRateLimitWindows } from '../invariants/rate-limit.js';
import type { RateLimitParams } from '../replicas/rate-limit.js';
import type { Scenario } from '../scenario.js';

/** The faults the rate-limit scenario draws from. */
export const RATE_LIMIT_FAULTS: readonly FaultName[] = [
  'proxy-latency',
  'proxy-bandwidth',
  'proxy-drop',
  'proxy-drop-replies',
  'proxy-reset',
  'proxy-half-open',
  'store-pause',
  'store-crash',
  'store-crash-aof',
  'store-failover',
  'clock-jump',
];

/**
 * The rate-limit scenario, with `faults` (default: all of {@link RATE_LIMIT_FAULTS}) and the
 * limiter's `onStoreError` (default `'local'`; `'fail-open'` shows what the checker catches).
 */
export function rateLimitScenario(
  faults: readonly FaultName[] = RATE_LIMIT_FAULTS,
  replicas = 3,
  onStoreError: RateLimitParams['onStoreError'] = 'local',
): Scenario<RateLimitParams> {
  const params: RateLimitParams = {
    limit: 40,
    burst: 10,
    intervalMs: 1_000,
    storeDeadlineMs: 100,
    loops: 3,
    pauseMs: 10,
    onStoreError,
  };
  return {
    name: 'rate-limit',
    script: fileURLToPath(new URL('../replicas/rate-limit.ts', import.meta.url)),
    replicas,
    params,
    faults,
    // Link faults hit one replica or the whole fleet, at random.
    perReplica: (fault) => fault.startsWith('proxy-') && fault !== 'proxy-drop',
    faultMs: [300, 1_500],
    healthyMs: [300, 1_200],
    check: (history) => [
      checkRateLimitWindows(history, {
        limit: params.limit,
        burst: params.burst,
        intervalMs: params.intervalMs,
        replicas,
      }),
      checkNoSilentFailOpen(history),
    ],
  };
}
