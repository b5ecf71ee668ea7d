/**
 * Gives an existing opossum breaker the fleet's shared state, for teams that migrate gradually:
 * opossum keeps running the calls and its own state machine (timeouts, fallbacks, warm-up, its
 * events, states and metrics mean what they mean without the bridge), and the fleet's state is
 * laid over it.
 *
 * - Outcomes: opossum's `success` and `failure` events (timeouts and rejections by its semaphore
 *   are failures in opossum too) are counted into the shared window, like calls of a breaker —
 *   except while opossum warms up (`allowWarmUp`), when its failures may not open it either.
 * - Fleet → opossum: a shared transition to open or isolated opens opossum; a transition to
 *   closed or disabled closes it. Attaching never closes a breaker opossum restored as open or
 *   half-open (its `state` option); a fleet already open opens it.
 * - Half-open: opossum half-opens by its own timer and stays half-open: its next call is the probe,
 *   and opossum alone decides from its outcome, as usual. The bridge meanwhile asks the fleet for
 *   one of its `halfOpen.maxCalls` probe leases — as soon as the shared break is over, which may be
 *   a little after opossum's timer fired (a shared break starts when the store opened it). The
 *   lease ends with opossum's decision (its `close` event: success; `open`: failure), even when the
 *   probe settled before the lease was granted. When another replica holds the lease, or the
 *   fleet is isolated, the bridge re-opens opossum (one more `open` event, and opossum's
 *   `resetTimeout` starts again) unless its probe is already running, so at most `maxCalls`
 *   replicas probe at a time. With the fleet closed, opossum's own half-open stands.
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
  /** Whether it is closed (opossum 9 and 10 have it; without it, neither open nor half-open). */
  readonly closed?: boolean;
  /** Whether a half-open breaker still waits for its probe call. */
  readonly pendingClose?: boolean;
  /** Whether it is warming up (`allowWarmUp`): failures do not open it meanwhile. */
  readonly warmUp?: boolean;
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
  /**
   * Detaches from the opossum breaker (which keeps its state) and closes the shared breaker's
   * timers and subscriptions. Runs by itself when the opossum breaker is shut down.
   */
  close(): Promise<void>;
}

/** The public face of the shared breaker handed to users of the bridge. */
export type ObservedBreakerView = Omit<
  ObservedBreaker,
  'observe' | 'acquireProbeLease' | 'releaseProbeLease' | 'breakOver' | 'connect'
>;

/** The longest delay a timer takes, and so the longest duration option of a breaker. */
const MAX_TIMER_MS = 2_147_483_647;

/** The smallest double above `x` (≥ 0): a ratio `r` with `f / n >= r` exactly when `f / n > x`. */
function nextAbove(x: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  view.setBigUint64(0, view.getBigUint64(0) + 1n);
  return view.getFloat64(0);
}

/** A positive duration for the shared breaker: opossum's value when usable, else `fallback`. */
function durationFrom(value: unknown, fallback: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) return fallback;
  return Math.min(MAX_TIMER_MS, Math.max(1, value));
}

/**
 * Defaults taken from the opossum breaker's own options, read as opossum reads them, so that the
 * shared breaker trips when the opossum breaker alone would have:
 *
 * - `errorThresholdPercentage` → `failureRatio`: opossum opens when the failure rate is *above* the
 *   threshold, the shared breaker at or above its ratio, so the ratio is the next number above;
 *   at 100 or more opossum never opens on the rate, nor does the shared breaker.
 * - `volumeThreshold` → `minimumThroughput` (opossum ignores a non-integer one, as 0).
 * - `rollingCountTimeout`/`rollingCountBuckets` → a time window (0 is opossum's default for both).
 * - `resetTimeout` → `breakDurationMs` (0, accepted by opossum, becomes 1 ms).
 * - `timeout` → the probe lease's lifetime: a lease should not outlive the probe call.
 *
 * A half-open shared breaker waits for its probe however long it takes, as opossum does
 * (`halfOpen.maxDurationMs` at its maximum): an expired lease still frees the slot for another
 * replica.
 */
