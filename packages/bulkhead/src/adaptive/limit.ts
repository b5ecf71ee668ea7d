/**
 * The interface between the bulkhead and an adaptive concurrency limit: the bulkhead reports
 * every finished call, the limit answers with a new value.
 */

/** One finished call, as the adaptive limit sees it. */
export interface LimitSample {
  /** How long `fn` ran, in milliseconds (queue time excluded). */
  readonly rttMs: number;
  /** How many calls were running when this one started, itself included. */
  readonly inflight: number;
  /** Whether the call failed in a way that signals overload (see `adaptive({ isOverload })`). */
  readonly dropped: boolean;
}

/** Which algorithm moves the limit. */
export type AdaptiveAlgorithm = 'aimd' | 'gradient';

/**
 * A concurrency limit that moves with observed latency and errors. Build one per bulkhead with
 * `adaptive()`; it keeps state, so sharing one between bulkheads mixes their samples.
 */
export interface AdaptiveLimit {
  /** The algorithm in use. */
  readonly algorithm: AdaptiveAlgorithm;
  /** The lowest value the limit takes. */
  readonly min: number;
  /** The highest value the limit takes. */
  readonly max: number;
  /** The current limit: an integer in [min, max]. */
  readonly current: number;
  /** Feeds one finished call to the algorithm; may change {@link current}. */
  record(sample: LimitSample): void;
  /** Subscribes to changes of {@link current}; returns a function that unsubscribes. */
  onChange(listener: (limit: number) => void): () => void;
}
