/**
 * The HTTP adapters on the real frameworks: each framework (Express 4 and 5, Fastify 5, Hono 4 on
 * @hono/node-server, node:http, a Fetch handler) is served on a free port and driven with real
 * requests (`fetch`). Every scenario runs unchanged on every framework.
 */
import { findFreePort, spyOnProcessWarnings } from '@breakwater/testkit';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { type RateLimiter, type RateLimiterOptions, rateLimiter } from '../../index.js';
import { redisStore } from '../../redis.js';
import { type CommonOptions, FRAMEWORKS, type Running } from './servers.js';

const warnings = spyOnProcessWarnings();
const running: Running[] = [];
const limiters: RateLimiter[] = [];
const cleanups: (() => void)[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((server) => server.close()));
  await Promise.all(limiters.splice(0).map((limiter) => limiter.close()));
  for (const cleanup of cleanups.splice(0)) cleanup();
});

let names = 0;
function limiter(options: Omit<RateLimiterOptions, 'name'> & { name?: string }): RateLimiter {
  const built = rateLimiter({ name: `http-${++names}`, ...options } as RateLimiterOptions);
  limiters.push(built);
  return built;
}

/** One request per limit per minute, no burst: the second request of a key is refused. */
const onePerMinute = () => limiter({ limit: 1, intervalMs: 60_000 });

