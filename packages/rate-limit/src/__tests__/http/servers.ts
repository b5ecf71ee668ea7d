/**
 * Each framework the HTTP adapters support, served for real on a free port with one middleware
 * (its options given by the test) in front of `GET /` → `ok`. `customDeny` installs the
 * framework's `onDenied` hook answering 503 with `x-custom: 1` and the JSON `{ retryAfterMs }`.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { findFreePort } from '@breakwater/testkit';
import { getRequestListener } from '@hono/node-server';
import express4 from 'express';
import express5 from 'express5';
import Fastify from 'fastify';
import { Hono } from 'hono';
import {
  expressRateLimit,
  fastifyRateLimit,
  fetchRateLimit,
  type HttpRateLimitOptions,
  honoRateLimit,
  withRateLimit,
} from '../../http.js';

/** The options a test gives, whatever the framework (`raw` left untyped). */
export type CommonOptions = HttpRateLimitOptions<unknown>;

/** A running server. */
export interface Running {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  close(): Promise<void>;
}

/** What each framework harness does. */
export interface Framework {
  readonly name: string;
  serve(options: CommonOptions, customDeny?: boolean): Promise<Running>;
}

const CUSTOM_BODY = (retryAfterMs: number) => JSON.stringify({ retryAfterMs });

/** Starts `server` on a free port of 127.0.0.1 (retrying when the port was taken meanwhile). */
async function listen(server: Server): Promise<Running> {
  for (let attempt = 0; ; attempt++) {
    const port = await findFreePort();
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
      break;
    } catch (error) {
      if (attempt >= 5) throw error;
    }
  }
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function expressFramework(name: string, express: typeof express4): Framework {
  return {
    name,
    serve(options, customDeny) {
      const app = express();
      app.use(
        expressRateLimit<IncomingMessage>({
          ...options,
          ...(customDeny && {
            onDenied: (_req, res, _next, result) => {
              res.statusCode = 503;
              res.setHeader('x-custom', '1');
              res.end(CUSTOM_BODY(result.retryAfterMs));
            },
          }),
        }),
      );
      app.get('/', (_req, res) => {
        res.send('ok');
      });
      return listen(createServer(app));
    },
  };
}

const fastify: Framework = {
  name: 'fastify 5',
  async serve(options, customDeny) {
    const app = Fastify();
    await app.register(fastifyRateLimit, {
      ...options,
      ...(customDeny && {
        onDenied: (_request, reply, result) =>
          reply
            .code(503)
            .header('x-custom', '1')
            .send(JSON.parse(CUSTOM_BODY(result.retryAfterMs))),
      }),
    });
    app.get('/', async () => 'ok');
    for (let attempt = 0; ; attempt++) {
      try {
        await app.listen({ port: await findFreePort(), host: '127.0.0.1' });
        break;
      } catch (error) {
        if (attempt >= 5) throw error;
      }
    }
    const { port } = app.server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
  },
};

const hono: Framework = {
  name: 'hono 4',
  serve(options, customDeny) {
    const app = new Hono();
    app.use(
      honoRateLimit({
        ...options,
        ...(customDeny && {
          onDenied: (_c, result) =>
            new Response(CUSTOM_BODY(result.retryAfterMs), {
              status: 503,
              headers: { 'x-custom': '1' },
            }),
        }),
      }),
    );
    app.get('/', (c) => c.text('ok'));
    return listen(createServer(getRequestListener(app.fetch)));
  },
};

const node: Framework = {
  name: 'node:http',
  serve(options, customDeny) {
    const handler = withRateLimit(
      {
        ...options,
        ...(customDeny && {
          onDenied: (_req, res, result) => {
            res.statusCode = 503;
            res.setHeader('x-custom', '1');
            res.end(CUSTOM_BODY(result.retryAfterMs));
          },
        }),
      },
      (_req, res) => res.end('ok'),
    );
    return listen(createServer(handler));
  },
};

const fetchHandler: Framework = {
  name: 'fetch Request',
  serve(options, customDeny) {
    const check = fetchRateLimit({
      ...options,
      ...(customDeny && {
        onDenied: (_request, result) =>
          new Response(CUSTOM_BODY(result.retryAfterMs), {
            status: 503,
            headers: { 'x-custom': '1' },
          }),
      }),
    });
    const listener = getRequestListener(
      async (
        request: Request,
        env: { incoming: { socket: { remoteAddress?: string | undefined } } },
      ) => {
        const outcome = await check(request, { ip: env.incoming.socket.remoteAddress });
        if (!outcome.allowed) return outcome.response;
        return new Response('ok', { headers: outcome.headers });
      },
    );
    return listen(createServer(listener));
  },
};

/** Every framework, in the order the suite runs them. */
export const FRAMEWORKS: readonly Framework[] = [
  expressFramework('express 4', express4),
  expressFramework('express 5', express5 as unknown as typeof express4),
  fastify,
  hono,
  node,
  fetchHandler,
];
