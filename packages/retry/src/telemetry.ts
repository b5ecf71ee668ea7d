/**
 * Metric, attribute and event names of the retry package, and the instruments a policy creates
 * at construction (and once more when an OpenTelemetry SDK registers after it was built: core's
 * `LazyInstruments`). Attribute objects are built here too, so recording allocates nothing.
 */
import {
  ATTR_POLICY_NAME,
  ATTR_STORE,
  getTelemetry,
  type LazyInstruments,
  type Telemetry,
  WAIT_BUCKETS_SECONDS,
} from '@breakwater/core';
import type {
  Attributes,
  Counter,
  Histogram,
  Meter,
  ObservableCallback,
  ObservableGauge,
} from '@opentelemetry/api';
import { RETRY_PACKAGE } from './version.js';

/** Counter (`{attempt}`) of attempts, by `breakwater.retry.outcome`. */
export const METRIC_ATTEMPTS = 'breakwater.retry.attempts';
/**
 * Histogram (`s`, bucket advice `WAIT_BUCKETS_SECONDS`) of the delays waited before retries.
 */
export const METRIC_DELAY = 'breakwater.retry.delay';
/** Gauge (`{retry}`) of the retries a budget has left, as last known by this process. */
export const METRIC_BUDGET_AVAILABLE = 'breakwater.retry.budget.available';
/**
 * Histogram of the store operations of budgets and dead-letter queues that reached the store, in
 * seconds, by `breakwater.store.operation` and `breakwater.store.outcome` (core's store telemetry).
 */
export const METRIC_STORE_DURATION = 'breakwater.retry.store.duration';
/**
 * Counter (`{operation}`) of store operations that got no answer (`error`, `timeout`) or were not attempted while
 * the store was degraded (`degraded`), by operation and outcome (core's store telemetry).
 */
export const METRIC_STORE_ERRORS = 'breakwater.retry.store.errors';
/** Span event added when a budget's or queue's store degrades or recovers (core's store telemetry). */
export const EVENT_STORE_STATUS = 'breakwater.retry.store.status';
/** Counter (`{call}`) of dead letters handed to `deadLetter`, by `breakwater.retry.dead_letter.outcome`. */
export const METRIC_DEAD_LETTERS = 'breakwater.retry.dead_letters';
/** Counter (`{attempt}`) of hedged attempts started (the primary excluded). */
export const METRIC_HEDGES = 'breakwater.retry.hedges';
/** Counter (`{call}`) of hedged calls whose result came from a hedge rather than the primary. */
export const METRIC_HEDGE_WINS = 'breakwater.retry.hedge.wins';

/** Outcome of an attempt: `success` | `retry` | `give-up` | `budget-exhausted`. */
export const ATTR_OUTCOME = 'breakwater.retry.outcome';
/**
 * Outcome of a dead letter: `written` | `failed` (the `deadLetter` function threw), and for
 * replays from `redisDeadLetters`: `replayed` | `replay-failed`.
 */
export const ATTR_DEAD_LETTER_OUTCOME = 'breakwater.retry.dead_letter.outcome';

/** Span event added for every retry (attributes: attempt, delay in ms). */
export const EVENT_RETRY = 'breakwater.retry';
/** Span event added when a policy gives up (attributes: attempts, reason). */
export const EVENT_GIVE_UP = 'breakwater.retry.give_up';
/** Span event added when a hedged attempt starts (attribute: attempt). */
export const EVENT_HEDGE = 'breakwater.retry.hedge';

/** Attribute of span events: the attempt number. */
export const ATTR_ATTEMPT = 'breakwater.retry.attempt';
/** Attribute of span events: the delay before the next attempt, in milliseconds. */
export const ATTR_DELAY_MS = 'breakwater.retry.delay_ms';
/** Attribute of span events: why the policy gave up. */
export const ATTR_REASON = 'breakwater.retry.reason';

/** The package's telemetry scope, fetched when a policy is built (see `getTelemetry`). */
export function retryTelemetry(): Telemetry {
  return getTelemetry(RETRY_PACKAGE);
}

function deadLetterCounter(meter: Meter): Counter {
  return meter.createCounter(METRIC_DEAD_LETTERS, {
    description: 'Calls handed to the dead-letter function after a retry policy gave up.',
    unit: '{call}',
  });
}

/** The instruments of one retry policy, as made from one meter. */
interface RetryMeters {
  readonly attempts: Counter;
  readonly delay: Histogram;
  readonly deadLetters: Counter;
}

function retryMeters(meter: Meter): RetryMeters {
  return {
    attempts: meter.createCounter(METRIC_ATTEMPTS, {
      description: 'Attempts made by retry policies, by outcome.',
      unit: '{attempt}',
    }),
    delay: meter.createHistogram(METRIC_DELAY, {
      description: 'Delays waited before retries.',
      unit: 's',
      advice: { explicitBucketBoundaries: [...WAIT_BUCKETS_SECONDS] },
    }),
    deadLetters: deadLetterCounter(meter),
  };
}

/**
 * The instruments and pre-built attribute sets of one retry policy. The instruments report once
 * an SDK is registered, even one registered after the policy was built.
 */
export class RetryInstruments {
  readonly telemetry: Telemetry;
  readonly base: Attributes;
  readonly success: Attributes;
  readonly retry: Attributes;
  readonly giveUp: Attributes;
  readonly budgetExhausted: Attributes;
  readonly deadLetterWritten: Attributes;
  readonly deadLetterFailed: Attributes;
  private readonly lazy: LazyInstruments<RetryMeters>;

