/**
 * Express 4 and 5 middleware. Typed against node:http (an Express `req` is an `IncomingMessage`, its
 * `res` a `ServerResponse`), so that neither `express` nor `@types/express` is needed to use it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { expectFunction } from '@breakwater/core';
import { HttpRateLimitGuard } from './guard.js';
import { HTTP_ADAPTER_OPTIONS } from './known-options.js';
import {
  nodeSource,
  sendNodeDenied,
  setNodeHeaders,
  withDisconnectSignal,
} from './node-request.js';
import type { Awaitable, HttpRateLimitOptions, HttpRateLimitResult } from './options.js';

/** Express's `next`: called with nothing to go on, with an error to hand it to error handlers. */
export type ExpressNext = (error?: unknown) => void;

/**
 * Options of {@link expressRateLimit}. `Req` is the request type the option functions receive
 * (`express.Request`, or your own extension of it).
 */
export interface ExpressRateLimitOptions<Req extends IncomingMessage = IncomingMessage>
  extends HttpRateLimitOptions<Req> {
  /**
   * Answers a refused request instead of the default (429, the fields, a text body). The fields
   * are not set for you: they are in `result.headers`. A rejection goes to `next(error)`.
   * @default the default answer
   */
  onDenied?:
    | ((
        req: Req,
        res: ServerResponse,
        next: ExpressNext,
        result: HttpRateLimitResult,
      ) => Awaitable<unknown>)
    | undefined;
}

/** Express middleware, as {@link expressRateLimit} returns it. */
export type ExpressRateLimitMiddleware<Req extends IncomingMessage = IncomingMessage> = (
  req: Req,
  res: ServerResponse,
  next: ExpressNext,
) => void;

/**
 * Rate-limit middleware for Express 4 and 5: `app.use(expressRateLimit(options))`, or on a route
 * (`app.get('/search', expressRateLimit(options), handler)`). Admitted requests get the fields and
 * go on; refused ones are answered (429, or `onDenied`). An error of an option function or a
 * limiter goes to `next(error)`. `req.originalUrl` is the `url` the option functions see.
 *
 * @example
 * app.use(expressRateLimit({ limiters: rateLimiter({ name: 'api', limit: 100, intervalMs: 60_000 }) }));
 * @throws {TypeError | RangeError} naming the option, for invalid options.
 */
export function expressRateLimit<Req extends IncomingMessage = IncomingMessage>(
  options: ExpressRateLimitOptions<Req>,
): ExpressRateLimitMiddleware<Req> {
  const guard = new HttpRateLimitGuard<Req>(options, 'expressRateLimit()', HTTP_ADAPTER_OPTIONS);
  const onDenied =
    options.onDenied === undefined
      ? undefined
      : expectFunction<NonNullable<ExpressRateLimitOptions<Req>['onDenied']>>(
          'onDenied',
          options.onDenied,
        );
  return (req, res, next) => {
    const url = (req as { originalUrl?: string }).originalUrl;
    withDisconnectSignal(res, guard.waits, (signal) =>
      guard.decide(nodeSource(req, req, url), signal),
    )
      .then(async (result) => {
        if (result.allowed) {
          setNodeHeaders(res, result.headers);
          return true;
        }
        if (onDenied !== undefined) await onDenied(req, res, next, result);
        else sendNodeDenied(res, result);
        return false;
      })
      // `next()` outside the chain's error path: an error thrown after it is not handed to it again.
      .then((proceed) => {
        if (proceed) next();
      }, next);
  };
}
