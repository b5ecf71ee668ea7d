/**
 * Gives an existing opossum breaker the fleet's shared state, for teams that migrate gradually:
 * opossum keeps running the calls (timeouts, fallbacks, its events and metrics stay as they are),
 * while the decision to open and close comes from the shared breaker.
 *
 * - Outcomes: opossum's `success` and `failure` events (timeouts and rejections by its semaphore
 *   are failures in opossum too) are counted into the shared window, like calls of a breaker.
 * - Shared transitions: open or isolated → `opossum.open()`; closed or disabled → `opossum.close()`.
 * - Half-open: opossum half-opens by its own timer, one call per process. The bridge shuts it again
 *   at once unless the shared break is over and this process obtained one of the fleet's
 *   `halfOpen.maxCalls` probe leases; the next call's outcome then ends the lease. So at most
 *   `maxCalls` processes probe at a time — each lets through the calls that arrive before its
 *   probe settles, since opossum has no public way to admit exactly one.
 */
import { type ObservedBreaker, observedBreaker } from './circuit-breaker.js';
import type { CircuitBreakerOptions } from './options.js';
import type { BreakerState } from './store.js';

/** The part of an opossum `CircuitBreaker` (9.x, 10.x) the bridge uses. */
export interface OpossumBreakerLike {
  /** Opens the breaker (opossum starts its reset timer). */
  open(): void;
  /** Closes the breaker. */
  close(): void;
  /** Whether it is open. */
  readonly opened: boolean;
  /** Whether it is half-open. */
  readonly halfOpen: boolean;
  /** Adds an event listener. */
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  /** Removes an event listener. */
  removeListener(event: string, listener: (...args: unknown[]) => void): unknown;
  /** Its options, read for defaults. */
  readonly options?: {
    readonly errorThresholdPercentage?: number;
    readonly volumeThreshold?: number;
    readonly resetTimeout?: number;
    readonly rollingCountTimeout?: number;
    readonly rollingCountBuckets?: number;
    readonly timeout?: number | false;
  };
}

/** Options of {@link shareState}: a store, a name, and any breaker option to override. */
export type ShareStateOptions = Omit<
  CircuitBreakerOptions,
  'timeoutMs' | 'fallback' | 'shouldHandle'
> & {
  /** The shared store (`redisStore()`, `dynamoStore()`). */
  store: NonNullable<CircuitBreakerOptions['store']>;
  /** The shared breaker's name: every replica's opossum breaker for this dependency uses the same. */
  name: string;
};

/** The link between an opossum breaker and the fleet's state. */
export interface SharedOpossumState {
  /** The shared breaker (its state, stats, events, `isolate()`/`reset()` for the fleet). */
  readonly shared: ObservedBreakerView;
  /** Detaches from the opossum breaker and closes the shared breaker's timers and subscriptions. */
  close(): Promise<void>;
}

/** The public face of the shared breaker handed to users of the bridge. */
export type ObservedBreakerView = Omit<
  ObservedBreaker,
  'observe' | 'acquireProbeLease' | 'releaseProbeLease' | 'breakOver' | 'connect'
>;

/**
 * Defaults taken from the opossum breaker's own options, so the fleet trips the way each opossum
 * breaker would have: `errorThresholdPercentage` → `failureRatio`, `volumeThreshold` →
 * `minimumThroughput`, `rollingCountTimeout`/`rollingCountBuckets` → a time window,
 * `resetTimeout` → `breakDurationMs`.
 */
function defaultsFrom(opossum: OpossumBreakerLike): CircuitBreakerOptions {
  const o = opossum.options ?? {};
  const options: CircuitBreakerOptions = {
    failureRatio: Math.min(1, Math.max(0.01, (o.errorThresholdPercentage ?? 50) / 100)),
    minimumThroughput: Math.max(1, o.volumeThreshold ?? 1),
    breakDurationMs: o.resetTimeout ?? 30_000,
    window: {
      kind: 'time',
      durationMs: o.rollingCountTimeout ?? 10_000,
      buckets: o.rollingCountBuckets ?? 10,
    },
  };
  // opossum's timeout bounds its calls; a probe lease should not outlive one.
  if (typeof o.timeout === 'number' && o.timeout > 0)
    options.halfOpen = { probeLeaseMs: o.timeout };
  return options;
}

/**
 * Shares the state of an existing opossum breaker with the fleet.
 *
 * @example
 * const breaker = new CircuitBreaker(callPartner, { timeout: 3000, resetTimeout: 30_000 });
 * const store = redisStore({ client: redis });
 * shareState(breaker, { store, name: 'partner-api' });
 */
export function shareState(
  opossum: OpossumBreakerLike,
  options: ShareStateOptions,
): SharedOpossumState {
  if (typeof opossum?.open !== 'function' || typeof opossum.on !== 'function') {
    throw new TypeError('Expected `opossum` to be an opossum CircuitBreaker');
  }
  const shared = observedBreaker({ ...defaultsFrom(opossum), ...options });
  let lease: string | undefined;
  let asking = false;
  // The bridge's own open()/close() calls must not be mistaken for opossum's decisions.
  let steering = false;
  const steer = (action: () => void) => {
    steering = true;
    try {
      action();
    } finally {
      steering = false;
    }
  };

  const follow = (state: BreakerState) => {
    if (state === 'open' || state === 'isolated') {
      if (!opossum.opened) steer(() => opossum.open());
    } else if (state === 'closed' || state === 'disabled') {
      if (opossum.opened || opossum.halfOpen) steer(() => opossum.close());
    }
  };

  // opossum passes (result or error, latency in ms, …).
  const onSuccess = (...args: unknown[]) => settle('success', args[1]);
  const onFailure = (...args: unknown[]) => settle('failure', args[1]);
  function settle(result: 'success' | 'failure', latencyMs: unknown): void {
    if (lease !== undefined) {
      const token = lease;
      lease = undefined;
      void shared.releaseProbeLease(token, result);
      return;
    }
    shared.observe(result === 'failure', typeof latencyMs === 'number' ? latencyMs : 0);
  }

  const onHalfOpen = () => {
    if (steering) return;
    const state = shared.state;
    if (state === 'closed' || state === 'disabled') {
      steer(() => opossum.close());
      return;
    }
    // Hold opossum shut while the fleet decides who probes.
    steer(() => opossum.open());
    if (!shared.breakOver() || asking) return;
    asking = true;
    shared.acquireProbeLease().then(
      (token) => {
        asking = false;
        if (token === undefined) return;
        if (token !== 'closed') lease = token;
        steer(() => opossum.close());
      },
      () => {
        asking = false;
      },
    );
  };

  const offState = shared.onStateChange(({ to }) => {
    // A lease ends with the half-open state it belonged to.
    if (to !== 'half-open') lease = undefined;
    follow(to);
  });
  opossum.on('success', onSuccess);
  opossum.on('failure', onFailure);
  opossum.on('halfOpen', onHalfOpen);
  shared.connect();
  follow(shared.state);

  return {
    shared,
    async close() {
      offState();
      opossum.removeListener('success', onSuccess);
      opossum.removeListener('failure', onFailure);
      opossum.removeListener('halfOpen', onHalfOpen);
      await shared.close();
    },
  };
}
