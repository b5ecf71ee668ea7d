/**
 * An OpenTelemetry SDK wired to in-memory readers, so tests can assert on the metrics and span
 * events a policy emits. Policies fetch their meter at construction, so install the SDK first.
 */
import { type Attributes, context, metrics, type Tracer, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  MeterProvider,
  MetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';

/** One data point of a collected metric: its attributes and its value (sum, gauge or histogram). */
export interface CollectedPoint {
  attributes: Attributes;
  value: number | Histogram;
}

/** A metric as collected from the in-memory reader. */
export interface CollectedMetric {
  name: string;
  unit: string;
  points: CollectedPoint[];
}

/** Handle on an installed in-memory OpenTelemetry SDK. */
export interface OtelHarness {
  /** A tracer of the test's own, to make an active span around the code under test. */
  readonly tracer: Tracer;
  /** Collects every metric recorded so far (cumulative). */
  collect(): Promise<CollectedMetric[]>;
  /** The named metric, or `undefined` if nothing recorded it. */
  metric(name: string): Promise<CollectedMetric | undefined>;
  /**
   * Sum of the points of a counter (or the count of a histogram) whose attributes include every
   * given attribute.
   */
  sum(name: string, where?: Attributes): Promise<number>;
  /** Spans ended so far. */
  spans(): ReadableSpan[];
  /** Unregisters the SDK so the next test starts clean. */
  uninstall(): Promise<void>;
}

class TestMetricReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/**
 * Registers a global MeterProvider, TracerProvider and async-hooks context manager backed by
 * in-memory readers. Call it before constructing the policy under test; call `uninstall()` after.
 */
export function installOtel(): OtelHarness {
  metrics.disable();
  trace.disable();
  context.disable();
  const reader = new TestMetricReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  metrics.setGlobalMeterProvider(meterProvider);
  trace.setGlobalTracerProvider(tracerProvider);

  const collect = async (): Promise<CollectedMetric[]> => {
    const { resourceMetrics } = await reader.collect();
    return resourceMetrics.scopeMetrics.flatMap((scope) =>
      scope.metrics.map((metric) => ({
        name: metric.descriptor.name,
        unit: metric.descriptor.unit,
        points: (metric.dataPoints as DataPoint<number | Histogram>[]).map((point) => ({
          attributes: point.attributes,
          value: point.value,
        })),
      })),
    );
  };
  const metric = async (name: string) => (await collect()).find((m) => m.name === name);

  return {
    tracer: trace.getTracer('breakwater-tests'),
    collect,
    metric,
    async sum(name, where = {}) {
      const found = await metric(name);
      if (!found) return 0;
      let total = 0;
      for (const point of found.points) {
        const matches = Object.entries(where).every(
          ([key, value]) => point.attributes[key] === value,
        );
        if (!matches) continue;
        total += typeof point.value === 'number' ? point.value : point.value.count;
      }
      return total;
    },
    spans: () => exporter.getFinishedSpans(),
    async uninstall() {
      await meterProvider.shutdown();
      await tracerProvider.shutdown();
      contextManager.disable();
      metrics.disable();
      trace.disable();
      context.disable();
    },
  };
}
