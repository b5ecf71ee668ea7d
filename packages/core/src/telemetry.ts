/**
 * OpenTelemetry plumbing shared by every Breakwater package. `@opentelemetry/api` is a peer
 * dependency: with no SDK registered its meter and tracer are no-ops, so recording costs a method
 * call on an empty object and span events cost one context lookup.
 */
import {
  type Attributes,
  createNoopMeter,
  type Meter,
  metrics,
  type Span,
  type Tracer,
  trace,
} from '@opentelemetry/api';

/** Attribute naming the policy instance on every metric and event. */
export const ATTR_POLICY_NAME = 'breakwater.policy.name';
/** Attribute naming the state store kind (`memory`, `redis`, `dynamodb`). */
export const ATTR_STORE = 'breakwater.store';

/**
 * Bucket boundaries, in seconds, for every Breakwater duration histogram (given as advice to the
 * SDK, whose default buckets are meant for milliseconds): 100 µs to 10 s, about three per decade.
 */
export const DURATION_BUCKETS_SECONDS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/**
 * Whether `meter` is the API's no-op meter (no SDK was registered when it was handed out): a
 * caller may then skip work whose only purpose is a measurement, such as reading the clock.
 */
export function isNoopMeter(meter: Meter): boolean {
  return meter === createNoopMeter();
}

/** The instrumentation scope of one Breakwater package. */
export interface Telemetry {
  /** The package's meter; create instruments once, at policy construction. */
  readonly meter: Meter;
  /** The package's tracer, for users who ask a policy to start spans. */
  readonly tracer: Tracer;
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
 * The meter and tracer of a package, from the globally registered OpenTelemetry providers.
 *
 * Call it when a policy is constructed (not at module load): the OpenTelemetry API hands out
 * no-op meters before an SDK registers, and those stay no-ops. Register the SDK first, then build
 * policies.
 */
export function getTelemetry(scope: TelemetryScope): Telemetry {
  const meter = metrics.getMeter(scope.name, scope.version);
  const tracer = trace.getTracer(scope.name, scope.version);
  return {
    meter,
    tracer,
    addSpanEvent(name, attributes) {
      const span: Span | undefined = trace.getActiveSpan();
      if (span?.isRecording()) span.addEvent(name, attributes);
    },
  };
}
