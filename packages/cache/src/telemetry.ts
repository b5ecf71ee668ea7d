/**
 * Metric, attribute and event names of the cache, and the instruments of one cache instance.
 * Attribute sets are built once per cache, so recording on the hot path allocates nothing. The
 * key is never an attribute (unbounded cardinality, and possibly personal data).
 */

import { ATTR_POLICY_NAME, ATTR_STORE, getTelemetry, type Telemetry } from '@breakwater/core';
import type { Attributes, Counter, Histogram, ObservableGauge } from '@opentelemetry/api';
import { CACHE_PACKAGE } from './version.js';

/** Metric names. */
export const METRIC_REQUESTS = 'breakwater.cache.requests';
/** Loader duration histogram (seconds). */
export const METRIC_LOADER_DURATION = 'breakwater.cache.loader.duration';
/** Invalidations counter. */
export const METRIC_INVALIDATIONS = 'breakwater.cache.invalidations';
/** L1 entry count gauge. */
export const METRIC_L1_ENTRIES = 'breakwater.cache.l1.entries';
/** L2 store call duration histogram (seconds). */
export const METRIC_STORE_DURATION = 'breakwater.cache.store.duration';
/** L2 store errors counter. */
export const METRIC_STORE_ERRORS = 'breakwater.cache.store.errors';
/** Stored entries that could not be read (corrupt, or written by another codec). */
export const METRIC_UNREADABLE = 'breakwater.cache.unreadable_entries';

/** Attribute: how a request was answered. */
export const ATTR_RESULT = 'breakwater.cache.result';
/** Attribute: the tier that answered. */
export const ATTR_TIER = 'breakwater.cache.tier';
/** Attribute: outcome of a loader call or a store call. */
export const ATTR_OUTCOME = 'breakwater.cache.outcome';
/** Attribute: the store operation. */
export const ATTR_OPERATION = 'breakwater.cache.operation';
/** Attribute: what was invalidated (`key`, `tag`, `all`) . */
export const ATTR_INVALIDATION_KIND = 'breakwater.cache.invalidation.kind';
/** Attribute: where an invalidation came from (`local`, `bus`). */
export const ATTR_INVALIDATION_SOURCE = 'breakwater.cache.invalidation.source';
/** Attribute: why a stored entry was unreadable. */
export const ATTR_REASON = 'breakwater.cache.reason';

/** Span event: the L2 health gate opened (store degraded) or closed. */
export const EVENT_STORE_DEGRADED = 'breakwater.cache.store_degraded';
/** Span event: the L2 store recovered. */
export const EVENT_STORE_RECOVERED = 'breakwater.cache.store_recovered';
/** Span event: a value in grace was served because the loader failed. */
export const EVENT_GRACE = 'breakwater.cache.grace';

/** How a request was answered. */
export type RequestResult = 'hit' | 'miss' | 'stale' | 'grace' | 'coalesced';
/** The tier that answered. */
export type Tier = 'l1' | 'l2';
/** Outcome of a loader call. */
export type LoaderOutcome = 'success' | 'not_found' | 'error' | 'timeout';
/** Outcome of a store call. */
export type StoreOutcome = 'ok' | 'error' | 'timeout' | 'rejected';
/** The store operations, as reported in the `breakwater.cache.operation` attribute. */
export type StoreOperationName =
  | 'get'
  | 'set'
  | 'delete'
  | 'get_tag_versions'
  | 'bump_tags'
  | 'acquire_lease'
  | 'extend_lease'
  | 'release_lease';

const STORE_OPERATIONS: readonly StoreOperationName[] = [
  'get',
  'set',
  'delete',
  'get_tag_versions',
  'bump_tags',
  'acquire_lease',
  'extend_lease',
  'release_lease',
];
const STORE_OUTCOMES: readonly StoreOutcome[] = ['ok', 'error', 'timeout', 'rejected'];

const RESULTS: readonly RequestResult[] = ['hit', 'miss', 'stale', 'grace', 'coalesced'];
const TIERS: readonly Tier[] = ['l1', 'l2'];

