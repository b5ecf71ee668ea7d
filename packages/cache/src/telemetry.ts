/**
 * Metric, attribute and event names of the cache, and the instruments of one cache instance.
 * Attribute sets are built once per cache, so recording on the hot path allocates nothing. The
 * key is never an attribute (unbounded cardinality, and possibly personal data).
 *
 * The L2 store's own metrics and status event are core's store telemetry, reported by the store
 * call path (`StoreCalls`) under the names below: `breakwater.cache.store.duration` and
 * `.errors` with core's `breakwater.store.operation` and `breakwater.store.outcome` attributes,
 * and the span event `breakwater.cache.store.status`.
 */

import {
  ATTR_POLICY_NAME,
  ATTR_STORE,
  DURATION_BUCKETS_SECONDS,
  getTelemetry,
  type LazyInstruments,
  storeMetricNames,
  type Telemetry,
} from '@breakwater/core';
import type {
  Attributes,
  Counter,
  Histogram,
  Meter,
  ObservableCallback,
  ObservableGauge,
} from '@opentelemetry/api';
import { CACHE_PACKAGE } from './version.js';

/** Requests counter (`{request}`), by result and tier. */
export const METRIC_REQUESTS = 'breakwater.cache.requests';
/** Loader duration histogram (`s`, bucket advice `DURATION_BUCKETS_SECONDS`). */
export const METRIC_LOADER_DURATION = 'breakwater.cache.loader.duration';
/** Invalidations counter (`{invalidation}`). */
export const METRIC_INVALIDATIONS = 'breakwater.cache.invalidations';
/** L1 entry count gauge (`{entry}`). */
export const METRIC_L1_ENTRIES = 'breakwater.cache.l1.entries';
const STORE_NAMES = storeMetricNames('cache');
/** L2 store operation duration histogram (seconds): core's store telemetry, by operation and outcome. */
export const METRIC_STORE_DURATION = STORE_NAMES.duration;
/**
 * L2 store operations that got no answer (counter, `{operation}`: failed, timed out, or skipped
 * while degraded).
 */
export const METRIC_STORE_ERRORS = STORE_NAMES.errors;
/** Stored entries that could not be read (counter, `{entry}`: corrupt, or another codec's). */
export const METRIC_UNREADABLE = 'breakwater.cache.unreadable_entries';

/** Attribute: how a request was answered. */
export const ATTR_RESULT = 'breakwater.cache.result';
/** Attribute: the tier that answered. */
export const ATTR_TIER = 'breakwater.cache.tier';
/** Attribute: outcome of a loader call. */
export const ATTR_OUTCOME = 'breakwater.cache.outcome';
/** Attribute: what was invalidated (`key`, `tag`, `all`) . */
export const ATTR_INVALIDATION_KIND = 'breakwater.cache.invalidation.kind';
/** Attribute: where an invalidation came from (`local`, `bus`). */
export const ATTR_INVALIDATION_SOURCE = 'breakwater.cache.invalidation.source';
/** Attribute: why a stored entry was unreadable. */
export const ATTR_REASON = 'breakwater.cache.reason';

/**
 * Span event: the L2 store became `degraded` or `healthy` again (core's status event; attribute
 * `breakwater.store.status`).
 */
export const EVENT_STORE_STATUS = STORE_NAMES.statusEvent;
/** Span event: a value in grace was served because the loader failed. */
export const EVENT_GRACE = 'breakwater.cache.grace';

/** How a request was answered. */
export type RequestResult = 'hit' | 'miss' | 'stale' | 'grace' | 'coalesced';
/** The tier that answered. */
export type Tier = 'l1' | 'l2';
/** Outcome of a loader call. */
export type LoaderOutcome = 'success' | 'not_found' | 'error' | 'timeout';

const RESULTS: readonly RequestResult[] = ['hit', 'miss', 'stale', 'grace', 'coalesced'];
const TIERS: readonly Tier[] = ['l1', 'l2'];

