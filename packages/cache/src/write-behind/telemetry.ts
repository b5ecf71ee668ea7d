/**
 * Metric and attribute names of write-behind, and the instruments of one write-behind instance.
 * Keys are never attributes. The queue's store metrics (`breakwater.write_behind.store.duration`
 * and `.errors`, by operation and outcome) and the status span event come from core's store call
 * path, which every queue operation goes through; this file holds what only write-behind knows.
 */
import {
  ATTR_POLICY_NAME,
  ATTR_STORE,
  DURATION_BUCKETS_SECONDS,
  getTelemetry,
  type LazyInstruments,
  type Telemetry,
} from '@breakwater/core';
import type {
  Attributes,
  BatchObservableCallback,
  Counter,
  Histogram,
  Meter,
  Observable,
} from '@opentelemetry/api';
import { CACHE_PACKAGE } from '../version.js';

/**
 * Entries accepted and not yet persisted or dead-lettered (gauge, `{entry}`, as this replica last
 * read it).
 */
export const METRIC_WB_PENDING = 'breakwater.write_behind.pending';
/** Age of the oldest pending entry (gauge, `s`, as this replica last read it). */
export const METRIC_WB_LAG = 'breakwater.write_behind.lag';
/** Entries that left the queue because they were persisted (counter, `{entry}`; `outcome`). */
export const METRIC_WB_FLUSHED = 'breakwater.write_behind.flushed';
/** Failed persist attempts of an entry that will be retried (counter, `{attempt}`). */
export const METRIC_WB_RETRIES = 'breakwater.write_behind.retries';
/** Entries moved to the dead letters (counter, `{entry}`). */
export const METRIC_WB_DEAD_LETTERS = 'breakwater.write_behind.dead_letters';
/** Entries per `persist` call (histogram, `{entry}`, bucket advice {@link BATCH_SIZE_BUCKETS}). */
export const METRIC_WB_BATCH_SIZE = 'breakwater.write_behind.batch.size';
/**
 * Duration of `persist` calls (histogram, `s`, bucket advice `DURATION_BUCKETS_SECONDS`;
 * `outcome`).
 */
export const METRIC_WB_PERSIST_DURATION = 'breakwater.write_behind.persist.duration';
/** Writes offered to `write()` (counter, `{write}`; `outcome`). */
export const METRIC_WB_WRITES = 'breakwater.write_behind.writes';

/** Attribute: the outcome of a write, a flushed entry or a persist call. */
export const ATTR_WB_OUTCOME = 'breakwater.write_behind.outcome';
/** Attribute of {@link EVENT_WB_FLUSH}: how many entries left the queue. */
export const ATTR_WB_ENTRIES = 'breakwater.write_behind.entries';

/**
 * Span event added to the caller's active span by every `write()`, with its outcome (`accepted`,
 * `backlog`, `error`).
 */
export const EVENT_WB_WRITE = 'breakwater.write_behind.write';
/**
 * Span event added when queue entries are done, with the outcome (`persisted`, `superseded`) and
 * {@link ATTR_WB_ENTRIES}; active span of the flush (the `flush()` or `close()` caller's, or the
 * one the background flusher was started in).
 */
export const EVENT_WB_FLUSH = 'breakwater.write_behind.flush';
/** Span event added when an entry is moved to the dead letters after `maxAttempts` failures. */
export const EVENT_WB_DEAD_LETTER = 'breakwater.write_behind.dead_letter';

/** Bucket boundaries of {@link METRIC_WB_BATCH_SIZE}, in entries. */
export const BATCH_SIZE_BUCKETS: readonly number[] = [
  1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000,
];

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

/** The instruments of one write-behind, as made from one meter. */
interface WriteBehindMeters {
  readonly meter: Meter;
  readonly writes: Counter;
  readonly flushed: Counter;
  readonly retries: Counter;
  readonly deadLetters: Counter;
  readonly batchSize: Histogram;
  readonly persistDuration: Histogram;
  readonly gauges: Observable[];
  /** Reports the last backlog reading to {@link gauges}. */
  readonly observe: BatchObservableCallback;
}

