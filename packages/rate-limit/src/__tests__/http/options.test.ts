/**
 * The adapters' options: validated at construction (naming the option and the value received),
 * an unknown option warned about once (with what replaces express-rate-limit's and
 * @fastify/rate-limit's options), every known one accepted in silence; a key or cost function
 * returning nonsense is an error naming the function.
 */
import { spyOnProcessWarnings } from '@breakwater/testkit';
import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { FASTIFY_REGISTER_OPTIONS, HTTP_ADAPTER_OPTIONS } from '../../http/known-options.js';
import {
  expressRateLimit,
  fastifyRateLimit,
  fetchRateLimit,
  honoRateLimit,
  type NodeRateLimitOptions,
  nodeRateLimit,
  withRateLimit,
} from '../../http.js';
import { type RateLimiter, rateLimiter } from '../../index.js';

const limiters: RateLimiter[] = [];
afterAll(async () => {
  await Promise.all(limiters.map((limiter) => limiter.close()));
});
function limiter(): RateLimiter {
  const built = rateLimiter({ name: 'http-options', limit: 10, intervalMs: 1_000 });
  limiters.push(built);
  return built;
}

const warnings = spyOnProcessWarnings();

const FACTORIES = {
  expressRateLimit: (options: object) => expressRateLimit(options as never),
  honoRateLimit: (options: object) => honoRateLimit(options as never),
  nodeRateLimit: (options: object) => nodeRateLimit(options as never),
  fetchRateLimit: (options: object) => fetchRateLimit(options as never),
};

describe.each(Object.entries(FACTORIES))('%s', (_name, build) => {
  it.each([
    [
      { limiters: undefined },
      TypeError,
      'Expected `limiters` to be a rate limiter (from `rateLimiter()`), got undefined',
    ],
    [{ limiters: [] }, RangeError, 'Expected `limiters` to hold at least one rate limiter'],
    [{ limiters: [{ limit: 1 }] }, TypeError, 'Expected `limiters[0]` to be a rate limiter'],
    [
      { key: 'address' },
      TypeError,
      "Expected `key` to be 'ip', { header: '<name>' } or a function",
    ],
    [{ key: { header: '' } }, TypeError, 'Expected `key.header` to be a non-empty string, got ""'],
    [{ cost: 0 }, RangeError, 'Expected `cost` to be a finite number > 0, got 0'],
    [{ cost: '2' }, TypeError, 'Expected `cost` to be a finite number > 0, got "2"'],
    [{ skip: true }, TypeError, 'Expected `skip` to be a function, got true'],
    [{ headers: 'no' }, TypeError, 'Expected `headers` to be a boolean, got "no"'],
    [{ maxWaitMs: -1 }, RangeError, 'Expected `maxWaitMs` to be a finite number >= 0, got -1'],
    [
      { degradedHeader: 'bad header' },
      TypeError,
      'Expected `degradedHeader` to be a boolean or an HTTP field name, got "bad header"',
    ],
    [{ trustProxy: 'nowhere' }, RangeError, 'Expected `trustProxy` to be an IP address'],
    [{ remoteAddress: 'x' }, TypeError, 'Expected `remoteAddress` to be a function, got "x"'],
    [{ onDenied: 429 }, TypeError, 'Expected `onDenied` to be a function, got 429'],
  ])('rejects %j', (bad, type, message) => {
    const options = { limiters: limiter(), ...bad };
    expect(() => build(options)).toThrow(type);
    expect(() => build(options)).toThrow(message);
  });

  it('rejects options that are not an object', () => {
    expect(() => build(null as never)).toThrow('Expected `options` to be an object, got null');
  });

  it('accepts every known option in silence and warns once about an unknown one', () => {
    const every = Object.fromEntries(Object.keys(HTTP_ADAPTER_OPTIONS).map((k) => [k, undefined]));
    build({ ...every, limiters: limiter() });
    expect(warnings.messages()).toEqual([]);
    build({ limiters: limiter(), windowMs: 60_000 });
    build({ limiters: limiter(), windowMs: 60_000 });
    expect(warnings.messages().filter((m) => m.includes('`windowMs`'))).toHaveLength(1);
    expect(warnings.messages().join('\n')).toContain(
      'unknown option `windowMs` (ignored) — did you mean `limiters: rateLimiter({ name, limit, intervalMs })`?',
    );
  });
});

describe('function options returning nonsense', () => {
  const request = new Request('http://localhost/');

  it('a key function returning an empty string', async () => {
    const check = fetchRateLimit({ limiters: limiter(), key: () => '' });
    await expect(check(request)).rejects.toThrow(
      'Expected the `key` function to return a non-empty string, got ""',
    );
  });

  it('a cost function returning a negative number', async () => {
    const check = fetchRateLimit({ limiters: limiter(), key: () => 'k', cost: () => -1 });
    await expect(check(request)).rejects.toThrow(
      'Expected the `cost` function to return a finite number > 0, got -1',
    );
  });

  it("key 'ip' without a known address", async () => {
    const check = fetchRateLimit({ limiters: limiter() });
    await expect(check(request)).rejects.toThrow('The client address of the request is unknown');
    // `remoteAddress` supplies it.
    const found = fetchRateLimit({ limiters: limiter(), remoteAddress: () => '192.0.2.1' });
    expect((await found(request)).result.key).toBe('ip:192.0.2.1');
  });
});

describe('fastifyRateLimit', () => {
  it('warns about unknown options but not about what register() adds', async () => {
    expect(Object.keys(FASTIFY_REGISTER_OPTIONS)).toContain('prefix');
    const app = Fastify();
    await app.register(fastifyRateLimit, {
      limiters: limiter(),
      prefix: '/v1',
      timeWindow: 1,
    } as never);
    await app.ready();
    expect(warnings.messages()).toEqual([
      expect.stringContaining('fastifyRateLimit: unknown option `timeWindow` (ignored)'),
    ]);
    await app.close();
  });

  it('fails the registration on bad options', async () => {
    const app = Fastify();
    app.register(fastifyRateLimit, { limiters: limiter(), cost: -2 });
    await expect(app.ready()).rejects.toThrow('Expected `cost` to be a finite number > 0, got -2');
    await app.close();
  });
});

describe('withRateLimit', () => {
  it('rejects a handler that is not a function', () => {
    expect(() =>
      withRateLimit({ limiters: limiter() } as NodeRateLimitOptions, 'x' as never),
    ).toThrow('Expected `handler` to be a function, got "x"');
  });
});