describe.each(FRAMEWORKS)('$name', (framework) => {
  async function serve(options: CommonOptions, customDeny = false): Promise<string> {
    const server = await framework.serve(options, customDeny);
    running.push(server);
    return server.url;
  }

  async function get(url: string, headers: Record<string, string> = {}): Promise<Response> {
    const response = await fetch(`${url}/`, { headers });
    await response.arrayBuffer();
    return response;
  }

  it('admits with the RateLimit fields, then refuses with 429, the fields and Retry-After', async () => {
    const api = limiter({ name: 'api', limit: 2, intervalMs: 60_000, burst: 1 });
    const url = await serve({ limiters: api });
    const first = await fetch(`${url}/`);
    expect(first.status).toBe(200);
    expect(await first.text()).toBe('ok');
    expect(first.headers.get('ratelimit-policy')).toMatch(/^"api";q=2;w=60$/);
    expect(first.headers.get('ratelimit')).toMatch(/^"api";r=\d+;t=\d+$/);
    expect(first.headers.get('retry-after')).toBeNull();
    expect((await get(url)).status).toBe(200);
    const refused = await fetch(`${url}/`);
    expect(refused.status).toBe(429);
    expect(await refused.text()).toBe('Too Many Requests');
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(30);
    expect(refused.headers.get('ratelimit')).toBe(`"api";r=0;t=${retryAfter}`);
    expect(refused.headers.get('ratelimit-policy')).toBe('"api";q=2;w=60');
  });

  it('answers refusals with the onDenied hook', async () => {
    const url = await serve({ limiters: onePerMinute() }, true);
    expect((await get(url)).status).toBe(200);
    const refused = await fetch(`${url}/`);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('x-custom')).toBe('1');
    const body = (await refused.json()) as { retryAfterMs: number };
    expect(body.retryAfterMs).toBeGreaterThan(0);
  });

  it('headers: false leaves admitted responses alone; refusals still carry the fields', async () => {
    const url = await serve({ limiters: onePerMinute(), headers: false });
    const admitted = await get(url);
    expect(admitted.status).toBe(200);
    expect(admitted.headers.get('ratelimit')).toBeNull();
    expect(admitted.headers.get('ratelimit-policy')).toBeNull();
    const refused = await get(url);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).not.toBeNull();
  });

  it('keys by a header: each value has its own allowance', async () => {
    const url = await serve({ limiters: onePerMinute(), key: { header: 'X-Api-Key' } });
    expect((await get(url, { 'x-api-key': 'alice' })).status).toBe(200);
    expect((await get(url, { 'x-api-key': 'bob' })).status).toBe(200);
    expect((await get(url, { 'x-api-key': 'alice' })).status).toBe(429);
    // Without the header, the client address is the key (a fresh one here).
    expect((await get(url)).status).toBe(200);
    expect((await get(url)).status).toBe(429);
  });

  it('keys by a function of the request', async () => {
    const url = await serve({
      limiters: onePerMinute(),
      key: (request) => `tenant:${request.header('x-tenant') ?? 'none'}:${request.method}`,
    });
    expect((await get(url, { 'x-tenant': 'a' })).status).toBe(200);
    expect((await get(url, { 'x-tenant': 'b' })).status).toBe(200);
    expect((await get(url, { 'x-tenant': 'a' })).status).toBe(429);
  });

  it('keys by the peer address and ignores a spoofed X-Forwarded-For when no proxy is trusted', async () => {
    const seen: (string | undefined)[] = [];
    const url = await serve({
      limiters: onePerMinute(),
      skip: (request) => {
        seen.push(request.ip);
        return false;
      },
    });
    expect((await get(url, { 'x-forwarded-for': '203.0.113.1' })).status).toBe(200);
    expect((await get(url, { 'x-forwarded-for': '203.0.113.2' })).status).toBe(429);
    expect(seen).toEqual(['127.0.0.1', '127.0.0.1']);
  });

  it('trusts X-Forwarded-For from a trusted proxy (a list of ranges, or a hop count)', async () => {
    for (const trustProxy of ['loopback', ['10.0.0.0/8', '127.0.0.1'], 1] as const) {
      const url = await serve({ limiters: onePerMinute(), trustProxy });
      expect((await get(url, { 'x-forwarded-for': '203.0.113.1' })).status).toBe(200);
      expect((await get(url, { 'x-forwarded-for': '203.0.113.2' })).status).toBe(200);
      // The client's own claim to the left of what the proxy appended does not change its key.
      const spoofed = { 'x-forwarded-for': '198.51.100.7, 203.0.113.1' };
      expect((await get(url, spoofed)).status, String(trustProxy)).toBe(429);
    }
  });

  it('charges `cost` per request, a number or a function', async () => {
    const pool = limiter({ limit: 5, intervalMs: 60_000, algorithm: 'fixed-window' });
    const url = await serve({
      limiters: pool,
      cost: (request) => (request.header('x-heavy') === '1' ? 3 : 1),
    });
    expect((await get(url, { 'x-heavy': '1' })).status).toBe(200);
    expect((await get(url, { 'x-heavy': '1' })).status).toBe(429);
    expect((await get(url)).status).toBe(200);
    expect((await get(url)).status).toBe(200);
    expect((await get(url)).status).toBe(429);
    const fixed = await serve({
      limiters: limiter({ limit: 4, intervalMs: 60_000, algorithm: 'fixed-window' }),
      cost: 2,
    });
    expect((await get(fixed)).status).toBe(200);
    expect((await get(fixed)).status).toBe(200);
    expect((await get(fixed)).status).toBe(429);
  });

  it('skips the requests `skip` picks: unlimited and without fields', async () => {
    const url = await serve({
      limiters: onePerMinute(),
      skip: (request) => request.header('x-internal') === 'yes',
    });
    for (let i = 0; i < 3; i++) {
      const skipped = await get(url, { 'x-internal': 'yes' });
      expect(skipped.status).toBe(200);
      expect(skipped.headers.get('ratelimit')).toBeNull();
    }
    expect((await get(url)).status).toBe(200);
    expect((await get(url)).status).toBe(429);
  });

  it('with two limiters, both must admit and the fields describe the most restrictive', async () => {
    const roomy = limiter({
      name: 'roomy',
      limit: 100,
      intervalMs: 60_000,
      algorithm: 'fixed-window',
    });
    const tight = limiter({
      name: 'tight',
      limit: 2,
      intervalMs: 60_000,
      algorithm: 'fixed-window',
    });
    const url = await serve({ limiters: [roomy, tight] });
    const first = await get(url);
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit-policy')).toBe('"roomy";q=100;w=60, "tight";q=2;w=60');
    expect(first.headers.get('ratelimit')).toMatch(/^"tight";r=\d+;t=\d+$/);
    expect((await get(url)).status).toBe(200);
    const refused = await get(url);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('ratelimit')).toMatch(/^"tight";r=0;t=\d+$/);
    // The first limiter admitted all three; the second refused the third.
    expect((await roomy.peek('ip:127.0.0.1')).remaining).toBe(97);
    // The first refusal stops the asking: a limiter after it spends nothing.
    const first1 = limiter({
      name: 'first',
      limit: 1,
      intervalMs: 60_000,
      algorithm: 'fixed-window',
    });
    const after = limiter({
      name: 'after',
      limit: 100,
      intervalMs: 60_000,
      algorithm: 'fixed-window',
    });
    const ordered = await serve({ limiters: [first1, after] });
    expect((await get(ordered)).status).toBe(200);
    const stopped = await get(ordered);
    expect(stopped.status).toBe(429);
    expect(stopped.headers.get('ratelimit-policy')).toBe('"first";q=1;w=60');
    expect((await after.peek('ip:127.0.0.1')).remaining).toBe(99);
  });

  it('maxWaitMs: waits for the limiter instead of refusing, within the bound', async () => {
    const paced = limiter({ limit: 1, intervalMs: 400 });
    const url = await serve({ limiters: paced, maxWaitMs: 5_000 });
    expect((await get(url)).status).toBe(200);
    const started = performance.now();
    const waited = await get(url);
    expect(waited.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    // A wait that cannot be made within the bound is refused at once.
    const slow = limiter({ limit: 1, intervalMs: 60_000 });
    const bounded = await serve({ limiters: slow, maxWaitMs: 200 });
    expect((await get(bounded)).status).toBe(200);
    expect((await get(bounded)).status).toBe(429);
  });

  it('maxWaitMs: a client that disconnects while waiting leaves the line without spending', async () => {
    const paced = limiter({ limit: 1, intervalMs: 1_000 });
    const url = await serve({ limiters: paced, maxWaitMs: 5_000 });
    expect((await get(url)).status).toBe(200);
    const gaveUp = fetch(`${url}/`, { signal: AbortSignal.timeout(100) });
    await expect(gaveUp).rejects.toThrow();
    // Had the wait gone on, it would have spent the permit due one second after the first request.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect((await paced.peek('ip:127.0.0.1')).remaining).toBe(1);
  });

  it('says the store is degraded in a field only when asked', async () => {
    const port = await findFreePort();
    const client = new Redis({
      host: '127.0.0.1',
      port,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    client.on('error', () => {});
    cleanups.push(() => client.disconnect());
    const refused = () =>
      limiter({
        name: 'refused',
        limit: 1,
        intervalMs: 60_000,
        store: redisStore({ client }),
        onStoreError: 'fail-open',
        storeDeadlineMs: 200,
      });
    const quiet = await serve({ limiters: refused() });
    const plain = await get(quiet);
    expect(plain.status).toBe(200);
    expect(plain.headers.get('breakwater-ratelimit-degraded')).toBeNull();
    expect(plain.headers.get('ratelimit')).not.toBeNull();
    const told = await serve({ limiters: [onePerMinute(), refused()], degradedHeader: true });
    const degraded = await get(told);
    expect(degraded.status).toBe(200);
    expect(degraded.headers.get('breakwater-ratelimit-degraded')).toBe('"refused"');
    const named = await serve({ limiters: refused(), degradedHeader: 'X-Limits-Degraded' });
    expect((await get(named)).headers.get('x-limits-degraded')).toBe('"refused"');
    // A healthy limiter sets no such field, even when asked.
    const healthy = await serve({ limiters: onePerMinute(), degradedHeader: true });
    expect((await get(healthy)).headers.get('breakwater-ratelimit-degraded')).toBeNull();
  });

  it('hands an error of an option function to the framework (500)', async () => {
    const url = await serve({
      limiters: onePerMinute(),
      key: () => {
        throw new Error('no key today');
      },
    });
    const failed = await get(url);
    expect(failed.status).toBe(500);
    // The node:http wrapper answers the 500 itself, and reports the error as a process warning.
    if (framework.name === 'node:http') {
      expect(warnings.messages()).toEqual(['Error: no key today']);
    }
  });
});
