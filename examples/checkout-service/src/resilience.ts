/**
 * Every policy the service uses, built once at start-up. With a Redis client every pattern keeps
 * its state in Redis, so all replicas share one breaker, one retry budget, one fleet-wide
 * concurrency cap, one rate limit per client, one product cache and one dead-letter queue; without,
 * each process has its own (memory stores).
 */
import { type Bulkhead, bulkhead, isBulkheadRejectedError } from '@breakwater/bulkhead';
import { redisStore as redisPermitStore } from '@breakwater/bulkhead/redis';
import { type Cache, cache } from '@breakwater/cache';
import { redisStore as redisCacheStore } from '@breakwater/cache/redis';
import {
  type CircuitBreaker,
  circuitBreaker,
  isBrokenCircuitError,
} from '@breakwater/circuit-breaker';
import { redisStore as redisBreakerStore } from '@breakwater/circuit-breaker/redis';
import {
  type ChaosPolicy,
  type HealthSource,
  isTimeoutError,
  type Pipeline,
  pipeline,
} from '@breakwater/core';
import { type RateLimiter, rateLimiter } from '@breakwater/rate-limit';
import { redisStore as redisLimitStore } from '@breakwater/rate-limit/redis';
import {
  type DeadLetterQueue,
  exponential,
  memoryDeadLetters,
  type RetryPolicy,
  retry,
  retryBudget,
} from '@breakwater/retry';
import { redisBudgetStore, redisDeadLetters } from '@breakwater/retry/redis';
import type { Redis } from 'ioredis';
import { buildChaos, type ChaosPolicies } from './chaos-mode.js';
import type { ServiceConfig } from './config.js';
import { isPaymentUpstreamError } from './payment-client.js';

/** What the breaker's fallback answers while it refuses calls. */
export const PAYMENT_QUEUED = Object.freeze({
  queued: true,
  message: 'payment queued for later',
} as const);
export type PaymentQueued = typeof PAYMENT_QUEUED;

/** Bulkhead classes, most important first: shoppers at the till, then batch jobs. */
export const PRIORITIES = ['interactive', 'batch'] as const;
export type Priority = (typeof PRIORITIES)[number];

/**
 * The policies around one payment call: `execute(({ signal }) => charge(…, signal))`. The two
 * chaos policies (chaos mode) stand innermost, where the upstream would be; switched off they
 * cost nothing.
 */
export type PaymentPipeline = Pipeline<
  [RetryPolicy, CircuitBreaker<PaymentQueued>, Bulkhead<Priority>, ChaosPolicy, ChaosPolicy]
>;

export interface Resilience {
  readonly clientLimiter: RateLimiter;
  readonly products: Cache;
  readonly breaker: CircuitBreaker<PaymentQueued>;
  readonly paymentRetry: RetryPolicy;
  readonly paymentBulkhead: Bulkhead<Priority>;
  /** `pipeline(retry, breaker, bulkhead)`; each call passes its bulkhead class as `priority`. */
  readonly payments: PaymentPipeline;
  /**
   * Payments whose retries were spent on a failing upstream (stream `payments`, the retry policy's
   * name), to charge again once it is back. In Redis when the service has Redis (shared by the
   * fleet, each entry replayed by one replica), else in this process.
   */
  readonly deadLetters: DeadLetterQueue;
  /** Chaos mode's policies in front of the payment upstream and the catalog. */
  readonly chaos: ChaosPolicies;
  /** Every policy with a store, for the `/healthz` and `/readyz` probes (core's `health()`). */
  readonly policies: readonly HealthSource[];
  close(): Promise<void>;
}

