/**
 * Limits per route: Fastify's plugin covers the context it is registered in (and only that), its
 * hook one route; Express and Hono middleware on one route leaves the others alone.
 */

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { findFreePort } from '@breakwater/testkit';
import { getRequestListener } from '@hono/node-server';
import express5, { type Request as ExpressRequest } from 'express5';
import Fastify, { type FastifyInstance } from 'fastify';
import { type Context, Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import {
  expressRateLimit,
  fastifyRateLimit,
  fastifyRateLimitHook,
  honoRateLimit,
} from '../../http.js';
import { type RateLimiter, rateLimiter } from '../../index.js';

const closers: (() => Promise<void>)[] = [];
const limiters: RateLimiter[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
  await Promise.all(limiters.splice(0).map((limiter) => limiter.close()));
});

function onePerMinute(name: string): RateLimiter {
  const built = rateLimiter({ name, limit: 1, intervalMs: 60_000 });
  limiters.push(built);
  return built;
}

async function statuses(url: string, path: string, times: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < times; i++) {
    const response = await fetch(`${url}${path}`);
    await response.arrayBuffer();
    out.push(response.status);
  }
  return out;
}

async function listenFastify(app: FastifyInstance): Promise<string> {
  await app.listen({ port: await findFreePort(), host: '127.0.0.1' });
  closers.push(() => app.close());
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

async function listenNode(server: Server): Promise<string> {
  const port = await findFreePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('fastify', () => {
  it('the plugin covers the routes of the scope it is registered in, not its siblings', async () => {
    const app = Fastify();
    await app.register(async (scope) => {
      await scope.register(fastifyRateLimit, { limiters: onePerMinute('scoped') });
      scope.get('/limited', async () => 'limited');
    });
    app.get('/free', async () => 'free');
    const url = await listenFastify(app);
    expect(await statuses(url, '/limited', 2)).toEqual([200, 429]);
    expect(await statuses(url, '/free', 3)).toEqual([200, 200, 200]);
  });

  it('registered on the root, the plugin covers every route (its hook is not encapsulated)', async () => {
    const app = Fastify();
    await app.register(fastifyRateLimit, { limiters: onePerMinute('root') });
    await app.register(async (scope) => {
      scope.get('/nested', async () => 'nested');
    });
    const url = await listenFastify(app);
    expect(await statuses(url, '/nested', 2)).toEqual([200, 429]);
  });

  it('the hook limits the one route it is given to', async () => {
    const app = Fastify();
    const hook = fastifyRateLimitHook({ limiters: onePerMinute('route') });
    app.get('/search', { onRequest: hook }, async () => 'results');
    app.get('/home', async () => 'home');
    const url = await listenFastify(app);
    expect(await statuses(url, '/search', 2)).toEqual([200, 429]);
    expect(await statuses(url, '/home', 2)).toEqual([200, 200]);
  });
});

describe('express and hono', () => {
  it('express: middleware on one route leaves the others alone', async () => {
    const app = express5();
    // `raw` typed as Express's own request.
    const perPath = expressRateLimit<ExpressRequest>({
      limiters: onePerMinute('express-route'),
      key: (request) => `path:${request.raw.path}`,
    });
    app.get('/search', perPath, (_req, res) => {
      res.send('results');
    });
    app.get('/home', (_req, res) => {
      res.send('home');
    });
    const url = await listenNode(createServer(app));
    expect(await statuses(url, '/search', 2)).toEqual([200, 429]);
    expect(await statuses(url, '/home', 2)).toEqual([200, 200]);
  });

  it('hono: middleware on one route leaves the others alone', async () => {
    const app = new Hono();
    // `raw` typed as Hono's own context.
    const perPath = honoRateLimit<Context>({
      limiters: onePerMinute('hono-route'),
      key: (request) => `path:${request.raw.req.path}`,
    });
    app.get('/search', perPath, (c) => c.text('results'));
    app.get('/home', (c) => c.text('home'));
    const url = await listenNode(createServer(getRequestListener(app.fetch)));
    expect(await statuses(url, '/search', 2)).toEqual([200, 429]);
    expect(await statuses(url, '/home', 2)).toEqual([200, 200]);
  });

  it('hono: a handler that returns its own Response still gets the fields', async () => {
    const app = new Hono();
    const roomy = rateLimiter({
      name: 'hono-raw',
      limit: 10,
      intervalMs: 60_000,
      algorithm: 'fixed-window',
    });
    limiters.push(roomy);
    app.use(honoRateLimit({ limiters: roomy }));
    app.get('/raw', () => new Response('raw', { headers: { 'x-own': '1' } }));
    app.get('/moved', () => Response.redirect('http://example.com/', 302));
    const url = await listenNode(createServer(getRequestListener(app.fetch)));
    const response = await fetch(`${url}/raw`);
    expect(await response.text()).toBe('raw');
    expect(response.headers.get('x-own')).toBe('1');
    expect(response.headers.get('ratelimit')).toMatch(/^"hono-raw";r=\d+;t=\d+$/);
    // A response whose headers are immutable (as `fetch()` and `Response.redirect()` make them).
    const moved = await fetch(`${url}/moved`, { redirect: 'manual' });
    expect(moved.status).toBe(302);
    expect(moved.headers.get('location')).toBe('http://example.com/');
    expect(moved.headers.get('ratelimit')).toMatch(/^"hono-raw";r=\d+;t=\d+$/);
  });
});
