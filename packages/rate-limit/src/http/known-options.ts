/**
 * The options the HTTP adapters read, and what to use instead of the options of the middleware
 * users come from (express-rate-limit, @fastify/rate-limit, hono-rate-limiter). An adapter given
 * an option it does not read warns once (core's `warnUnknownOptions`).
 */
import { type KnownOptions, type OptionRenames, warnUnknownOptions } from '@breakwater/core';
import type { ExpressRateLimitOptions } from './express.js';
import type { FastifyRateLimitOptions } from './fastify.js';
import type { FetchRateLimitOptions } from './fetch.js';
import type { HonoRateLimitOptions } from './hono.js';
import type { NodeRateLimitOptions } from './node.js';
import type { HttpRateLimitOptions } from './options.js';

/** The options every adapter reads. */
export const HTTP_RATE_LIMIT_OPTIONS = {
  limiters: true,
  key: true,
  trustProxy: true,
  cost: true,
  skip: true,
  headers: true,
  maxWaitMs: true,
  degradedHeader: true,
  remoteAddress: true,
} as const satisfies KnownOptions<HttpRateLimitOptions<unknown>>;

/** The options of every adapter: the shared ones and its `onDenied` hook. */
export const HTTP_ADAPTER_OPTIONS = {
  ...HTTP_RATE_LIMIT_OPTIONS,
  onDenied: true,
} as const satisfies KnownOptions<
  | ExpressRateLimitOptions
  | FastifyRateLimitOptions
  | HonoRateLimitOptions
  | NodeRateLimitOptions
  | FetchRateLimitOptions
>;

/** What Fastify's `register()` adds to a plugin's options; the plugin ignores them silently. */
export const FASTIFY_REGISTER_OPTIONS = {
  ...HTTP_ADAPTER_OPTIONS,
  prefix: true,
  logLevel: true,
  logSerializers: true,
} as const;

const LIMIT_IN_LIMITER = 'limiters: rateLimiter({ name, limit, intervalMs })';

/** Options of express-rate-limit, @fastify/rate-limit and hono-rate-limiter, and their equivalents. */
export const HTTP_RATE_LIMIT_RENAMES: OptionRenames = {
  windowMs: {
    use: LIMIT_IN_LIMITER,
    note: 'the window is the limiter’s `intervalMs`',
  },
  max: { use: LIMIT_IN_LIMITER, note: 'the limit is an option of the limiter' },
  limit: { use: LIMIT_IN_LIMITER, note: 'the limit is an option of the limiter' },
  timeWindow: {
    use: LIMIT_IN_LIMITER,
    note: 'the window is the limiter’s `intervalMs`, in milliseconds',
  },
  keyGenerator: 'key',
  handler: 'onDenied',
  errorResponseBuilder: 'onDenied',
  message: { use: 'onDenied', note: 'answer refusals your way in the hook' },
  statusCode: { use: 'onDenied', note: 'answer refusals your way in the hook' },
  standardHeaders: {
    use: 'headers',
    note: 'the fields are always those of the IETF draft: `RateLimit` and `RateLimit-Policy`',
  },
  legacyHeaders: { note: 'the `X-RateLimit-*` fields are not sent' },
  addHeaders: 'headers',
  allowList: 'skip',
  store: {
    use: 'limiters: rateLimiter({ store })',
    note: 'the store is an option of the limiter',
  },
  skipSuccessfulRequests: { note: 'not supported: the cost is charged when the request arrives' },
  skipFailedRequests: { note: 'not supported: the cost is charged when the request arrives' },
};

/** Warns once per option of an adapter's options bag that the adapter does not read. */
export function warnUnknownHttpOptions(
  factory: string,
  options: object,
  known: Readonly<Record<string, true>>,
): void {
  warnUnknownOptions(factory, options, { known, renames: HTTP_RATE_LIMIT_RENAMES });
}
