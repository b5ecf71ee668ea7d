/**
 * OpenTelemetry plumbing shared by every Breakwater package. `@opentelemetry/api` is a peer
 * dependency: with no SDK registered its meter and tracer are no-ops, so recording costs a check
 * of the global meter provider and span events cost one context lookup.
 */
import {
  type Attributes,
  type Meter,
  metrics,
  type Span,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { LazyInstruments } from './lazy-instruments.js';

export { isNoopMeter } from './lazy-instruments.js';

/** Attribute naming the policy instance on every metric and event. */
export const ATTR_POLICY_NAME = 'breakwater.policy.name';
/** Attribute naming the state store kind (`memory`, `redis`, `dynamodb`). */
export const ATTR_STORE = 'breakwater.store';

/**
 * Bucket boundaries, in seconds, for Breakwater's duration histograms of calls and store
 * operations (given as advice to the SDK, whose default buckets are meant for milliseconds):
 * 100 µs to 10 s, about three per decade.
 */
export const DURATION_BUCKETS_SECONDS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/**
 * Bucket boundaries, in seconds, for the histograms of waits and delays (a bulkhead's queue, a
 * rate limiter's `acquire()`, retry delays): {@link DURATION_BUCKETS_SECONDS} extended to 5
 * minutes, because those are bounded by options (`maxWaitMs`, backoff caps, `Retry-After` hints)
 * that commonly reach tens of seconds or minutes, where a call rarely does.
 */
export const WAIT_BUCKETS_SECONDS: readonly number[] = [
  ...DURATION_BUCKETS_SECONDS,
  30,
  60,
  120,
  300,
];

/** The instrumentation scope of one Breakwater package. */
export interface Telemetry {
  /** The package's name and version, which its meter and tracer carry. */
  readonly scope: TelemetryScope;
  /**
   * The package's meter from the meter provider registered now. Instruments made from it before
   * an SDK registers stay no-ops: policies make theirs with {@link instruments}.
   */
  readonly meter: Meter;
  /**
   * The package's tracer. The trace API hands out a proxy, so spans started from it are recorded
   * once a tracer provider is registered, even if the tracer was fetched before.
   */
  readonly tracer: Tracer;
  /**
   * Makes a policy's instruments from the package's meter so that they report once an SDK is
   * registered, whether it was registered before the policy was built or after.
   * @param create Makes the instruments (and registers observable callbacks) from a meter.
   * @param release Removes what `create` registered; called by `dispose()`.
   */
  instruments<T>(
    create: (meter: Meter) => T,
    release?: (instruments: T) => void,
  ): LazyInstruments<T>;
  /**
   * Adds an event to the span active in the caller's context, if there is one and it is
   * recording. Never starts a span.
   */
  addSpanEvent(name: string, attributes?: Attributes): void;
}

/** Identifies the package asking for telemetry. */
export interface TelemetryScope {
  /** Package name, e.g. `@breakwater/circuit-breaker`. */
  name: string;
  /** Package version. */
  version: string;
}

/**
 * The telemetry of a package: its meter, tracer and span events through the globally registered
 * OpenTelemetry providers. Instruments made with `instruments()` report once an SDK is
 * registered, so policies may be built before the SDK starts (a module-level singleton).
 */
export function getTelemetry(scope: TelemetryScope): Telemetry {
  const tracer = trace.getTracer(scope.name, scope.version);
  return {
    scope,
    get meter() {
      return metrics.getMeter(scope.name, scope.version);
    },
    tracer,
    instruments: (create, release) => new LazyInstruments(scope, create, release),
    addSpanEvent(name, attributes) {
      const span: Span | undefined = trace.getActiveSpan();
      if (span?.isRecording()) span.addEvent(name, attributes);
    },
  };
}
