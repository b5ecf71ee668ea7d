/**
 * Hono 4 middleware. Typed structurally (what it reads of a `Context`), so that `hono` is needed
 * only by the application that uses it; it runs wherever Hono runs, the client address coming
 * from the runtime (see {@link honoRemoteAddress}).
 */
import { expectFunction, expectObject } from '@breakwater/core';
import { HttpRateLimitGuard } from './guard.js';
import { HTTP_ADAPTER_OPTIONS } from './known-options.js';
import {
  type Awaitable,
  DENIED_BODY,
  type HttpRateLimitOptions,
  type HttpRateLimitResult,
} from './options.js';

/** What the middleware reads of a Hono `Context`. */
export interface HonoContextLike {
  /** The request. */
  readonly req: {
    /** The Fetch request. */
    readonly raw: Request;
    /** The method. */
    readonly method: string;
    /** The full URL. */
    readonly url: string;
  };
  /** The runtime's bindings: `@hono/node-server` puts the Node request in `incoming`. */
  readonly env: unknown;
  /** The response, once the handlers after the middleware made it. */
  res: Response;
}

/**
 * Options of {@link honoRateLimit}. `C` is the context type the option functions receive.
 */
export interface HonoRateLimitOptions<C extends HonoContextLike = HonoContextLike>
  extends HttpRateLimitOptions<C> {
  /**
   * Answers a refused request instead of the default (429, the fields, a text body): return the
   * `Response`. The fields are not set for you: they are in `result.headers`.
   * @default the default answer
   */
  onDenied?: ((c: C, result: HttpRateLimitResult) => Awaitable<Response>) | undefined;
}

/** Hono middleware, as {@link honoRateLimit} returns it. */
export type HonoRateLimitMiddleware<C extends HonoContextLike = HonoContextLike> = (
  c: C,
  next: () => Promise<void>,
) => Promise<Response | undefined>;

/**
 * The peer's address on the runtimes Hono runs on: Node through `@hono/node-server`
 * (`env.incoming.socket.remoteAddress`), Bun (`env.requestIP(request)`), Deno
 * (`env.remoteAddr.hostname`). Elsewhere give `remoteAddress`.
 */
export function honoRemoteAddress(c: HonoContextLike): string | undefined {
  const env = c.env as
    | {
        incoming?: { socket?: { remoteAddress?: string } };
        requestIP?: (request: Request) => { address?: string } | null | undefined;
        remoteAddr?: { hostname?: string };
      }
    | undefined;
  if (env === undefined || env === null) return undefined;
  const node = env.incoming?.socket?.remoteAddress;
  if (node !== undefined) return node;
  if (typeof env.requestIP === 'function') return env.requestIP(c.req.raw)?.address ?? undefined;
  return env.remoteAddr?.hostname;
}

/**
 * Rate-limit middleware for Hono 4: `app.use(honoRateLimit(options))`, or on a route
 * (`app.get('/search', honoRateLimit(options), handler)`). Admitted requests get the fields and go
 * on; refused ones are answered (429, or the `Response` of `onDenied`). An error of an option
 * function or a limiter is thrown to Hono's `onError`. A client that disconnects stops a wait
 * (the request's `signal`).
 *
 * @throws {TypeError | RangeError} naming the option, for invalid options.
 */
export function honoRateLimit<C extends HonoContextLike = HonoContextLike>(
  options: HonoRateLimitOptions<C>,
): HonoRateLimitMiddleware<C> {
  expectObject('options', options);
  const guard = new HttpRateLimitGuard<C>(
    { ...options, remoteAddress: options.remoteAddress ?? honoRemoteAddress },
    'honoRateLimit()',
    HTTP_ADAPTER_OPTIONS,
  );
  const onDenied =
    options.onDenied === undefined
      ? undefined
      : expectFunction<NonNullable<HonoRateLimitOptions<C>['onDenied']>>(
          'onDenied',
          options.onDenied,
        );
  return async (c, next) => {
    const request = c.req.raw;
    const result = await guard.decide(
      {
        raw: c,
        method: c.req.method,
        url: c.req.url,
        header: (name) => request.headers.get(name) ?? undefined,
        peerAddress: () => undefined,
      },
      guard.waits ? request.signal : undefined,
    );
    if (!result.allowed) {
      if (onDenied !== undefined) return onDenied(c, result);
      return new Response(DENIED_BODY, {
        status: result.status,
        headers: { ...result.headers, 'content-type': 'text/plain; charset=utf-8' },
      });
    }
    await next();
    setResponseHeaders(c, result.headers);
    return undefined;
  };
}

/**
 * Adds the fields to the response the handlers made (whatever made it: `c.text()` or a `Response`
 * of its own). A response with immutable headers (one returned by `fetch()`) is copied first.
 */
function setResponseHeaders(c: HonoContextLike, headers: Readonly<Record<string, string>>): void {
  const names = Object.keys(headers);
  if (names.length === 0) return;
  try {
    for (const name of names) c.res.headers.set(name, headers[name]!);
  } catch {
    c.res = new Response(c.res.body, c.res);
    for (const name of names) c.res.headers.set(name, headers[name]!);
  }
}