/** The instruments and pre-built attribute sets of one cache instance. */
export class CacheTelemetry {
  readonly telemetry: Telemetry;
  private readonly requests: Counter;
  private readonly loaderDuration: Histogram;
  private readonly invalidations: Counter;
  private readonly storeDuration: Histogram;
  private readonly storeErrors: Counter;
  private readonly unreadable: Counter;
  private readonly l1Entries: ObservableGauge;
  private readonly requestAttributes: Record<string, Record<string, Attributes>> = {};
  private readonly storeAttributes: Record<string, Record<string, Attributes>> = {};
  private readonly base: Attributes;
  private readonly observe: (result: {
    observe(value: number, attributes?: Attributes): void;
  }) => void;

  constructor(name: string, store: string, l1Size: () => number) {
    this.telemetry = getTelemetry(CACHE_PACKAGE);
    const meter = this.telemetry.meter;
    this.base = { [ATTR_POLICY_NAME]: name, [ATTR_STORE]: store };
    this.requests = meter.createCounter(METRIC_REQUESTS, {
      description: 'Cache requests by how they were answered.',
    });
    this.loaderDuration = meter.createHistogram(METRIC_LOADER_DURATION, {
      description: 'Duration of loader calls.',
      unit: 's',
    });
    this.invalidations = meter.createCounter(METRIC_INVALIDATIONS, {
      description: 'Keys and tags invalidated, locally or through the bus.',
    });
    this.storeDuration = meter.createHistogram(METRIC_STORE_DURATION, {
      description: 'Duration of L2 store calls.',
      unit: 's',
    });
    this.storeErrors = meter.createCounter(METRIC_STORE_ERRORS, {
      description:
        'L2 store calls that failed, missed their deadline, or were refused by the health gate.',
    });
    this.unreadable = meter.createCounter(METRIC_UNREADABLE, {
      description: 'Stored entries that could not be read and were treated as misses.',
    });
    this.l1Entries = meter.createObservableGauge(METRIC_L1_ENTRIES, {
      description: 'Entries in the L1 tier.',
    });
    for (const result of RESULTS) {
      const byTier: Record<string, Attributes> = {};
      for (const tier of TIERS) {
        byTier[tier] = { ...this.base, [ATTR_RESULT]: result, [ATTR_TIER]: tier };
      }
      this.requestAttributes[result] = byTier;
    }
    for (const operation of STORE_OPERATIONS) {
      const byOutcome: Record<string, Attributes> = {};
      for (const outcome of STORE_OUTCOMES) {
        byOutcome[outcome] = { ...this.base, [ATTR_OPERATION]: operation, [ATTR_OUTCOME]: outcome };
      }
      this.storeAttributes[operation] = byOutcome;
    }
    const base = this.base;
    this.observe = (observer) => observer.observe(l1Size(), base);
    this.l1Entries.addCallback(this.observe);
  }

  /** Counts one request. */
  request(result: RequestResult, tier: Tier): void {
    this.requests.add(1, this.requestAttributes[result]![tier]);
  }

  /** Records a loader call. */
  loader(seconds: number, outcome: LoaderOutcome): void {
    this.loaderDuration.record(seconds, { ...this.base, [ATTR_OUTCOME]: outcome });
  }

  /** Counts invalidations. */
  invalidation(kind: 'key' | 'tag' | 'all', source: 'local' | 'bus', count = 1): void {
    this.invalidations.add(count, {
      ...this.base,
      [ATTR_INVALIDATION_KIND]: kind,
      [ATTR_INVALIDATION_SOURCE]: source,
    });
  }

  /** Records a store call. */
  store(operation: StoreOperationName, seconds: number, outcome: StoreOutcome): void {
    const attributes = this.storeAttributes[operation]![outcome]!;
    if (outcome !== 'rejected') this.storeDuration.record(seconds, attributes);
    if (outcome !== 'ok') this.storeErrors.add(1, attributes);
  }

  /** Counts an unreadable stored entry. */
  unreadableEntry(reason: string): void {
    this.unreadable.add(1, { ...this.base, [ATTR_REASON]: reason });
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
    this.l1Entries.removeCallback(this.observe);
  }
}
