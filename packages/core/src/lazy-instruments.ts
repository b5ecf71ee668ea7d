/**
 * Instruments that report once an OpenTelemetry SDK is registered, whenever the policy holding
 * them was built.
 *
 * The metrics API has no proxy provider (the trace API has one): a meter handed out before an SDK
 * registers is the no-op meter, and instruments made from it stay no-ops. Policies are usually
 * module-level singletons, built before the SDK starts, so each keeps its instruments in a
 * `LazyInstruments`: made from the no-op meter at first, and made again, once, from the SDK's meter
 * when a record finds a meter provider other than the one it last saw. Once real, a record costs a
 * field read.
 *
 * Looking the global provider up costs about 9 ns on Node 20 (a miss on `globalThis` when nothing
 * registered), a tenth of a closed breaker's call; so the hot paths ask {@link LazyInstruments.recording},
 * (or {@link LazyInstruments.sampled}), which looks on its first read and then on every
 * `SDK_CHECK_INTERVAL`th, for about 1 ns a record. Rare records (a transition, a store failure) use {@link LazyInstruments.instruments},
 * which looks every time.
 */
import { createNoopMeter, type Meter, type MeterProvider, metrics } from '@opentelemetry/api';

/**
 * While no SDK is registered, {@link LazyInstruments.recording} looks for one on its first read and
 * then on every 16th: a policy used before the SDK started misses at most 15 records after it did.
 */
export const SDK_CHECK_INTERVAL = 16;

/** Identifies the package whose meter makes the instruments. */
interface MeterScope {
  readonly name: string;
  readonly version: string;
}

/**
 * Whether `meter` is the API's no-op meter (no SDK was registered when it was handed out): a
 * caller may then skip work whose only purpose is a measurement, such as reading the clock.
 */
export function isNoopMeter(meter: Meter): boolean {
  return meter === createNoopMeter();
}

/**
 * The instruments of one policy, resolved against the meter provider registered now.
 *
 * Hot paths read {@link recording} once per call before recording; rare records read
 * {@link instruments} directly. A set made from an SDK's meter stays with it: replacing a
 * registered provider later (`metrics.disable()` and another registration, as tests do) is not
 * followed.
 */
export class LazyInstruments<T> {
  private current: T;
  private live: boolean;
  private disposed = false;
  /** Reads of {@link recording} left before it looks for an SDK again. */
  private countdown = 0;
  /** The provider the current set was resolved against. */
  private provider: MeterProvider;

  /**
   * @param scope The package whose meter makes the instruments (`getTelemetry`'s scope).
   * @param create Makes the instruments (and registers observable callbacks) from a meter; called
   *   now, and once more when an SDK is first seen.
   * @param release Removes what `create` registered (observable callbacks); called by
   *   {@link dispose} on a set made from an SDK's meter.
   */
  constructor(
    private readonly scope: MeterScope,
    private readonly create: (meter: Meter) => T,
    private readonly release?: (instruments: T) => void,
  ) {
    this.provider = metrics.getMeterProvider();
    const meter = this.provider.getMeter(scope.name, scope.version);
    this.live = !isNoopMeter(meter);
    this.current = create(meter);
  }

  /**
   * Whether an SDK records these instruments; when not, skip the record (and reading the clock for
   * it). While no SDK is registered this looks for one on its first read and then on every
   * `SDK_CHECK_INTERVAL`th, and makes the real instruments when it finds one.
   */
  get recording(): boolean {
    return this.live || (--this.countdown < 0 && this.resolve());
  }

  /**
   * Whether the instruments are an SDK's, without looking for one: for decisions taken at
   * construction, which must not use up {@link recording}'s first look.
   */
  get sdkSeen(): boolean {
    return this.live;
  }

  /**
   * The current instruments, looking for an SDK as {@link recording} does (first read, then every
   * `SDK_CHECK_INTERVAL`th): for hot paths that record without asking {@link recording}
   * first. Before an SDK is seen they are no-ops, whose records cost an empty method call.
   */
  get sampled(): T {
    if (!this.live && --this.countdown < 0) this.resolve();
    return this.current;
  }

  /**
   * The current instruments: the SDK's once one is registered, no-ops before. Looks for an SDK on
   * every read while there is none, so that a rare record (a transition, a failure) is never
   * missed; hot paths ask {@link recording} first.
   */
  get instruments(): T {
    if (!this.live) this.resolve();
    return this.current;
  }

  /**
   * Releases the instruments (`release`), and stops watching for an SDK: a disposed policy never
   * registers callbacks. Instruments already real keep recording.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.live) this.release?.(this.current);
  }

  private resolve(): boolean {
    this.countdown = SDK_CHECK_INTERVAL - 1;
    const provider = metrics.getMeterProvider();
    if (provider === this.provider || this.disposed) return false;
    this.provider = provider;
    const meter = provider.getMeter(this.scope.name, this.scope.version);
    if (isNoopMeter(meter)) return false;
    this.current = this.create(meter);
    this.live = true;
    return true;
  }
}
