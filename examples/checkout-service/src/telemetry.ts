/**
 * The OpenTelemetry SDK of one replica: a MeterProvider whose only reader is the Prometheus
 * exporter, served by the service itself on `GET /metrics` (no second HTTP server).
 *
 * Breakwater policies take their meter when they are constructed, so this must run before any
 * policy is built.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Attributes, metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { type DataPoint, type Histogram, MeterProvider } from '@opentelemetry/sdk-metrics';

export interface Metrics {
  /** Answers a Prometheus scrape. */
  serve(request: IncomingMessage, response: ServerResponse): void;
  /** Sum of a counter's points (or count of a histogram's) whose attributes match `where`. */
  sum(name: string, where?: Attributes): Promise<number>;
  shutdown(): Promise<void>;
}

export function installMetrics(): Metrics {
  // A test process may build several services in turn: the global provider is replaced each time.
  metrics.disable();
  const exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
  const provider = new MeterProvider({ readers: [exporter] });
  metrics.setGlobalMeterProvider(provider);

  return {
    serve: (request, response) => exporter.getMetricsRequestHandler(request, response),
    async sum(name, where = {}) {
      const { resourceMetrics } = await exporter.collect();
      let total = 0;
      for (const scope of resourceMetrics.scopeMetrics) {
        for (const metric of scope.metrics) {
          if (metric.descriptor.name !== name) continue;
          for (const point of metric.dataPoints as DataPoint<number | Histogram>[]) {
            const matches = Object.entries(where).every(([k, v]) => point.attributes[k] === v);
            if (!matches) continue;
            total += typeof point.value === 'number' ? point.value : point.value.count;
          }
        }
      }
      return total;
    },
    async shutdown() {
      await provider.shutdown();
      metrics.disable();
    },
  };
}
