/**
 * HTTP response headers for a decision: `RateLimit-Policy` and `RateLimit` as defined by the IETF
 * httpapi draft "RateLimit header fields for HTTP" (structured fields, draft-ietf-httpapi-
 * ratelimit-headers-10), and `Retry-After` (RFC 9110) on denials.
 */
import type { RateLimitDecision } from './decision.js';
import type { LimitDefinition } from './rate-limiter.js';

/** What {@link rateLimitHeaders} needs to know about the limiter: a `RateLimiter` qualifies. */
export interface HeaderPolicy {
  /** Names the quota policies in the headers. */
  readonly name: string;
  /** The limits, each advertised as one quota policy. */
  readonly limits: readonly LimitDefinition[];
}

/** The headers {@link rateLimitHeaders} returns; `Retry-After` only on denials. */
export interface RateLimitHeaders {
  /** The quota policies: `"<name>";q=<limit>;w=<interval s>`, one per limit. */
  'RateLimit-Policy': string;
  /** The binding policy's state: `"<name>";r=<remaining>;t=<seconds>`. */
  RateLimit: string;
  /** Seconds until a refused call may be retried (refusals only). */
  'Retry-After'?: string;
}

/**
 * The response headers advertising the limiter's quota policies and the state of the decision's
 * binding limit.
 *
 * ```
 * RateLimit-Policy: "partner-api";q=100;w=1
 * RateLimit: "partner-api";r=0;t=1
 * Retry-After: 1
 * ```
 *
 * - `q` is the limit and `w` the interval in seconds (rounded up); a limiter with several limits
 *   lists one policy per limit, named `<name>/<n>` (n = 1, 2, …).
 * - `r` is `decision.remaining`; `t` the seconds until the binding limit frees up: until the call
 *   may be retried when denied, until the allowance is full again when allowed (rounded up).
 * - `Retry-After` is `retryAfterMs` in whole seconds, rounded up, at least 1.
 */
export function rateLimitHeaders(
  decision: RateLimitDecision,
  policy: HeaderPolicy,
): RateLimitHeaders {
  const names =
    policy.limits.length === 1
      ? [policy.name]
      : policy.limits.map((_, i) => `${policy.name}/${i + 1}`);
  const policies = policy.limits.map(
    (limit, i) =>
      `${sfString(names[i]!)};q=${sfInteger(limit.limit)};w=${Math.max(1, Math.ceil(limit.intervalMs / 1000))}`,
  );
  let binding = policy.limits.findIndex(
    (l) => l.limit === decision.limit && l.intervalMs === decision.intervalMs,
  );
  if (binding < 0) binding = 0;
  const untilMs = decision.allowed ? decision.resetAfterMs : decision.retryAfterMs;
  const headers: RateLimitHeaders = {
    'RateLimit-Policy': policies.join(', '),
    RateLimit: `${sfString(names[binding]!)};r=${sfInteger(decision.remaining)};t=${Math.ceil(untilMs / 1000)}`,
  };
  if (!decision.allowed)
    headers['Retry-After'] = String(Math.max(1, Math.ceil(decision.retryAfterMs / 1000)));
  return headers;
}

/** A structured-field string: quotes and backslashes escaped, non-printable characters dropped. */
function sfString(value: string): string {
  return `"${value.replace(/[^\x20-\x7e]/g, '').replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** A structured-field integer: whole and non-negative (fractional limits round down). */
function sfInteger(value: number): number {
  return Math.max(0, Math.floor(value));
}