function writeBehindMeters(
  meter: Meter,
  reading: () => BacklogReading | undefined,
  base: Attributes,
): WriteBehindMeters {
  const pending = meter.createObservableGauge(METRIC_WB_PENDING, {
    description: 'Writes accepted and not yet persisted or dead-lettered, as last read.',
    unit: '{entry}',
  });
  const lag = meter.createObservableGauge(METRIC_WB_LAG, {
    description: 'Age of the oldest write not yet persisted, as last read.',
    unit: 's',
  });
  const gauges = [pending, lag];
  const observe: BatchObservableCallback = (result) => {
    const last = reading();
    if (last === undefined) return;
    result.observe(pending, last.pending, base);
    result.observe(lag, last.lagMs / 1000, base);
  };
  meter.addBatchObservableCallback(observe, gauges);
  return {
    meter,
    writes: meter.createCounter(METRIC_WB_WRITES, {
      description: 'Writes offered to write-behind, by outcome.',
      unit: '{write}',
    }),
    flushed: meter.createCounter(METRIC_WB_FLUSHED, {
      description:
        'Queue entries done: persisted, or superseded by a newer version of their key persisted with them.',
      unit: '{entry}',
    }),
    retries: meter.createCounter(METRIC_WB_RETRIES, {
      description: 'Failed persist attempts of an entry that will be retried.',
      unit: '{attempt}',
    }),
    deadLetters: meter.createCounter(METRIC_WB_DEAD_LETTERS, {
      description: 'Entries moved to the dead letters after maxAttempts failures.',
      unit: '{entry}',
    }),
    batchSize: meter.createHistogram(METRIC_WB_BATCH_SIZE, {
      description: 'Entries per persist call.',
      unit: '{entry}',
      advice: { explicitBucketBoundaries: [...BATCH_SIZE_BUCKETS] },
    }),
    persistDuration: meter.createHistogram(METRIC_WB_PERSIST_DURATION, {
      description: 'Duration of persist calls.',
      unit: 's',
      advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] },
    }),
    gauges,
    observe,
  };
}

/**
 * The instruments of one write-behind, and its span events. The instruments report once an SDK
 * is registered, even one registered after the write-behind was built (core's
 * `LazyInstruments`).
 */
export class WriteBehindTelemetry {
  private readonly lazy: LazyInstruments<WriteBehindMeters>;
  private readonly base: Attributes;
  private readonly byOutcome = new Map<string, Attributes>();

  constructor(
    private readonly telemetry: Telemetry,
    name: string,
    queueKind: string,
    reading: () => BacklogReading | undefined,
  ) {
    const base: Attributes = { [ATTR_POLICY_NAME]: name, [ATTR_STORE]: queueKind };
    this.base = base;
    this.lazy = telemetry.instruments(
      (meter) => writeBehindMeters(meter, reading, base),
      (made) => made.meter.removeBatchObservableCallback(made.observe, made.gauges),
    );
  }

  private attributes(outcome: string): Attributes {
    let attributes = this.byOutcome.get(outcome);
    if (attributes === undefined) {
      attributes = { ...this.base, [ATTR_WB_OUTCOME]: outcome };
      this.byOutcome.set(outcome, attributes);
    }
    return attributes;
  }

  /** Counts a `write()`, and adds {@link EVENT_WB_WRITE} to the caller's active span. */
  write(outcome: WriteOutcome): void {
    const attributes = this.attributes(outcome);
    this.lazy.sampled.writes.add(1, attributes);
    this.telemetry.addSpanEvent(EVENT_WB_WRITE, attributes);
  }

  /** Counts entries done, and adds {@link EVENT_WB_FLUSH} to the active span. */
  flush(outcome: FlushedOutcome, count: number): void {
    if (count <= 0) return;
    const attributes = this.attributes(outcome);
    this.lazy.instruments.flushed.add(count, attributes);
    this.telemetry.addSpanEvent(EVENT_WB_FLUSH, { ...attributes, [ATTR_WB_ENTRIES]: count });
  }

  /** Counts a failed attempt that will be retried. */
  retry(): void {
    this.lazy.instruments.retries.add(1, this.base);
  }

  /** Counts a dead-lettered entry, and adds {@link EVENT_WB_DEAD_LETTER} to the active span. */
  deadLetter(): void {
    this.lazy.instruments.deadLetters.add(1, this.base);
    this.telemetry.addSpanEvent(EVENT_WB_DEAD_LETTER, this.base);
  }

  /** Records a persist call of `size` entries. */
  persist(seconds: number, size: number, outcome: 'success' | 'failure'): void {
    const instruments = this.lazy.instruments;
    instruments.persistDuration.record(seconds, this.attributes(outcome));
    instruments.batchSize.record(size, this.base);
  }

  /** Stops observing the gauges. */
  dispose(): void {
    this.lazy.dispose();
  }
}
