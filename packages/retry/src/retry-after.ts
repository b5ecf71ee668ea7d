/**
 * Server hints: how long a server asked the client to wait. A retry policy waits at least that long
 * before its next attempt (see the `retryAfter` option), whatever its backoff says.
 */

/** Headers as `fetch` (`Headers`), undici and most HTTP clients expose them. */
export interface HeadersLike {
  /** The value of the header `name` (case-insensitive), `null` or `undefined` when absent. */
  get(name: string): string | null | undefined;
}

/** Headers as Node's `http` module (`IncomingHttpHeaders`) and axios expose them. */
export type HeadersRecord = Readonly<
  Record<string, string | readonly string[] | number | undefined>
>;

/** Options of {@link retryAfterFromHeaders}. */
export interface RetryAfterOptions {
  /**
   * The current time in epoch milliseconds, to turn an HTTP-date into a delay.
   * @default Date.now()
   */
  now?: number;
}

const DELAY_SECONDS = /^\s*\d+(?:\.\d+)?\s*$/;

/**
 * The delay a response asks for, in milliseconds, or `undefined` when it asks for none (or the
 * header cannot be parsed). Reads, in this order:
 *
 * - `retry-after-ms`: milliseconds (sent by some cloud APIs for sub-second precision);
 * - `Retry-After`: delay-seconds (`120`) or an HTTP-date (`Wed, 21 Oct 2026 07:28:00 GMT`); a date
 *   in the past gives 0.
 *
 * Header names are matched case-insensitively. Works with `Headers`, Node's
 * `IncomingHttpHeaders` and plain objects.
 *
 * @example
 * retry({
 *   shouldRetry: ({ error, result }) => error !== undefined || result.status === 503,
 *   retryAfter: ({ result }) => retryAfterFromHeaders(result?.headers),
 * })
 */
export function retryAfterFromHeaders(
  headers: HeadersLike | HeadersRecord | null | undefined,
  options: RetryAfterOptions = {},
): number | undefined {
  if (headers === null || headers === undefined) return undefined;
  const millis = headerValue(headers, 'retry-after-ms');
  if (millis !== undefined && DELAY_SECONDS.test(millis)) return Number(millis);
  const value = headerValue(headers, 'retry-after');
  if (value === undefined) return undefined;
  if (DELAY_SECONDS.test(value)) return Number(value) * 1000;
  // An HTTP-date names its day and month; without letters, `Date.parse` would read "-5" as a year.
  if (!/[a-z]/i.test(value)) return undefined;
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - (options.now ?? Date.now()));
}

function headerValue(headers: HeadersLike | HeadersRecord, name: string): string | undefined {
  if (typeof (headers as HeadersLike).get === 'function') {
    return (headers as HeadersLike).get(name) ?? undefined;
  }
  const record = headers as HeadersRecord;
  let raw = record[name];
  if (raw === undefined) {
    // Plain objects keep whatever case the sender used.
    for (const key of Object.keys(record)) {
      if (key.toLowerCase() === name) {
        raw = record[key];
        break;
      }
    }
  }
  if (raw === undefined) return undefined;
  if (typeof raw === 'number') return String(raw);
  if (typeof raw === 'string') return raw;
  return raw[0];
}
