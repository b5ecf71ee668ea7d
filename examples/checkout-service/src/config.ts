import { CHAOS_MODES, type ChaosMode } from './chaos-mode.js';

/**
 * Everything the service can be tuned with. Defaults suit the demo: short windows and breaks so
 * that an outage opens the breaker and a recovery closes it within a few seconds.
 */
export interface ServiceConfig {
  /** Port of the HTTP service (0: any free port). */
  port: number;
  /** Base URL of the payment upstream, e.g. `http://127.0.0.1:4001`. */
  paymentUrl: string;
  /** Redis for every pattern's state; memory stores when absent. */
  redisUrl?: string;
  /** Key prefix in Redis (tests give each run its own). */
  redisPrefix: string;
  /** PostgreSQL for order records; an in-memory table when absent. */
  databaseUrl?: string;
  /** Table that holds order records in PostgreSQL. */
  ordersTable: string;
  /** Requests per second each `x-client-id` may send (every route). */
  clientRatePerSecond: number;
  /** Extra requests a quiet client may send at once. */
  clientBurst: number;
  /** Time the breaker stays open before it lets one probe through. */
  breakDurationMs: number;
  /** Calls the payment bulkhead runs at once (fleet-wide with Redis). */
  paymentConcurrency: number;
  /** Fresh window of a catalog entry in the product cache. */
  productTtlMs: number;
  /** How long a catalog entry is served stale while one refresh runs. */
  productStaleMs: number;
  /** Latency of the slow catalog source. */
  catalogLatencyMs: number;
  /** Replica number, shown in stats (1-based). */
  replica: number;
  /** Chaos mode (see chaos-mode.ts): `off`, `armed` (admin route), `on` (injecting from start). */
  chaos: ChaosMode;
  /** Injection rate of every chaos policy, in [0, 1], until changed on `/admin/chaos`. */
  chaosRate: number;
  /** Delay the payment latency chaos policy injects, in ms. */
  chaosLatencyMs: number;
}

export const DEFAULT_CONFIG: Readonly<Omit<ServiceConfig, 'paymentUrl'>> = {
  port: 3000,
  redisPrefix: 'checkout',
  ordersTable: 'checkout_orders',
  clientRatePerSecond: 20,
  clientBurst: 10,
  breakDurationMs: 1_500,
  paymentConcurrency: 8,
  productTtlMs: 2_000,
  productStaleMs: 30_000,
  catalogLatencyMs: 60,
  replica: 1,
  chaos: 'off',
  chaosRate: 0.2,
  chaosLatencyMs: 300,
};

function numberFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`Expected ${name} to be a number >= 0, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function optional(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function chaosModeFromEnv(env: NodeJS.ProcessEnv): ChaosMode {
  const raw = optional(env.CHAOS) ?? DEFAULT_CONFIG.chaos;
  if (!(CHAOS_MODES as readonly string[]).includes(raw)) {
    throw new RangeError(
      `Expected CHAOS to be one of ${CHAOS_MODES.join(', ')}, got ${JSON.stringify(raw)}`,
    );
  }
  return raw as ChaosMode;
}

/** The configuration from environment variables (see the example's README for the list). */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  const config: ServiceConfig = {
    ...DEFAULT_CONFIG,
    port: numberFromEnv(env, 'PORT', DEFAULT_CONFIG.port),
    paymentUrl: env.PAYMENT_URL ?? 'http://127.0.0.1:4001',
    redisPrefix: env.REDIS_PREFIX ?? DEFAULT_CONFIG.redisPrefix,
    clientRatePerSecond: numberFromEnv(env, 'CLIENT_RATE', DEFAULT_CONFIG.clientRatePerSecond),
    clientBurst: numberFromEnv(env, 'CLIENT_BURST', DEFAULT_CONFIG.clientBurst),
    breakDurationMs: numberFromEnv(env, 'BREAK_DURATION_MS', DEFAULT_CONFIG.breakDurationMs),
    chaos: chaosModeFromEnv(env),
    chaosRate: numberFromEnv(env, 'CHAOS_RATE', DEFAULT_CONFIG.chaosRate),
    chaosLatencyMs: numberFromEnv(env, 'CHAOS_LATENCY_MS', DEFAULT_CONFIG.chaosLatencyMs),
  };
  const redisUrl = optional(env.REDIS_URL);
  if (redisUrl !== undefined) config.redisUrl = redisUrl;
  const databaseUrl = optional(env.DATABASE_URL);
  if (databaseUrl !== undefined) config.databaseUrl = databaseUrl;
  return config;
}
