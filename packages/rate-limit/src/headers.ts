/**
 * HTTP response headers for a decision: `RateLimit-Policy` and `RateLimit` as defined by the IETF
 * httpapi draft "RateLimit header fields for HTTP" (structured fields,
 * draft-ietf-httpapi-ratelimit-headers-11), and `Retry-After` (RFC 9110) on denials. What the
 * fields say per algorithm is worked out in headers/mapping.ts.
 */
import type { AlgorithmName } from './algorithms/limit.js';
import type { RateLimitDecision } from './decision.js';
import { quotaPolicy, serviceLimit, waitSeconds } from './headers/mapping.js';
import type { LimitDefinition } from './rate-limiter.js';

/** What {@link rateLimitHeaders} needs to know about the limiter: a `RateLimiter` qualifies. */
export interface HeaderPolicy {
  /** Names the quota policies in the headers. */
  readonly name: string;
  /**
   * The limits, each advertised as one quota policy. Empty (a limiter with a `limits` function,
   * whose limits are per key): the decision's binding limit is advertised instead.
   */
  readonly limits: readonly LimitDefinition[];
  /** The algorithm of a binding limit advertised from the decision (empty `limits`). */
  readonly algorithm?: AlgorithmName | undefined;
}

/** The headers {@link rateLimitHeaders} returns; `Retry-After` only on denials. */
export interface RateLimitHeaders {
  /** The quota policies: `"<name>";q=<units>;w=<seconds>`, one per limit, at its sustained rate. */
  'RateLimit-Policy': string;
  /** The binding limit's pace: `"<name>";r=<units>;t=<seconds>` (at most `r` within `t`). */
  RateLimit: string;
  /** Whole seconds until a refused call may be retried, at least 1 (refusals only). */
  'Retry-After'?: string;
}

/**
 * The response headers advertising the limiter's quota policies and what the decision leaves the
 * client under its binding limit, in terms a client that reads nothing but the headers can follow.
 *
 * ```
 * RateLimit-Policy: "partner-api";q=100;w=1
 * RateLimit: "partner-api";r=100;t=1
 * ```
 *
 * - `q` per `w` is the limit's sustained rate over whole seconds: `limit` per interval for GCRA
 *   and token bucket, `limit + burst` for the windows; an interval that is not a whole number of
 *   seconds is scaled (10 per 100 ms is `q=100;w=1`, 10 per 1.5 s is `q=20;w=3`). A limiter with
 *   several limits lists one policy per limit, named `<name>/<n>` (n = 1, 2, …).
 * - `r` within `t` (the draft's available quota and effective window) is a pace: `r` units spread
 *   evenly over the next `t` seconds are admitted, if nobody else spends from the key. GCRA and
 *   token bucket count what is left of the bucket plus the refill of `t`, the shortest whole
 *   seconds that hold 20 units of the rate; a fixed window says what it has left and the whole
 *   seconds to its end, or near its end a pace that runs on into the next window; a sliding
 *   window paces just under its sustained rate. With `r=0`, `t` is the wait, rounded up.
 * - Refused: `r` is what is left now and `t` equals `Retry-After`: `retryAfterMs` in whole
 *   seconds, rounded up, at least 1.
 *
 * A client that sends all of `r` at once gets only what the limit admits at once; the package's
 * docs/http-headers.md has the per-algorithm table and what a client following the fields gets.
 */
export function rateLimitHeaders(
  decision: RateLimitDecision,
  policy: HeaderPolicy,
): RateLimitHeaders {
  if (!(decision.limit > 0 && decision.intervalMs > 0)) {
    // No limits to advertise: the key's `limits` function gave none (`source: 'limit-source'`).
    const wait = waitSeconds(decision.retryAfterMs);
    return {
      'RateLimit-Policy': `${sfString(policy.name)};q=0;w=1`,
      RateLimit: `${sfString(policy.name)};r=0;t=${wait}`,
      'Retry-After': String(wait),
    };
  }
  const limits: readonly LimitDefinition[] =
    policy.limits.length > 0
      ? policy.limits
      : [
          {
            limit: decision.limit,
            intervalMs: decision.intervalMs,
            burst: 0,
            algorithm: policy.algorithm ?? 'gcra',
          },
        ];
  const names =
    limits.length === 1 ? [policy.name] : limits.map((_, i) => `${policy.name}/${i + 1}`);
  const policies = limits.map((limit, i) => {
    const { q, w } = quotaPolicy(limit);
    return `${sfString(names[i]!)};q=${sfInteger(q)};w=${sfInteger(w)}`;
  });
  let binding = limits.findIndex(
    (l) => l.limit === decision.limit && l.intervalMs === decision.intervalMs,
  );
  if (binding < 0) binding = 0;
  const { r, t } = serviceLimit(decision, limits[binding]!);
  const headers: RateLimitHeaders = {
    'RateLimit-Policy': policies.join(', '),
    RateLimit: `${sfString(names[binding]!)};r=${sfInteger(r)};t=${sfInteger(t)}`,
  };
  if (!decision.allowed) headers['Retry-After'] = String(waitSeconds(decision.retryAfterMs));
  return headers;
}

/** A structured-field string: quotes and backslashes escaped, non-printable characters dropped. */
function sfString(value: string): string {
  return `"${value.replace(/[^\x20-\x7e]/g, '').replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** The largest structured-field integer (15 digits). */
const SF_INTEGER_MAX = 999_999_999_999_999;

/** A structured-field integer: whole, non-negative and at most 15 digits. */
function sfInteger(value: number): number {
  return Math.min(SF_INTEGER_MAX, Math.max(0, Math.floor(value)));
}
