/**
 * Fastify 5: a plugin (with fastify-plugin's semantics, without depending on it) and the
 * `onRequest` hook behind it, for single routes. Typed structurally, so that `fastify` is needed
 * only by the application that uses it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { expectFunction } from '@breakwater/core';
import { HttpRateLimitGuard } from './guard.js';
import { FASTIFY_REGISTER_OPTIONS, HTTP_ADAPTER_OPTIONS } from './known-options.js';
import { nodeSource, withDisconnectSignal } from './node-request.js';
import {
  type Awaitable,
  DENIED_BODY,
  type HttpRateLimitOptions,
  type HttpRateLimitResult,
} from './options.js';

/** What the adapter reads of a Fastify request. */
export interface FastifyRequestLike {
  /** The Node request. */
  readonly raw: IncomingMessage;
  /** The request target, path and query. */
  readonly url: string;
}

/** What the adapter uses of a Fastify reply. */
export interface FastifyReplyLike {
  /** The Node response (its `close` stops a wait when the client goes). */
  readonly raw: ServerResponse;
  /** Sets a response header. */
  header(name: string, value: string): this;
  /** Sets the status code. */
  code(statusCode: number): this;
  /** Sends the reply. */
  send(payload?: unknown): this;
}

/** What the plugin uses of a Fastify instance. */
export interface FastifyInstanceLike {
  /** Adds the `onRequest` hook. */
  addHook(
    name: 'onRequest',
    hook: (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<unknown>,
  ): unknown;
}

/**
 * Options of {@link fastifyRateLimit} and {@link fastifyRateLimitHook}. `Req` is the request type
 * the option functions receive (`FastifyRequest`).
 */
export interface FastifyRateLimitOptions<Req extends FastifyRequestLike = FastifyRequestLike>
  extends HttpRateLimitOptions<Req> {
  /**
   * Answers a refused request instead of the default (429, the fields, a text body): send the
   * reply in it. The fields are not set for you: they are in `result.headers`.
   * @default the default answer
   */
  onDenied?:
    | ((request: Req, reply: FastifyReplyLike, result: HttpRateLimitResult) => Awaitable<unknown>)
    | undefined;
}

/** An `onRequest` hook, as {@link fastifyRateLimitHook} returns it. */
export type FastifyRateLimitHook<Req extends FastifyRequestLike = FastifyRequestLike> = (
  request: Req,
  reply: FastifyReplyLike,
) => Promise<unknown>;

/**
 * An `onRequest` hook that rate-limits the requests it sees: give it to one route
 * (`app.get('/search', { onRequest: fastifyRateLimitHook(options) }, handler)`) or add it with
 * `addHook`. Admitted requests get the fields; refused ones are answered (429, or `onDenied`).
 * An error of an option function or a limiter goes to Fastify's error handler.
 *
 * @throws {TypeError | RangeError} naming the option, for invalid options.
 */
export function fastifyRateLimitHook<Req extends FastifyRequestLike = FastifyRequestLike>(
  options: FastifyRateLimitOptions<Req>,
): FastifyRateLimitHook<Req> {
  return hookOf(options, 'fastifyRateLimitHook()', HTTP_ADAPTER_OPTIONS);
}

function hookOf<Req extends FastifyRequestLike>(
  options: FastifyRateLimitOptions<Req>,
  factory: string,
  known: Readonly<Record<string, true>>,
): FastifyRateLimitHook<Req> {
  const guard = new HttpRateLimitGuard<Req>(options, factory, known);
  const onDenied =
    options.onDenied === undefined
      ? undefined
      : expectFunction<NonNullable<FastifyRateLimitOptions<Req>['onDenied']>>(
          'onDenied',
          options.onDenied,
        );
  return async (request, reply) => {
    const result = await withDisconnectSignal(reply.raw, guard.waits, (signal) =>
      guard.decide(nodeSource(request, request.raw, request.url), signal),
    );
    if (result.allowed) {
      for (const name in result.headers) reply.header(name, result.headers[name]!);
      return undefined;
    }
    if (onDenied !== undefined) {
      await onDenied(request, reply, result);
    } else {
      for (const name in result.headers) reply.header(name, result.headers[name]!);
      reply.code(result.status);
      reply.header('content-type', 'text/plain; charset=utf-8');
      reply.send(DENIED_BODY);
    }
    // An async hook that answered returns the reply: Fastify then runs no handler.
    return reply;
  };
}

/**
 * The Fastify plugin: `await app.register(fastifyRateLimit, options)` rate-limits every route of
 * the context it is registered in — like a plugin wrapped by fastify-plugin, its hook is not
 * encapsulated, so registered on the root it covers the whole application, and registered inside
 * a `register()` scope it covers that scope's routes. For one route, use
 * {@link fastifyRateLimitHook}. Bad options fail the registration (`app.ready()` rejects).
 */
export const fastifyRateLimit: FastifyRateLimitPlugin = Object.assign(
  function breakwaterRateLimit(
    instance: FastifyInstanceLike,
    options: FastifyRateLimitOptions,
    done: (error?: Error) => void,
  ): void {
    let hook: FastifyRateLimitHook;
    try {
      hook = hookOf(options, 'fastifyRateLimit', FASTIFY_REGISTER_OPTIONS);
    } catch (error) {
      done(error as Error);
      return;
    }
    instance.addHook('onRequest', hook);
    done();
  },
  {
    // fastify-plugin's markers: hooks added by the plugin apply to the context that registers it.
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: '@breakwater/rate-limit',
    [Symbol.for('plugin-meta')]: { name: '@breakwater/rate-limit', fastify: '5.x' },
  },
);

/** The type of {@link fastifyRateLimit}: a Fastify callback plugin. */
export type FastifyRateLimitPlugin = (
  instance: FastifyInstanceLike,
  options: FastifyRateLimitOptions,
  done: (error?: Error) => void,
) => void;
