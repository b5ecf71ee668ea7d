/**
 * Plain `node:http`: a check to call at the top of a request listener, and a wrapper that guards
 * one.
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

/** Options of {@link nodeRateLimit} and {@link withRateLimit}. */
export interface NodeRateLimitOptions extends HttpRateLimitOptions<IncomingMessage> {
  /**
   * Answers a refused request instead of the default (429, the `RateLimit` fields, `Retry-After`,
   * a text body). The fields are not set for you: they are in `result.headers`.
   * @default the default answer
   */
  onDenied?:
    | ((req: IncomingMessage, res: ServerResponse, result: HttpRateLimitResult) => Awaitable<void>)
    | undefined;
}

/**
 * The check of {@link nodeRateLimit}: resolves `true` when the request may proceed (its fields
 * are set on `res`), `false` when it was refused and answered.
 */
export type NodeRateLimitCheck = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

/**
 * A rate-limit check for a `node:http` request listener. It sets the fields on admitted
 * responses, answers refusals (429, or `onDenied`) and resolves whether the listener should go on.
 * Rejects with what an option function or a limiter threw.
 *
 * @example
 * const check = nodeRateLimit({ limiters: perClient });
 * createServer(async (req, res) => {
 *   if (!(await check(req, res))) return;
 *   res.end('ok');
 * });
 * @throws {TypeError | RangeError} naming the option, for invalid options.
 */
export function nodeRateLimit(options: NodeRateLimitOptions): NodeRateLimitCheck {
  const guard = new HttpRateLimitGuard<IncomingMessage>(
    options,
    'nodeRateLimit()',
    HTTP_ADAPTER_OPTIONS,
  );
  const onDenied =
    options.onDenied === undefined
      ? undefined
      : expectFunction<NonNullable<NodeRateLimitOptions['onDenied']>>('onDenied', options.onDenied);
  return async (req, res) => {
    const result = await withDisconnectSignal(res, guard.waits, (signal) =>
      guard.decide(nodeSource(req, req), signal),
    );
    if (result.allowed) {
      setNodeHeaders(res, result.headers);
      return true;
    }
    if (onDenied !== undefined) await onDenied(req, res, result);
    else sendNodeDenied(res, result);
    return false;
  };
}

/**
 * Guards a `node:http` request listener: `handler` runs only for admitted requests. When the check
 * itself fails (an option function threw, a key was not valid), the request is answered 500 and
 * the error becomes a process warning, so that it is neither lost nor an unhandled rejection; a
 * client that disconnected while waiting (`maxWaitMs`) is not reported.
 *
 * @example
 * createServer(withRateLimit({ limiters: perClient }, (req, res) => res.end('ok'))).listen(8080);
 * @throws {TypeError | RangeError} naming the option, for invalid options or handler.
 */
export function withRateLimit(
  options: NodeRateLimitOptions,
  handler: (req: IncomingMessage, res: ServerResponse) => unknown,
): (req: IncomingMessage, res: ServerResponse) => void {
  const check = nodeRateLimit(options);
  expectFunction('handler', handler);
  return (req, res) => {
    check(req, res)
      .then((allowed) => (allowed ? handler(req, res) : undefined))
      .catch((error: unknown) => {
        // The client went away (a wait it gave up on): nobody to answer, nothing to report.
        if (res.destroyed && !res.writableFinished) return;
        if (!res.headersSent) {
          res.statusCode = 500;
          res.end();
        } else if (!res.writableEnded) {
          res.end();
        }
        process.emitWarning(error instanceof Error ? error : new Error(String(error)));
      });
  };
}
