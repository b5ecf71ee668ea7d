import { keyBuilder } from '@breakwater/core/redis';
import { type RedisClient, runContractSuite, sendRedisCommand } from '@breakwater/testkit';
import { expect, it, vi } from 'vitest';
import { compileLimit } from '../algorithms/compile.js';
import { dynamoStore } from '../dynamodb.js';
import { rateLimiter } from '../index.js';
import { redisStore } from '../redis.js';
import type { RateLimitStore } from '../store.js';

interface BreakableStore {
  store: RateLimitStore;
  /** While true, every request to the store fails as if the connection were refused. */
  broken: { value: boolean };
  /** Requests that reached the server: Redis script keys, or DynamoDB command names and keys. */
  requests: string[];
  /** Whether the probe's key exists now (the probe must not write it). */
  probeKeyExists(): Promise<boolean>;
}

const refused = () => Promise.reject(new Error('connect ECONNREFUSED'));

/**
 * The key a request names, for {@link BreakableStore.requests}: a script's first key, another
 * command's first argument; `undefined` for a NOSCRIPT answer's EVAL, the same request's second
 * half (not counted again).
 */
function requestKey(command: string, args: readonly unknown[]): string | undefined {
  switch (command.toUpperCase()) {
    case 'EVAL':
      return undefined;
    case 'EVALSHA':
      return String(args[2]);
    default:
      return String(args[0]);
  }
}

/**
 * Wraps the commands of any client kind: ioredis sends scripts with `evalsha`/`eval` and other
 * commands with `call`; node-redis sends everything with `sendCommand` (an array of strings, last
 * argument).
 */
function breakableRedis(client: RedisClient, prefix: string): BreakableStore {
  const broken = { value: false };
  const requests: string[] = [];
  const proxy = new Proxy(client, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      const send = (args: unknown[], command: string, commandArgs: readonly unknown[]) => {
        if (broken.value) return refused();
        const key = requestKey(command, commandArgs);
        if (key !== undefined) requests.push(key);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
      if (prop === 'evalsha' || prop === 'eval') {
        return (...args: unknown[]) => send(args, prop, args);
      }
      if (prop === 'call') {
        return (...args: unknown[]) => send(args, String(args[0]), args.slice(1));
      }
      if (prop === 'sendCommand') {
        return (...args: unknown[]) => {
          const wire = args.at(-1) as unknown[];
          return send(args, String(wire[0]), wire.slice(1));
        };
      }
      return value.bind(target);
    },
  });
  const probeKey = keyBuilder({ prefix, pattern: 'rate-limit', name: 'probed' }).redisKey(
    '',
    'tat',
  );
  return {
    store: redisStore({ client: proxy, prefix }),
    broken,
    requests,
    probeKeyExists: async () =>
      Number(await sendRedisCommand(client, ['EXISTS', probeKey], probeKey)) === 1,
  };
}

runContractSuite<BreakableStore>(
  'rate-limit store probe',
  {
    redis: ({ client, prefix }) => breakableRedis(client, prefix),
    dynamodb: ({ client, tableName, prefix }) => {
      const broken = { value: false };
      const requests: string[] = [];
      const breakable = {
        send: (
          command: { constructor: { name: string }; input: { Key?: { pk?: { S?: string } } } },
          options?: unknown,
        ) => {
          if (broken.value) return refused();
          requests.push(`${command.constructor.name} ${command.input.Key?.pk?.S ?? ''}`);
          return (client.send as (c: unknown, o?: unknown) => Promise<unknown>)(command, options);
        },
      } as unknown as typeof client;
      const pk = keyBuilder({ prefix, pattern: 'rate-limit', name: 'probed' }).dynamoPk('', 'gcra');
      return {
        store: dynamoStore({ client: breakable, tableName, prefix }),
        broken,
        requests,
        probeKeyExists: async () => {
          const { GetItemCommand } = await import('@aws-sdk/client-dynamodb');
          const found = await client.send(
            new GetItemCommand({ TableName: tableName, Key: { pk: { S: pk } } }),
          );
          return found.Item !== undefined;
        },
      };
    },
  },
  ({ makeStore, backend }) => {
    it('the handle probes one of the limiter’s keys, writing nothing', async () => {
      const { store, requests, probeKeyExists } = await makeStore();
      const handle = store.scope({
        name: 'probed',
        layout: 'gcra',
        limits: [compileLimit('gcra', 10, 1000, 0)],
      });
      expect(handle.probe).toBeTypeOf('function');
      await handle.probe!(new AbortController().signal);
      expect(requests).toHaveLength(1);
      if (backend === 'dynamodb') {
        expect(requests[0]).toMatch(/^GetItemCommand .*:rate-limit:probed:gcra:$/);
      } else {
        // The policy-wide key: on a Cluster, the script ran on the node owning its slot.
        expect(requests[0]).toMatch(/:rate-limit:\{probed:\}:tat$/);
      }
      expect(await probeKeyExists()).toBe(false);
      await store.close();
    });

    it('a degraded limiter recovers through the background probe alone', async () => {
      const { store, broken, requests } = await makeStore();
      const limiter = rateLimiter({
        name: 'probed',
        limit: 10,
        intervalMs: 1000,
        burst: 9,
        store,
        denyCache: false,
        storeFailureThreshold: 2,
        storeProbeIntervalMs: 50,
      });
      expect(await limiter.limit('k')).toMatchObject({ source: 'store' });
      // The replica registry's first heartbeat is answered before the store breaks: a late answer
      // to it would count as the store answering again.
      await vi.waitFor(() => expect(limiter.replicas?.ageMs).toBeDefined());
      broken.value = true;
      expect(await limiter.limit('k')).toMatchObject({ source: 'degraded' });
      expect(limiter.storeStatus).toBe('healthy');
      expect(await limiter.limit('k')).toMatchObject({ source: 'degraded' });
      expect(limiter.storeStatus).toBe('degraded');
      const before = requests.length;
      broken.value = false;
      await vi.waitFor(() => expect(limiter.storeStatus).toBe('healthy'), { timeout: 2000 });
      // Only the probe went to the store meanwhile.
      expect(requests.length - before).toBe(1);
      expect(await limiter.limit('k')).toMatchObject({ source: 'store' });
      await limiter.close();
      await store.close();
    });
  },
  { backends: ['redis', 'redis-cluster', 'dynamodb'] },
);
