/**
 * Rate limit under the nemesis: a fleet of replica processes sharing one limit in Redis, each
 * behind its own fault proxy, while the links slow, drop and reset and the store pauses and
 * crashes. Invariants: the window bound (limit + burst, plus the documented degraded,
 * state-loss and reservation allowances) and no silent fail-open.
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
 * The batch of the `rate-limit-reserve` variant: at most `burst + 1` (11), large enough that the
 * permits a replica holds (4) show in a window of 50, small enough to be taken often.
 */
export const RATE_LIMIT_RESERVE_BATCH = 5;

/** Options of {@link rateLimitScenario} beyond its fault set, fleet and `onStoreError`. */
export interface RateLimitScenarioOptions {
  /**
   * Reservation mode (the variant `rate-limit-reserve`): each replica takes `batch` permits per
   * round trip and spends them locally. The window bound grows by `replicas × (batch − 1)`, the
   * documented bound of reservation mode, and permits a replica held when its store became
   * unreachable may still be spent (at most `batch − 1` per replica and outage). @default off
   */
  reserve?: { batch: number };
}

/**
 * The rate-limit scenario, with `faults` (default: all of {@link RATE_LIMIT_FAULTS}), the
 * limiter's `onStoreError` (default `'local'`; `'fail-open'` shows what the checker catches) and,
 * with `options.reserve`, the limiter in reservation mode.
 */
export function rateLimitScenario(
  faults: readonly FaultName[] = RATE_LIMIT_FAULTS,
  replicas = 3,
  onStoreError: RateLimitParams['onStoreError'] = 'local',
  options: RateLimitScenarioOptions = {},
): Scenario<RateLimitParams> {
  const params: RateLimitParams = {
    limit: 40,
    burst: 10,
    intervalMs: 1_000,
    storeDeadlineMs: 100,
    loops: 3,
    pauseMs: 10,
    onStoreError,
    // In reservation mode the fleet alternates: a quiet second (9 loops pausing 250 ms, ~35
    // calls/s, within the limit: replicas take batches and hold permits, also when an outage or
    // the next window begins), then a busy one far above the limit (where the store seldom holds
    // a whole batch and grants the call's own cost), in which the held permits are spent on top
    // of what the store admits: the windows the reservation bound is about.
    ...(options.reserve === undefined
      ? {}
      : { reserve: options.reserve, quiet: { everyMs: 1_000, pauseMs: 250 } }),
  };
  const reserveBatch = options.reserve?.batch;
  return {
    name: reserveBatch === undefined ? 'rate-limit' : 'rate-limit-reserve',
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
        reserveBatch,
      }),
      checkNoSilentFailOpen(history, reserveBatch),
    ],
  };
}
