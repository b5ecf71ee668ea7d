/**
 * The Fetch API (`Request` → `Response`): for servers and runtimes that hand a handler a
 * `Request` (Deno, Bun, Cloudflare Workers, Next.js route handlers, …).
 */
import { expectFunction } from '@breakwater/core';
import { HttpRateLimitGuard } from './guard.js';
import { HTTP_ADAPTER_OPTIONS } from './known-options.js';
import {
  type Awaitable,
  DENIED_BODY,
  type HttpRateLimitOptions,
  type HttpRateLimitResult,
} from './options.js';

/** Options of {@link fetchRateLimit}. */
export interface FetchRateLimitOptions extends HttpRateLimitOptions<Request> {
  /**
   * Builds the `Response` of a refused request instead of the default (429, the fields, a text
   * body). The fields are not set for you: they are in `result.headers`.
   * @default the default answer
   */
  onDenied?: ((request: Request, result: HttpRateLimitResult) => Awaitable<Response>) | undefined;
}

/** What the runtime knows of a request beyond the `Request` itself. */
export interface FetchRequestInfo {
  /**
   * The address of the peer that connected (`server.requestIP(req)` on Bun, `info.remoteAddr` on
   * Deno); needed by `key: 'ip'` unless `remoteAddress` finds it.
   */
  ip?: string | undefined;
}

/** What {@link fetchRateLimit}'s check resolves. */
export type FetchRateLimitOutcome =
  | {
      /** The request may proceed. */
      readonly allowed: true;
      /** The fields to add to your response (empty with `headers: false` or when skipped). */
      readonly headers: Readonly<Record<string, string>>;
      /** The full result. */
      readonly result: HttpRateLimitResult;
    }
  | {
      /** The request was refused. */
      readonly allowed: false;
      /** The answer to send: 429 with the fields, or what `onDenied` built. */
      readonly response: Response;
      /** The full result. */
      readonly result: HttpRateLimitResult;
    };

/** The check of {@link fetchRateLimit}. */
export type FetchRateLimitCheck = (
  request: Request,
  info?: FetchRequestInfo,
) => Promise<FetchRateLimitOutcome>;

/**
 * A rate-limit check for Fetch handlers: resolves the headers to add when the request may proceed,
 * or the `Response` to send when it was refused. Waits (`maxWaitMs`) end when `request.signal`
 * aborts. Rejects with what an option function or a limiter threw.
 *
 * @example
 * const check = fetchRateLimit({ limiters: perClient });
 * async function handle(request: Request, ip: string): Promise<Response> {
 *   const outcome = await check(request, { ip });
 *   if (!outcome.allowed) return outcome.response;
 *   return new Response('ok', { headers: outcome.headers });
 * }
 * @throws {TypeError | RangeError} naming the option, for invalid options.
 */
export function fetchRateLimit(options: FetchRateLimitOptions): FetchRateLimitCheck {
  const guard = new HttpRateLimitGuard<Request>(options, 'fetchRateLimit()', HTTP_ADAPTER_OPTIONS);
  const onDenied =
    options.onDenied === undefined
      ? undefined
      : expectFunction<NonNullable<FetchRateLimitOptions['onDenied']>>(
          'onDenied',
          options.onDenied,
        );
  return async (request, info) => {
    const result = await guard.decide(
      {
        raw: request,
        method: request.method,
        url: request.url,
        header: (name) => request.headers.get(name) ?? undefined,
        peerAddress: () => info?.ip,
      },
      guard.waits ? request.signal : undefined,
    );
    if (result.allowed) return { allowed: true, headers: result.headers, result };
    const response =
      onDenied !== undefined
        ? await onDenied(request, result)
        : new Response(DENIED_BODY, {
            status: result.status,
            headers: { ...result.headers, 'content-type': 'text/plain; charset=utf-8' },
          });
    return { allowed: false, response, result };
  };
}
