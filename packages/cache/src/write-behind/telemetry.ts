/**
 * Metric and attribute names of write-behind, and the instruments of one write-behind instance.
 * Keys are never attributes. The queue's store metrics (`breakwater.write_behind.store.duration`
 * and `.errors`, by operation and outcome) and the status span event come from core's store call
 * path, which every queue operation goes through; this file holds what only write-behind knows.
 */
import { ATTR_POLICY_NAME, ATTR_STORE, getTelemetry, type Telemetry } from '@breakwater/core';
import type {
  Attributes,
  BatchObservableResult,
  Counter,
  Histogram,
  Meter,
  Observable,
} from '@opentelemetry/api';
import { CACHE_PACKAGE } from '../version.js';

/** Entries accepted and not yet persisted or dead-lettered (gauge, as this replica last read it). */
export const METRIC_WB_PENDING = 'breakwater.write_behind.pending';
/** Age of the oldest pending entry (gauge, seconds, as this replica last read it). */
export const METRIC_WB_LAG = 'breakwater.write_behind.lag';
/** Entries that left the queue because they were persisted (counter; `outcome`). */
export const METRIC_WB_FLUSHED = 'breakwater.write_behind.flushed';
/** Failed persist attempts of an entry that will be retried (counter). */
export const METRIC_WB_RETRIES = 'breakwater.write_behind.retries';
/** Entries moved to the dead letters (counter). */
export const METRIC_WB_DEAD_LETTERS = 'breakwater.write_behind.dead_letters';
/** Entries per `persist` call (histogram). */
export const METRIC_WB_BATCH_SIZE = 'breakwater.write_behind.batch.size';
/** Duration of `persist` calls (histogram, seconds; `outcome`). */
export const METRIC_WB_PERSIST_DURATION = 'breakwater.write_behind.persist.duration';
/** Writes offered to `write()` (counter; `outcome`). */
export const METRIC_WB_WRITES = 'breakwater.write_behind.writes';

/** Attribute: the outcome of a write, a flushed entry or a persist call. */
export const ATTR_WB_OUTCOME = 'breakwater.write_behind.outcome';

/** The package's meter and tracer, which write-behind's metrics and store metrics report through. */
export function writeBehindTelemetry(): Telemetry {
  return getTelemetry(CACHE_PACKAGE);
}

/** Outcome of a `write()`. */
export type WriteOutcome = 'accepted' | 'backlog' | 'error';
/** Why a flushed entry left the queue. */
export type FlushedOutcome = 'persisted' | 'superseded';

/** What the gauges report: the last backlog this replica read. */
export interface BacklogReading {
  readonly pending: number;
  /** Age of the oldest pending entry in ms (0 when none). */
  readonly lagMs: number;
}

/** The instruments of one write-behind. */
export class WriteBehindTelemetry {
  private readonly writes: Counter;
  private readonly flushed: Counter;
  private readonly retries: Counter;
  private readonly deadLetters: Counter;
  private readonly batchSize: Histogram;
  private readonly persistDuration: Histogram;
  private readonly gauges: Observable[];
  private readonly meter: Meter;
  private readonly base: Attributes;
  private readonly byOutcome = new Map<string, Attributes>();
  private readonly observe: (result: BatchObservableResult) => void;

  constructor(
    telemetry: Telemetry,
    name: string,
    queueKind: string,
    reading: () => BacklogReading | undefined,
  ) {
    const meter = telemetry.meter;
    this.meter = meter;
    this.base = { [ATTR_POLICY_NAME]: name, [ATTR_STORE]: queueKind };
    this.writes = meter.createCounter(METRIC_WB_WRITES, {
      description: 'Writes offered to write-behind, by outcome.',
    });
    this.flushed = meter.createCounter(METRIC_WB_FLUSHED, {
      description:
        'Queue entries done: persisted, or superseded by a newer version of their key persisted with them.',
    });
    this.retries = meter.createCounter(METRIC_WB_RETRIES, {
      description: 'Failed persist attempts of an entry that will be retried.',
    });
    this.deadLetters = meter.createCounter(METRIC_WB_DEAD_LETTERS, {
      description: 'Entries moved to the dead letters after maxAttempts failures.',
    });
    this.batchSize = meter.createHistogram(METRIC_WB_BATCH_SIZE, {
      description: 'Entries per persist call.',
      advice: { explicitBucketBoundaries: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000] },
    });
    this.persistDuration = meter.createHistogram(METRIC_WB_PERSIST_DURATION, {
      description: 'Duration of persist calls.',
      unit: 's',
      advice: {
        explicitBucketBoundaries: [
          0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
        ],
      },
    });
    const pending = meter.createObservableGauge(METRIC_WB_PENDING, {
      description: 'Writes accepted and not yet persisted or dead-lettered, as last read.',
    });
    const lag = meter.createObservableGauge(METRIC_WB_LAG, {
      description: 'Age of the oldest write not yet persisted, as last read.',
      unit: 's',
    });
    this.gauges = [pending, lag];
    const base = this.base;
    this.observe = (result) => {
      const last = reading();
      if (last === undefined) return;
      result.observe(pending, last.pending, base);
      result.observe(lag, last.lagMs / 1000, base);
    };
    meter.addBatchObservableCallback(this.observe, this.gauges);
  }

  private attributes(outcome: string): Attributes {
    let attributes = this.byOutcome.get(outcome);
    if (attributes === undefined) {
      attributes = { ...this.base, [ATTR_WB_OUTCOME]: outcome };
      this.byOutcome.set(outcome, attributes);
    }
    return attributes;
  }

  /** Counts a `write()`. */
  write(outcome: WriteOutcome): void {
    this.writes.add(1, this.attributes(outcome));
  }

  /** Counts entries done. */
  flush(outcome: FlushedOutcome, count: number): void {
    if (count > 0) this.flushed.add(count, this.attributes(outcome));
  }

  /** Counts a failed attempt that will be retried. */
  retry(): void {
    this.retries.add(1, this.base);
  }

  /** Counts a dead-lettered entry. */
  deadLetter(): void {
    this.deadLetters.add(1, this.base);
  }

  /** Records a persist call of `size` entries. */
  persist(seconds: number, size: number, outcome: 'success' | 'failure'): void {
    this.persistDuration.record(seconds, this.attributes(outcome));
    this.batchSize.record(size, this.base);
  }

  /** Stops observing the gauges. */
  dispose(): void {
    this.meter.removeBatchObservableCallback(this.observe, this.gauges);
  }
}