  constructor(name: string) {
    this.telemetry = retryTelemetry();
    this.lazy = this.telemetry.instruments(retryMeters);
    const base = { [ATTR_POLICY_NAME]: name };
    this.base = base;
    this.success = { ...base, [ATTR_OUTCOME]: 'success' };
    this.retry = { ...base, [ATTR_OUTCOME]: 'retry' };
    this.giveUp = { ...base, [ATTR_OUTCOME]: 'give-up' };
    this.budgetExhausted = { ...base, [ATTR_OUTCOME]: 'budget-exhausted' };
    this.deadLetterWritten = { ...base, [ATTR_DEAD_LETTER_OUTCOME]: 'written' };
    this.deadLetterFailed = { ...base, [ATTR_DEAD_LETTER_OUTCOME]: 'failed' };
  }

  /** The attempts counter; counted on every call, so it looks for a late SDK only now and then. */
  get attempts(): Counter {
    return this.lazy.sampled.attempts;
  }

  /** The histogram of delays before retries. */
  get delay(): Histogram {
    return this.lazy.instruments.delay;
  }

  /** The counter of dead letters. */
  get deadLetters(): Counter {
    return this.lazy.instruments.deadLetters;
  }
}

/** Creates the instruments of the retry policy called `name`. */
export function retryInstruments(name: string): RetryInstruments {
  return new RetryInstruments(name);
}

/**
 * The instruments of one retry budget: the gauge of retries left. Its store operations are
 * measured by core's store telemetry ({@link METRIC_STORE_DURATION}, {@link METRIC_STORE_ERRORS}).
 */
export class BudgetInstruments {
  /** Attributes of the gauge: the budget's name and store kind. */
  readonly attributes: Attributes;
  private readonly lazy: LazyInstruments<ObservableGauge>;

  /** @param observe reports the budget's last known retries left to the gauge. */
  constructor(name: string, store: string, observe: ObservableCallback) {
    this.attributes = { [ATTR_POLICY_NAME]: name, [ATTR_STORE]: store };
    this.lazy = retryTelemetry().instruments(
      (meter) => {
        const available = meter.createObservableGauge(METRIC_BUDGET_AVAILABLE, {
          description: 'Retries the budget has left, as last known by this process.',
          unit: '{retry}',
        });
        available.addCallback(observe);
        return available;
      },
      (available) => available.removeCallback(observe),
    );
  }

  /**
   * Looks for an SDK registered after the budget was built (now and then, as core's
   * `LazyInstruments.recording` does), so that the gauge reports once one is: call it when the
   * budget learns a new value.
   */
  watch(): void {
    void this.lazy.recording;
  }

  /** Stops observing the gauge. */
  dispose(): void {
    this.lazy.dispose();
  }
}

/** Creates the gauge of the budget called `name`, kept in a store of kind `store`. */
export function budgetInstruments(
  name: string,
  store: string,
  observe: ObservableCallback,
): BudgetInstruments {
  return new BudgetInstruments(name, store, observe);
}

/** The instruments of one hedge policy, as made from one meter. */
interface HedgeMeters {
  readonly hedges: Counter;
  readonly wins: Counter;
}

function hedgeMeters(meter: Meter): HedgeMeters {
  return {
    hedges: meter.createCounter(METRIC_HEDGES, {
      description: 'Hedged attempts started (the primary attempt excluded).',
      unit: '{attempt}',
    }),
    wins: meter.createCounter(METRIC_HEDGE_WINS, {
      description: 'Hedged calls whose result came from a hedge rather than the primary attempt.',
      unit: '{call}',
    }),
  };
}

/**
 * The instruments and pre-built attribute sets of one hedge policy; they report once an SDK is
 * registered, even one registered after the policy was built.
 */
export class HedgeInstruments {
  readonly telemetry: Telemetry;
  readonly base: Attributes;
  private readonly lazy: LazyInstruments<HedgeMeters>;

  constructor(name: string) {
    this.telemetry = retryTelemetry();
    this.lazy = this.telemetry.instruments(hedgeMeters);
    this.base = { [ATTR_POLICY_NAME]: name };
  }

  /** The counter of hedged attempts started. */
  get hedges(): Counter {
    return this.lazy.instruments.hedges;
  }

  /** The counter of calls a hedge won. */
  get wins(): Counter {
    return this.lazy.instruments.wins;
  }
}

/** Creates the instruments of the hedge policy called `name`. */
export function hedgeInstruments(name: string): HedgeInstruments {
  return new HedgeInstruments(name);
}

/** Records dead-letter replays under {@link METRIC_DEAD_LETTERS}. */
export interface DeadLetterReplayInstruments {
  record(policyName: string, outcome: 'replayed' | 'replay-failed'): void;
}

/** Creates the replay counter of a dead-letter queue. */
export function deadLetterReplayInstruments(): DeadLetterReplayInstruments {
  const counter = retryTelemetry().instruments(deadLetterCounter);
  return {
    record(policyName, outcome) {
      counter.instruments.add(1, {
        [ATTR_POLICY_NAME]: policyName,
        [ATTR_DEAD_LETTER_OUTCOME]: outcome,
      });
    },
  };
}
