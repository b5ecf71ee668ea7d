/**
 * An OpenTelemetry SDK wired to in-memory readers, so tests can assert on the metrics and span
 * events a policy emits, and on the instruments it creates (name, unit, description, bucket
 * advice). A policy built before `installOtel()` reports once it records again (its instruments
 * are resolved lazily), but a policy that reported to an SDK stays with it: build policies after
 * `installOtel()` in each test, or before it on purpose.
 */
import {
  type Attributes,
  context,
  type Meter,
  type MeterOptions,
  type MeterProvider,
  type MetricAdvice,
  type MetricOptions,
  metrics,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  type DataPoint,
  DataPointType,
  type Histogram,
  type MetricData,
  MetricReader,
  MeterProvider as SdkMeterProvider,
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

/** What kind of instrument made a collected metric, as the README tables name it. */
export type CollectedKind = 'counter' | 'up-down counter' | 'gauge' | 'histogram';

/** A metric as collected from the in-memory reader. */
export interface CollectedMetric {
  name: string;
  unit: string;
  description: string;
  kind: CollectedKind;
  points: CollectedPoint[];
}

/** The kinds of instrument a meter creates (`create<Kind>`). */
export type InstrumentKind =
  | 'counter'
  | 'up-down counter'
  | 'histogram'
  | 'gauge'
  | 'observable counter'
  | 'observable up-down counter'
  | 'observable gauge';

/** An instrument created through the installed SDK, with the options its creator gave. */
export interface CreatedInstrument {
  /** The meter's name: the package that created the instrument. */
  scope: string;
  kind: InstrumentKind;
  name: string;
  unit: string | undefined;
  description: string | undefined;
  advice: MetricAdvice | undefined;
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
   * The bucket boundaries of the named histogram as the SDK aggregates it, or `undefined` if
   * nothing recorded it.
   */
  boundaries(name: string): Promise<number[] | undefined>;
  /** Every instrument created through this SDK so far, in creation order. */
  instruments(): CreatedInstrument[];
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

function kindOf(metric: MetricData): CollectedKind {
  switch (metric.dataPointType) {
    case DataPointType.SUM:
      return metric.isMonotonic ? 'counter' : 'up-down counter';
    case DataPointType.GAUGE:
      return 'gauge';
    default:
      return 'histogram';
  }
}

/** A meter that notes every instrument created through it, then lets `meter` create it. */
function notingMeter(scope: string, meter: Meter, created: CreatedInstrument[]): Meter {
  const note = (kind: InstrumentKind, name: string, options: MetricOptions | undefined): void => {
    created.push({
      scope,
      kind,
      name,
      unit: options?.unit,
      description: options?.description,
      advice: options?.advice,
    });
  };
  return {
    createCounter(name, options) {
      note('counter', name, options);
      return meter.createCounter(name, options);
    },
    createUpDownCounter(name, options) {
      note('up-down counter', name, options);
      return meter.createUpDownCounter(name, options);
    },
    createHistogram(name, options) {
      note('histogram', name, options);
      return meter.createHistogram(name, options);
    },
    createGauge(name, options) {
      note('gauge', name, options);
      return meter.createGauge(name, options);
    },
    createObservableCounter(name, options) {
      note('observable counter', name, options);
      return meter.createObservableCounter(name, options);
    },
    createObservableUpDownCounter(name, options) {
      note('observable up-down counter', name, options);
      return meter.createObservableUpDownCounter(name, options);
    },
    createObservableGauge(name, options) {
      note('observable gauge', name, options);
      return meter.createObservableGauge(name, options);
    },
    addBatchObservableCallback: (callback, observables) =>
      meter.addBatchObservableCallback(callback, observables),
    removeBatchObservableCallback: (callback, observables) =>
      meter.removeBatchObservableCallback(callback, observables),
  };
}

/** The SDK's provider, behind one that notes the instruments its meters create. */
function notingProvider(provider: SdkMeterProvider, created: CreatedInstrument[]): MeterProvider {
  const meters = new Map<string, Meter>();
  return {
    getMeter(name: string, version?: string, options?: MeterOptions): Meter {
      const key = `${name}@${version ?? ''}`;
      let meter = meters.get(key);
      if (meter === undefined) {
        meter = notingMeter(name, provider.getMeter(name, version, options), created);
        meters.set(key, meter);
      }
      return meter;
    },
  };
}

/**
 * Registers a global MeterProvider, TracerProvider and async-hooks context manager backed by
 * in-memory readers. Call it before constructing the policy under test (or after, to test that a
 * policy built before an SDK reports once one is registered); call `uninstall()` after.
 */
export function installOtel(): OtelHarness {
  metrics.disable();
  trace.disable();
  context.disable();
  const reader = new TestMetricReader();
  const meterProvider = new SdkMeterProvider({ readers: [reader] });
  const created: CreatedInstrument[] = [];
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  metrics.setGlobalMeterProvider(notingProvider(meterProvider, created));
  trace.setGlobalTracerProvider(tracerProvider);

  const collect = async (): Promise<CollectedMetric[]> => {
    const { resourceMetrics } = await reader.collect();
    return resourceMetrics.scopeMetrics.flatMap((scope) =>
      scope.metrics.map((metric) => ({
        name: metric.descriptor.name,
        unit: metric.descriptor.unit,
        description: metric.descriptor.description,
        kind: kindOf(metric),
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
    async boundaries(name) {
      const point = (await metric(name))?.points[0];
      if (point === undefined || typeof point.value === 'number') return undefined;
      return point.value.buckets.boundaries;
    },
    instruments: () => [...created],
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
