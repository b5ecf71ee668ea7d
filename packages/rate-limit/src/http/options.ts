/**
 * The options every HTTP adapter shares, the request as the option functions see it, and the
 * result of a decision. Each adapter adds its own `onDenied` hook (express.ts, fastify.ts, …).
 */
import type { RateLimitDecision } from '../decision.js';
import type { RateLimiter } from '../rate-limiter.js';
import type { TrustProxy } from './client-address.js';

/** A value, or a promise of one. */
export type Awaitable<T> = T | PromiseLike<T>;

/**
 * A request as `key`, `cost` and `skip` see it, whatever the framework. `raw` is the framework's
 * own request object (Express `req`, Fastify `request`, Hono `Context`, `IncomingMessage`, Fetch
 * `Request`).
 */
export interface HttpRequest<Raw> {
  /** The request method, upper case: `'GET'`. */
  readonly method: string;
  /** The request target: path and query (`'/orders?page=2'`; Node, Express, Fastify), or the full URL (Hono, Fetch). */
  readonly url: string;
  /**
   * The client's address, normalised (IPv4-mapped IPv6 as IPv4): the peer's, or the one trusted
   * proxies report (`trustProxy`); `undefined` when the adapter cannot tell.
   */
  readonly ip: string | undefined;
  /** A request header field by name (any case); repeated fields joined with `', '`. */
  header(name: string): string | undefined;
  /** The framework's request object. */
  readonly raw: Raw;
}

/**
 * Which key a request counts against:
 * - `'ip'` (the default): the client address (see `trustProxy`), as `ip:<address>`;
 * - `{ header: 'x-api-key' }`: that header's value, as `header:<value>`; a request without it is
 *   keyed by its client address (the prefixes keep a header value from posing as an address);
 * - a function of the request, returning a non-empty string used as is.
 */
export type HttpKey<Raw> =
  | 'ip'
  | { readonly header: string }
  | ((request: HttpRequest<Raw>) => Awaitable<string>);

/** The options every adapter takes (`expressRateLimit()`, `fastifyRateLimit`, `honoRateLimit()`, …). */
export interface HttpRateLimitOptions<Raw> {
  /**
   * The limiter, or several: a request passes only if every one admits it. They are asked in
   * order and the first refusal stops the asking, so put the most restrictive first (cost already
   * taken by an earlier limiter stays taken). For limits that must be consumed all-or-nothing,
   * give one limiter several `limits` instead.
   */
  limiters: RateLimiter | readonly RateLimiter[];
  /**
   * What a request counts against; see {@link HttpKey}.
   * @default 'ip'
   */
  key?: HttpKey<Raw> | undefined;
  /**
   * Which proxies may report the client's address in `X-Forwarded-For` (for `key: 'ip'` and
   * `request.ip`); see {@link TrustProxy}. Independent of the framework's own setting, so that
   * every adapter reads the address the same way.
   * @default false
   */
  trustProxy?: TrustProxy | undefined;
  /**
   * The cost of a request: a number > 0, or a function of the request returning one.
   * @default 1
   */
  cost?: number | ((request: HttpRequest<Raw>) => Awaitable<number>) | undefined;
  /**
   * Requests for which this returns `true` pass unlimited, without headers and without asking any
   * limiter (health checks, an allow-list).
   * @default none
   */
  skip?: ((request: HttpRequest<Raw>) => Awaitable<boolean>) | undefined;
  /**
   * Whether admitted responses carry the `RateLimit-Policy` and `RateLimit` fields. Refusals
   * always carry them, with `Retry-After`.
   * @default true
   */
  headers?: boolean | undefined;
  /**
   * Wait up to this many milliseconds for the limiters to admit a request (the limiter's
   * `acquire()`) instead of refusing it at once; 0 refuses at once. Several limiters share the
   * wait. A client that disconnects while waiting stops the wait.
   * @default 0
   */
  maxWaitMs?: number | undefined;
  /**
   * Say so in a response header when a limiter's store failed and its `onStoreError` choice
   * answered (the decision's `source` is `'degraded'`): `true` for the field
   * `Breakwater-RateLimit-Degraded`, or the field name to use. Its value lists the names of the
   * limiters that answered degraded. Off by default: clients need not know.
   * @default false
   */
  degradedHeader?: boolean | string | undefined;
  /**
   * The peer's address when the adapter's default cannot find it (a runtime the Hono adapter does
   * not know, a socket behind a custom server): a function of the framework's request.
   * @default the socket's `remoteAddress` (Node-based adapters), `info.ip` (Fetch)
   */
  remoteAddress?: ((raw: Raw) => string | undefined) | undefined;
}

/** One limiter's answer to a request. */
export interface LimiterDecision {
  /** The limiter that decided. */
  readonly limiter: RateLimiter;
  /** Its decision. */
  readonly decision: RateLimitDecision;
}

/** What the limiters decided about one request: the framework-neutral part of every adapter. */
export interface HttpRateLimitResult {
  /** Whether the request may proceed. */
  readonly allowed: boolean;
  /** The status the default answer uses: 429 when refused, 200 otherwise. */
  readonly status: number;
  /**
   * The fields to set on the response: `RateLimit-Policy` (the policies of every limiter asked),
   * `RateLimit` (the most restrictive one: the refusing limiter, or the one with the least left),
   * `Retry-After` on refusals, and the degraded field when asked for. Empty for skipped requests
   * and, with `headers: false`, for admitted ones.
   */
  readonly headers: Readonly<Record<string, string>>;
  /** When refused: milliseconds until the request would pass; 0 when admitted. */
  readonly retryAfterMs: number;
  /** The key the request counted against; `undefined` when skipped. */
  readonly key: string | undefined;
  /** The cost it was charged; 0 when skipped. */
  readonly cost: number;
  /** Whether `skip` let it through. */
  readonly skipped: boolean;
  /** Whether any limiter answered from its `onStoreError` choice (store failing). */
  readonly degraded: boolean;
  /** Each limiter asked, in order, with its decision; the last one refused if any did. */
  readonly decisions: readonly LimiterDecision[];
}

/** The field `degradedHeader: true` sets. */
export const DEFAULT_DEGRADED_HEADER = 'Breakwater-RateLimit-Degraded';

/** The body of the default 429 answer. */
export const DENIED_BODY = 'Too Many Requests';