function defaultsFrom(opossum: OpossumBreakerLike): CircuitBreakerOptions {
  const o = opossum.options ?? {};
  const percentage =
    typeof o.errorThresholdPercentage === 'number' ? o.errorThresholdPercentage : 50;
  const volume = Number.isInteger(o.volumeThreshold) ? (o.volumeThreshold as number) : 0;
  const neverOnRate = !(percentage < 100);
  const durationMs = durationFrom(o.rollingCountTimeout, 10_000);
  const buckets =
    typeof o.rollingCountBuckets === 'number' &&
    Number.isInteger(o.rollingCountBuckets) &&
    o.rollingCountBuckets > 0
      ? Math.min(o.rollingCountBuckets, Math.floor(durationMs))
      : Math.min(10, Math.floor(durationMs));
  const options: CircuitBreakerOptions = {
    failureRatio: neverOnRate ? 1 : nextAbove(Math.max(0, percentage) / 100),
    minimumThroughput: neverOnRate ? Number.MAX_SAFE_INTEGER : Math.max(1, volume),
    breakDurationMs: durationFrom(o.resetTimeout, 1),
    window: { kind: 'time', durationMs, buckets },
    halfOpen: { maxDurationMs: MAX_TIMER_MS },
  };
  if (typeof o.timeout === 'number' && o.timeout > 0 && options.halfOpen !== undefined)
    options.halfOpen.probeLeaseMs = durationFrom(o.timeout, 1);
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
  const defaults = defaultsFrom(opossum);
  const shared = observedBreaker({
    ...defaults,
    ...options,
    halfOpen: { ...defaults.halfOpen, ...options.halfOpen },
  });
  /** The fleet's probe lease for opossum's current half-open, until opossum decides. */
  let lease: string | undefined;
  /**
   * Whether opossum half-opened and the fleet has not been told how that ended yet: the bridge
   * asks for a lease (now, or when the shared break is over) and reports opossum's decision.
   */
  let round = false;
  let asking = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let detached = false;
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

  /** What opossum decided about its half-open: `undefined` while it still waits for the probe. */
  const decision = (): 'success' | 'failure' | 'ignored' | undefined => {
    if (opossum.halfOpen) return undefined;
    if (opossum.opened) return 'failure';
    return opossum.closed === false ? 'ignored' : 'success';
  };

  const endRound = () => {
    round = false;
    clearTimeout(retryTimer);
    retryTimer = undefined;
  };

  /** Milliseconds until the shared break is over (by this replica's view of it); 0 when it is. */
  const breakLeftMs = (): number =>
    shared.state === 'open' ? (shared.stats().retryAfterMs ?? 0) : 0;

  /** Asks again once the shared break is over. */
  const retryIn = (ms: number) => {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(askForLease, Math.min(MAX_TIMER_MS, Math.max(1, ms)));
    retryTimer.unref?.();
  };

  function askForLease(): void {
    retryTimer = undefined;
    if (detached || !round || asking || lease !== undefined) return;
    const left = breakLeftMs();
    if (left > 0) {
      retryIn(left);
      return;
    }
    asking = true;
    shared.acquireProbeLease().then(leaseAnswered, () => {
      asking = false;
      endRound();
    });
  }

  function leaseAnswered(token: string | undefined): void {
    asking = false;
    if (detached || !round) {
      if (token !== undefined && token !== 'closed')
        void shared.releaseProbeLease(token, 'ignored');
      return;
    }
    if (token === 'closed') {
      endRound(); // the fleet is closed: opossum's own half-open stands
      return;
    }
    if (token === undefined) {
      const left = breakLeftMs();
      if (left > 0) {
        retryIn(left);
        return;
      }
      endRound();
      // Another replica probes, or the fleet is isolated: no probe here, unless it already runs.
      if (opossum.halfOpen && opossum.pendingClose !== false) steer(() => opossum.open());
      return;
    }
    endRound();
    const result = decision();
    if (result === undefined) lease = token;
    else void shared.releaseProbeLease(token, result);
  }

  /** opossum left half-open by its own decision: the lease, if any, ends with it. */
  const decided = (result: 'success' | 'failure') => {
    if (steering || lease === undefined) return;
    const token = lease;
    lease = undefined;
    void shared.releaseProbeLease(token, result);
  };
  const onClose = () => decided('success');
  const onOpen = () => decided('failure');
  const onHalfOpen = () => {
    if (steering || detached) return;
    round = true;
    askForLease();
  };

  // opossum passes (result or error, latency in ms, …). A warming-up opossum does not open on
  // failures, so the fleet does not hear of them either. The fleet hears of an outcome once
  // opossum has acted on it (opened on it, say): the shared breaker, which decides like opossum,
  // must not open opossum in the middle of its own `failure` event.
  const onSuccess = (...args: unknown[]) => settle(false, args[1]);
  const onFailure = (...args: unknown[]) => settle(true, args[1]);
  function settle(failed: boolean, latencyMs: unknown): void {
    if (opossum.warmUp === true) return;
    const durationMs = typeof latencyMs === 'number' ? latencyMs : 0;
    queueMicrotask(() => {
      if (!detached) shared.observe(failed, durationMs);
    });
  }

  const offState = shared.onStateChange(({ to }) => {
    if (to !== 'half-open') {
      // A lease ends with the half-open state it belonged to; the fleet decided for everyone.
      lease = undefined;
      endRound();
    }
    follow(to);
  });
  const onShutdown = () => {
    void link.close();
  };
  opossum.on('success', onSuccess);
  opossum.on('failure', onFailure);
  opossum.on('halfOpen', onHalfOpen);
  opossum.on('open', onOpen);
  opossum.on('close', onClose);
  opossum.on('shutdown', onShutdown);
  shared.connect();
  // A fleet already open opens opossum; a closed one leaves it as opossum restored it.
  const initial = shared.state;
  if (initial === 'open' || initial === 'isolated') follow(initial);
  if (opossum.halfOpen) onHalfOpen();

  const link: SharedOpossumState = {
    shared,
    async close() {
      if (!detached) {
        detached = true;
        endRound();
        offState();
        opossum.removeListener('success', onSuccess);
        opossum.removeListener('failure', onFailure);
        opossum.removeListener('halfOpen', onHalfOpen);
        opossum.removeListener('open', onOpen);
        opossum.removeListener('close', onClose);
        opossum.removeListener('shutdown', onShutdown);
        if (lease !== undefined) {
          const token = lease;
          lease = undefined;
          await shared.releaseProbeLease(token, 'ignored');
        }
      }
      await shared.close();
    },
  };
  return link;
}