export function buildResilience(config: ServiceConfig, redis: Redis | undefined): Resilience {
  const prefix = config.redisPrefix;
  // With Redis, each store opens what it needs (the cache's and the bulkhead's subscriber
  // connections) and closes it again on close(); the client stays ours.
  const stores = redis && {
    limits: redisLimitStore({ client: redis, prefix }),
    products: redisCacheStore({ client: redis, prefix }),
    budget: redisBudgetStore({ client: redis, prefix }),
    breaker: redisBreakerStore({ client: redis, prefix }),
    permits: redisPermitStore({ client: redis, prefix }),
  };

  // Every route: per x-client-id, the same limit in every replica.
  const clientLimiter = rateLimiter({
    name: 'clients',
    limit: config.clientRatePerSecond,
    intervalMs: 1_000,
    burst: config.clientBurst,
    ...(stores && { store: stores.limits }),
  });

  // GET /products/:id: cache-aside over the slow catalog, served stale while one refresh runs.
  const products = cache({
    name: 'products',
    ttlMs: config.productTtlMs,
    staleMs: config.productStaleMs,
    graceMs: 60_000,
    negativeTtlMs: 5_000,
    hardTimeoutMs: 2_000,
    ...(stores && { store: stores.products }),
  });

  // POST /orders → payment upstream: retry (within a fleet budget) ⟶ breaker ⟶ bulkhead.
  const budget = retryBudget({
    name: 'payments',
    ratio: 0.1,
    minPerSecond: 2,
    ...(stores && { store: stores.budget }),
  });
  const deadLetters = redis
    ? redisDeadLetters({ client: redis, prefix })
    : memoryDeadLetters({ maxEntries: 10_000 });
  const upstreamFailed = (error: unknown) => isPaymentUpstreamError(error) || isTimeoutError(error);
  const paymentRetry = retry({
    name: 'payments',
    maxAttempts: 3,
    backoff: exponential({ initialMs: 25, maxMs: 250 }),
    budget,
    // Retry what the upstream did wrong; never a refusal of our own (bulkhead full).
    shouldRetry: ({ ok, error }) => !ok && upstreamFailed(error),
    // A payment the upstream kept failing (retries spent, or refused by the budget) is kept to be
    // charged later; a refusal of our own (bulkhead full) is not: the client was told to retry.
    deadLetter: (failure) =>
      upstreamFailed(failure.error) ? deadLetters.append(failure) : undefined,
  });
  const breaker = circuitBreaker<PaymentQueued>({
    name: 'payments',
    failureRatio: 0.5,
    minimumThroughput: 10,
    window: { kind: 'time', durationMs: 3_000, buckets: 6 },
    breakDurationMs: config.breakDurationMs,
    timeoutMs: 1_000,
    // A full bulkhead says nothing about the upstream's health.
    shouldHandle: (outcome) => outcome.kind === 'error' && !isBulkheadRejectedError(outcome.error),
    // While the breaker refuses calls, take the order and charge it later. Failures of calls that
    // ran go on to the retry policy around the breaker.
    fallback: ({ error }) => {
      if (isBrokenCircuitError(error)) return PAYMENT_QUEUED;
      throw error;
    },
    ...(stores && { store: stores.breaker }),
  });
  const reserved = Math.max(1, Math.floor(config.paymentConcurrency * 0.75));
  const paymentBulkhead = bulkhead({
    name: 'payments',
    maxConcurrent: config.paymentConcurrency,
    maxQueue: 2 * config.paymentConcurrency,
    maxWaitMs: 1_000,
    classes: {
      interactive: { reserved },
      batch: { max: Math.max(1, config.paymentConcurrency - reserved) },
    },
    defaultPriority: 'interactive',
    ...(stores && { store: stores.permits }),
  });
  // Chaos mode: injected upstream faults and delays, innermost, as the upstream's own would be.
  const chaos = buildChaos(config);
  const payments: PaymentPipeline = pipeline(
    paymentRetry,
    breaker,
    paymentBulkhead,
    chaos.paymentFaults,
    chaos.paymentLatency,
  );

  return {
    clientLimiter,
    products,
    breaker,
    paymentRetry,
    paymentBulkhead,
    payments,
    deadLetters,
    chaos,
    policies: [clientLimiter, products, breaker, budget, paymentBulkhead],
    async close() {
      await Promise.allSettled([
        clientLimiter.close(),
        products.close(),
        breaker.close(),
        budget.close(),
        paymentBulkhead.close(),
        deadLetters.close(),
      ]);
      if (stores) await Promise.allSettled(Object.values(stores).map((store) => store.close()));
    },
  };
}
