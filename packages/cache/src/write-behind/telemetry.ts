/**
 * Metric and attribute names of write-behind, and the instruments of one write-behind instance.
 * Keys are never attributes.
 */
import { ATTR_POLICY_NAME, ATTR_STORE, getTelemetry } from '@breakwater/core';
import type { Attributes, Counter, Histogram, ObservableGauge } from '@opentelemetry/api';
import { CACHE_PACKAGE } from '../version.js';

/** Writes offered to `write()`, by outcome. */
export const METRIC_WB_WRITES = 'breakwater.write_behind.writes';
/** Entries leaving the queue, by outcome (`persisted`, `superseded`, `dead_lettered`). */
export const METRIC_WB_ENTRIES = 'breakwater.write_behind.entries';
/** Duration of `persist` calls (seconds), by outcome. */
export const METRIC_WB_PERSIST_DURATION = 'breakwater.write_behind.persist.duration';
/** Time from `write()` to the entry being persisted (seconds). */
export const METRIC_WB_LAG = 'breakwater.write_behind.lag';
/** Entries accepted and not yet persisted or dead-lettered (last value this replica read). */
export const METRIC_WB_PENDING = 'breakwater.write_behind.pending';
/** Failed queue operations, by operation. */
export const METRIC_WB_QUEUE_ERRORS = 'breakwater.write_behind.queue.errors';

/** Attribute: the outcome of a write, an entry or a persist call. */
export const ATTR_WB_OUTCOME = 'breakwater.write_behind.outcome';
/** Attribute: the queue operation that failed. */
export const ATTR_WB_OPERATION = 'breakwater.write_behind.operation';

/** Outcome of a `write()`. */
export type WriteOutcome = 'accepted' | 'backlog' | 'error';
/** How an entry left the queue. */
export type EntryOutcome = 'persisted' | 'superseded' | 'dead_lettered';

/** The instruments of one write-behind. */
export class WriteBehindTelemetry {
  private readonly writes: Counter;
  private readonly entries: Counter;
  private readonly persistDuration: Histogram;
  private readonly lagHistogram: Histogram;
  private readonly pendingGauge: ObservableGauge;
  private readonly queueErrors: Counter;
  private readonly base: Attributes;
  private readonly byOutcome = new Map<string, Attributes>();
  private readonly observe: (result: {
    observe(value: number, attributes?: Attributes): void;
  }) => void;

  constructor(name: string, queueKind: string, pending: () => number | undefined) {
    const meter = getTelemetry(CACHE_PACKAGE).meter;
    this.base = { [ATTR_POLICY_NAME]: name, [ATTR_STORE]: queueKind };
    this.writes = meter.createCounter(METRIC_WB_WRITES, {
      description: 'Writes offered to write-behind, by outcome.',
    });
    this.entries = meter.createCounter(METRIC_WB_ENTRIES, {
      description: 'Queue entries persisted, superseded by a newer version, or dead-lettered.',
    });
    this.persistDuration = meter.createHistogram(METRIC_WB_PERSIST_DURATION, {
      description: 'Duration of persist calls.',
      unit: 's',
    });
    this.lagHistogram = meter.createHistogram(METRIC_WB_LAG, {
      description: 'Time from an accepted write to its persistence.',
      unit: 's',
    });
    this.pendingGauge = meter.createObservableGauge(METRIC_WB_PENDING, {
      description: 'Writes accepted and not yet persisted or dead-lettered, as last read.',
    });
    this.queueErrors = meter.createCounter(METRIC_WB_QUEUE_ERRORS, {
      description: 'Queue operations that failed or missed their deadline.',
    });
    const base = this.base;
    this.observe = (observer) => {
      const value = pending();
      if (value !== undefined) observer.observe(value, base);
    };
    this.pendingGauge.addCallback(this.observe);
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

  /** Counts entries leaving the queue. */
  entry(outcome: EntryOutcome, count: number): void {
    if (count > 0) this.entries.add(count, this.attributes(outcome));
  }

  /** Records a persist call. */
  persist(seconds: number, outcome: 'success' | 'failure'): void {
    this.persistDuration.record(seconds, this.attributes(outcome));
  }

  /** Records the lag of a persisted entry. */
  lag(seconds: number): void {
    this.lagHistogram.record(seconds, this.base);
  }

  /** Counts a failed queue operation. */
  queueError(operation: string): void {
    this.queueErrors.add(1, { ...this.base, [ATTR_WB_OPERATION]: operation });
  }

  /** Stops observing the pending gauge. */
  dispose(): void {
    this.pendingGauge.removeCallback(this.observe);
  }
}