/** The instruments of one cache, as made from one meter. */
interface CacheMeters {
  readonly requests: Counter;
  readonly loaderDuration: Histogram;
  readonly invalidations: Counter;
  readonly unreadable: Counter;
  readonly l1Entries: ObservableGauge;
}

function cacheMeters(meter: Meter, observeL1: ObservableCallback): CacheMeters {
  const l1Entries = meter.createObservableGauge(METRIC_L1_ENTRIES, {
    description: 'Entries in the L1 tier.',
    unit: '{entry}',
  });
  l1Entries.addCallback(observeL1);
  return {
    requests: meter.createCounter(METRIC_REQUESTS, {
      description: 'Cache requests by how they were answered.',
      unit: '{request}',
    }),
    loaderDuration: meter.createHistogram(METRIC_LOADER_DURATION, {
      description: 'Duration of loader calls.',
      unit: 's',
      advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] },
    }),
    invalidations: meter.createCounter(METRIC_INVALIDATIONS, {
      description: 'Keys and tags invalidated, locally or through the bus.',
      unit: '{invalidation}',
    }),
    unreadable: meter.createCounter(METRIC_UNREADABLE, {
      description: 'Stored entries that could not be read and were treated as misses.',
      unit: '{entry}',
    }),
    l1Entries,
  };
}

/**
 * The instruments and pre-built attribute sets of one cache instance. The instruments report
 * once an SDK is registered, even one registered after the cache was built (core's
 * `LazyInstruments`).
 */
export class CacheTelemetry {
  readonly telemetry: Telemetry;
  private readonly lazy: LazyInstruments<CacheMeters>;
  private readonly requestAttributes: Record<string, Record<string, Attributes>> = {};
  private readonly base: Attributes;

  constructor(name: string, store: string, l1Size: () => number) {
    this.telemetry = getTelemetry(CACHE_PACKAGE);
    const base: Attributes = { [ATTR_POLICY_NAME]: name, [ATTR_STORE]: store };
    this.base = base;
    for (const result of RESULTS) {
      const byTier: Record<string, Attributes> = {};
      for (const tier of TIERS) {
        byTier[tier] = { ...base, [ATTR_RESULT]: result, [ATTR_TIER]: tier };
      }
      this.requestAttributes[result] = byTier;
    }
    const observeL1: ObservableCallback = (observer) => observer.observe(l1Size(), base);
    this.lazy = this.telemetry.instruments(
      (meter) => cacheMeters(meter, observeL1),
      (meters) => meters.l1Entries.removeCallback(observeL1),
    );
  }

  /** Counts one request. */
  request(result: RequestResult, tier: Tier): void {
    this.lazy.sampled.requests.add(1, this.requestAttributes[result]![tier]);
  }

  /** Records a loader call. */
  loader(seconds: number, outcome: LoaderOutcome): void {
    this.lazy.instruments.loaderDuration.record(seconds, { ...this.base, [ATTR_OUTCOME]: outcome });
  }

  /** Counts invalidations. */
  invalidation(kind: 'key' | 'tag' | 'all', source: 'local' | 'bus', count = 1): void {
    this.lazy.instruments.invalidations.add(count, {
      ...this.base,
      [ATTR_INVALIDATION_KIND]: kind,
      [ATTR_INVALIDATION_SOURCE]: source,
    });
  }

  /** Counts an unreadable stored entry. */
  unreadableEntry(reason: string): void {
    this.lazy.instruments.unreadable.add(1, { ...this.base, [ATTR_REASON]: reason });
  }

  /** Adds an event to the active span. */
  event(name: string, attributes?: Attributes): void {
    this.telemetry.addSpanEvent(
      name,
      attributes === undefined ? this.base : { ...this.base, ...attributes },
    );
  }

  /** Stops observing the L1 gauge. */
  dispose(): void {
    this.lazy.dispose();
  }
}
