/**
 * The parts of the pattern packages the nemesis replicas drive, typed here and loaded by a
 * variable specifier at run time: the testkit does not depend on the packages (they depend on it),
 * and replica processes resolve `@breakwater/*` to the TypeScript sources.
 */

/** A rate-limit decision, as far as the nemesis reads it. */
export interface NemesisRateDecision {
  allowed: boolean;
  source: string;
}

/** The rate limiter surface a replica uses. */
export interface NemesisRateLimiter {
  limit(key: string, options?: { cost?: number }): Promise<NemesisRateDecision>;
  readonly storeStatus: string;
  close(): Promise<void>;
}

/** `@breakwater/rate-limit` and its `/redis` subpath. */
export interface RateLimitModules {
  rateLimiter(options: Record<string, unknown>): NemesisRateLimiter;
  redisStore(options: { client: unknown; prefix: string }): { close(): Promise<void> };
}

/** What a fleet bulkhead hands `fn`. */
export interface NemesisBulkheadContext {
  readonly signal: AbortSignal;
  readonly fencingToken: number | undefined;
}

/** The bulkhead surface a replica uses. */
export interface NemesisBulkhead {
  execute<T>(fn: (ctx: NemesisBulkheadContext) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** `@breakwater/bulkhead` and its `/redis` subpath. */
export interface BulkheadModules {
  bulkhead(options: Record<string, unknown>): NemesisBulkhead;
  redisStore(options: { client: unknown; prefix: string }): { close(): Promise<void> };
}

/** The retry policy surface a replica uses. */
export interface NemesisRetry {
  execute<T>(fn: (ctx: { attempt: number; signal: AbortSignal }) => Promise<T>): Promise<T>;
}

/** The retry budget surface a replica uses. */
export interface NemesisRetryBudget {
  readonly storeStatus: string;
  close(): Promise<void>;
}

/** `@breakwater/retry` and its `/redis` subpath. */
export interface RetryModules {
  retry(options: Record<string, unknown>): NemesisRetry;
  retryBudget(options: Record<string, unknown>): NemesisRetryBudget;
  constant(options: { delayMs: number }): unknown;
  redisBudgetStore(options: { client: unknown; prefix: string }): { close(): Promise<void> };
}

/** The circuit breaker surface a replica uses. */
export interface NemesisBreaker {
  execute<T>(fn: (ctx: { signal: AbortSignal }) => Promise<T>): Promise<T>;
  readonly state: string;
  readonly storeStatus: string;
  /** Subscribes to the state changes this replica sees; returns the disposer. */
  onStateChange(listener: (event: { from: string; to: string }) => void): () => void;
  close(): Promise<void>;
}

/** `@breakwater/circuit-breaker` and its `/redis` subpath. */
export interface BreakerModules {
  circuitBreaker(options: Record<string, unknown>): NemesisBreaker;
  redisStore(options: { client: unknown; prefix: string }): { close(): Promise<void> };
}

/** What a cache loader gets. */
export interface NemesisLoaderContext {
  readonly signal: AbortSignal;
  readonly key: string;
}

/** The cache surface a replica uses. */
export interface NemesisCache {
  getOrLoad<T>(key: string, loader: (ctx: NemesisLoaderContext) => Promise<T>): Promise<T>;
  readonly storeStatus: string;
  close(): Promise<void>;
}

/** `@breakwater/cache` and its `/redis` subpath. */
export interface CacheModules {
  cache(options: Record<string, unknown>): NemesisCache;
  redisStore(options: { client: unknown; prefix: string }): { close(): Promise<void> };
}

/** One entry of a write-behind batch. */
export interface NemesisPersistEntry {
  readonly key: string;
  readonly value: unknown;
  readonly version: number;
}

/** The write-behind surface a replica uses. */
export interface NemesisWriteBehind {
  write(key: string, value: unknown): Promise<number>;
  flush(): Promise<void>;
  pending(): Promise<number>;
  readonly storeStatus: string;
  close(options?: { timeoutMs?: number }): Promise<void>;
}

/** `@breakwater/cache`'s write-behind and the `/redis` subpath's queue. */
export interface WriteBehindModules {
  writeBehind(options: Record<string, unknown>): NemesisWriteBehind;
  redisWriteBehindQueue(options: {
    client: unknown;
    prefix: string;
    durability: 'primary' | 'wait';
  }): { close(): Promise<void> };
}

async function load<T>(specifier: string): Promise<T> {
  // A variable specifier keeps TypeScript from resolving a package the testkit does not depend on.
  const name = specifier;
  return (await import(name)) as T;
}

/** Loads the rate limiter and its Redis store. */
export async function loadRateLimit(): Promise<RateLimitModules> {
  const [main, redis] = await Promise.all([
    load<Pick<RateLimitModules, 'rateLimiter'>>('@breakwater/rate-limit'),
    load<Pick<RateLimitModules, 'redisStore'>>('@breakwater/rate-limit/redis'),
  ]);
  return { rateLimiter: main.rateLimiter, redisStore: redis.redisStore };
}

/** Loads the bulkhead and its Redis store. */
export async function loadBulkhead(): Promise<BulkheadModules> {
  const [main, redis] = await Promise.all([
    load<Pick<BulkheadModules, 'bulkhead'>>('@breakwater/bulkhead'),
    load<Pick<BulkheadModules, 'redisStore'>>('@breakwater/bulkhead/redis'),
  ]);
  return { bulkhead: main.bulkhead, redisStore: redis.redisStore };
}

/** Loads the retry policy, the retry budget and its Redis store. */
export async function loadRetry(): Promise<RetryModules> {
  const [main, redis] = await Promise.all([
    load<Pick<RetryModules, 'retry' | 'retryBudget' | 'constant'>>('@breakwater/retry'),
    load<Pick<RetryModules, 'redisBudgetStore'>>('@breakwater/retry/redis'),
  ]);
  return {
    retry: main.retry,
    retryBudget: main.retryBudget,
    constant: main.constant,
    redisBudgetStore: redis.redisBudgetStore,
  };
}

/** Loads the circuit breaker and its Redis store. */
export async function loadBreaker(): Promise<BreakerModules> {
  const [main, redis] = await Promise.all([
    load<Pick<BreakerModules, 'circuitBreaker'>>('@breakwater/circuit-breaker'),
    load<Pick<BreakerModules, 'redisStore'>>('@breakwater/circuit-breaker/redis'),
  ]);
  return { circuitBreaker: main.circuitBreaker, redisStore: redis.redisStore };
}

/** Loads the cache and its Redis store. */
export async function loadCache(): Promise<CacheModules> {
  const [main, redis] = await Promise.all([
    load<Pick<CacheModules, 'cache'>>('@breakwater/cache'),
    load<Pick<CacheModules, 'redisStore'>>('@breakwater/cache/redis'),
  ]);
  return { cache: main.cache, redisStore: redis.redisStore };
}

/** Loads the write-behind and its Redis queue. */
export async function loadWriteBehind(): Promise<WriteBehindModules> {
  const [main, redis] = await Promise.all([
    load<Pick<WriteBehindModules, 'writeBehind'>>('@breakwater/cache'),
    load<Pick<WriteBehindModules, 'redisWriteBehindQueue'>>('@breakwater/cache/redis'),
  ]);
  return { writeBehind: main.writeBehind, redisWriteBehindQueue: redis.redisWriteBehindQueue };
}
