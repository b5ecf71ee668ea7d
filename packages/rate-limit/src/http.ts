/**
 * `@breakwater/rate-limit/http`: rate-limit middleware for Express 4 and 5, Fastify 5, Hono 4,
 * plain `node:http` and Fetch `Request` handlers, on one framework-neutral core. No framework is
 * loaded at run time: each adapter is typed structurally, so an application installs only its own
 * framework.
 *
 * @module @breakwater/rate-limit/http
 */
export {
  normalizeAddress,
  TRUST_PROXY_PRESETS,
  type TrustProxy,
} from './http/client-address.js';
export {
  type ExpressNext,
  type ExpressRateLimitMiddleware,
  type ExpressRateLimitOptions,
  expressRateLimit,
} from './http/express.js';
export {
  type FastifyInstanceLike,
  type FastifyRateLimitHook,
  type FastifyRateLimitOptions,
  type FastifyRateLimitPlugin,
  type FastifyReplyLike,
  type FastifyRequestLike,
  fastifyRateLimit,
  fastifyRateLimitHook,
} from './http/fastify.js';
export {
  type FetchRateLimitCheck,
  type FetchRateLimitOptions,
  type FetchRateLimitOutcome,
  type FetchRequestInfo,
  fetchRateLimit,
} from './http/fetch.js';
export {
  type HonoContextLike,
  type HonoRateLimitMiddleware,
  type HonoRateLimitOptions,
  honoRateLimit,
  honoRemoteAddress,
} from './http/hono.js';
export {
  type NodeRateLimitCheck,
  type NodeRateLimitOptions,
  nodeRateLimit,
  withRateLimit,
} from './http/node.js';
export {
  type Awaitable,
  DEFAULT_DEGRADED_HEADER,
  type HttpKey,
  type HttpRateLimitOptions,
  type HttpRateLimitResult,
  type HttpRequest,
  type LimiterDecision,
} from './http/options.js';
