/**
 * Metric, attribute and event names of the retry package, and the instruments a policy creates
 * once, at construction. Attribute objects are built here too, so recording allocates nothing.
 */
import { ATTR_POLICY_NAME, ATTR_STORE, getTelemetry, type Telemetry } from '@breakwater/core';
import type { Attributes, Counter, Histogram, ObservableGauge } from '@opentelemetry/api';
import { RETRY_PACKAGE } from './version.js';

/** Counter of attempts, by `breakwater.retry.outcome`. */
export const METRIC_ATTEMPTS = 'breakwater.retry.attempts';
/** Histogram of the delays waited before retries, in seconds. */
export const METRIC_DELAY = 'breakwater.retry.delay';
/** Gauge of the retries a budget has left, as last known by this process. */
export const METRIC_BUDGET_AVAILABLE = 'breakwater.retry.budget.available';
/**
 * Histogram of the store operations of budgets and dead-letter queues that reached the store, in
 * seconds, by `breakwater.store.operation` and `breakwater.store.outcome` (core's store telemetry).
 */
export const METRIC_STORE_DURATION = 'breakwater.retry.store.duration';
/**
 * Counter of store operations that got no answer (`error`, `timeout`) or were not attempted while
 * the store was degraded (`degraded`), by operation and outcome (core's store telemetry).
 */
export const METRIC_STORE_ERRORS = 'breakwater.retry.store.errors';
/** Span event added when a budget's or queue's store degrades or recovers (core's store telemetry). */
export const EVENT_STORE_STATUS = 'breakwater.retry.store.status';
/** Counter of dead letters handed to `deadLetter`, by `breakwater.retry.dead_letter.outcome`. */
export const METRIC_DEAD_LETTERS = 'breakwater.retry.dead_letters';
/** Counter of hedged attempts started (the primary excluded). */
export const METRIC_HEDGES = 'breakwater.retry.hedges';
/** Counter of hedged calls whose result came from a hedge rather than the primary. */
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

/** The instruments and pre-built attribute sets of one retry policy. */
export interface RetryInstruments {
  readonly telemetry: Telemetry;
  readonly attempts: Counter;
  readonly delay: Histogram;
  readonly deadLetters: Counter;
  readonly base: Attributes;
  readonly success: Attributes;
  readonly retry: Attributes;
  readonly giveUp: Attributes;
  readonly budgetExhausted: Attributes;
  readonly deadLetterWritten: Attributes;
  readonly deadLetterFailed: Attributes;
}

/** Creates the instruments of the retry policy called `name`. */
export function retryInstruments(name: string): RetryInstruments {
  const telemetry = retryTelemetry();
  const meter = telemetry.meter;
  const base = { [ATTR_POLICY_NAME]: name };
  return {
    telemetry,
    attempts: meter.createCounter(METRIC_ATTEMPTS, {
      description: 'Attempts made by retry policies, by outcome.',
    }),
    delay: meter.createHistogram(METRIC_DELAY, {
      description: 'Delays waited before retries.',
      unit: 's',
    }),
    deadLetters: meter.createCounter(METRIC_DEAD_LETTERS, {
      description: 'Calls handed to the dead-letter function after a retry policy gave up.',
    }),
    base,
    success: { ...base, [ATTR_OUTCOME]: 'success' },
    retry: { ...base, [ATTR_OUTCOME]: 'retry' },
    giveUp: { ...base, [ATTR_OUTCOME]: 'give-up' },
    budgetExhausted: { ...base, [ATTR_OUTCOME]: 'budget-exhausted' },
    deadLetterWritten: { ...base, [ATTR_DEAD_LETTER_OUTCOME]: 'written' },
    deadLetterFailed: { ...base, [ATTR_DEAD_LETTER_OUTCOME]: 'failed' },
  };
}

/**
 * The instruments of one retry budget. Its store operations are measured by core's store
 * telemetry ({@link METRIC_STORE_DURATION}, {@link METRIC_STORE_ERRORS}).
 */
export interface BudgetInstruments {
  readonly available: ObservableGauge;
  readonly attributes: Attributes;
}

/** Creates the instruments of the budget called `name`, kept in a store of kind `store`. */
export function budgetInstruments(name: string, store: string): BudgetInstruments {
  const meter = retryTelemetry().meter;
  return {
    available: meter.createObservableGauge(METRIC_BUDGET_AVAILABLE, {
      description: 'Retries the budget has left, as last known by this process.',
    }),
    attributes: { [ATTR_POLICY_NAME]: name, [ATTR_STORE]: store },
  };
}

/** The instruments and pre-built attribute sets of one hedge policy. */
export interface HedgeInstruments {
  readonly telemetry: Telemetry;
  readonly hedges: Counter;
  readonly wins: Counter;
  readonly base: Attributes;
}

/** Creates the instruments of the hedge policy called `name`. */
export function hedgeInstruments(name: string): HedgeInstruments {
  const telemetry = retryTelemetry();
  return {
    telemetry,
    hedges: telemetry.meter.createCounter(METRIC_HEDGES, {
      description: 'Hedged attempts started (the primary attempt excluded).',
    }),
    wins: telemetry.meter.createCounter(METRIC_HEDGE_WINS, {
      description: 'Hedged calls whose result came from a hedge rather than the primary attempt.',
    }),
    base: { [ATTR_POLICY_NAME]: name },
  };
}

/** Records dead-letter replays under {@link METRIC_DEAD_LETTERS}. */
export interface DeadLetterReplayInstruments {
  record(policyName: string, outcome: 'replayed' | 'replay-failed'): void;
}

/** Creates the replay counter of a dead-letter queue. */
export function deadLetterReplayInstruments(): DeadLetterReplayInstruments {
  const counter = retryTelemetry().meter.createCounter(METRIC_DEAD_LETTERS, {
    description: 'Calls handed to the dead-letter function after a retry policy gave up.',
  });
  return {
    record(policyName, outcome) {
      counter.add(1, { [ATTR_POLICY_NAME]: policyName, [ATTR_DEAD_LETTER_OUTCOME]: outcome });
    },
  };
}
