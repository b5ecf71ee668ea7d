import { describe, expect, it } from 'vitest';
import type { BenchCase } from '../harness.js';
import {
  nodeRedisTwinName,
  nodeRedisTwinOf,
  type RedisClientLibrary,
  withNodeRedisTwin,
} from '../redis-clients.js';
import { suites } from '../suites/index.js';

describe('node-redis twin rows', () => {
  it('names a twin after its ioredis row', () => {
    expect(nodeRedisTwinName('breakwater get')).toBe('breakwater get (node-redis)');
    expect(nodeRedisTwinName('ioredis GET (raw)')).toBe('node-redis GET (raw)');
  });

  it("keeps the ioredis row as built and gives the twin the node-redis build's operation", () => {
    const fns: Record<RedisClientLibrary, () => string> = {
      ioredis: () => 'io',
      'node-redis': () => 'node',
    };
    const [ioredisRow, twin] = withNodeRedisTwin((library) => ({
      name: 'breakwater limit()',
      library: '@breakwater/rate-limit',
      fn: fns[library],
      role: 'ours',
      pairsWith: ['RateLimiterRedis.consume()'],
      targets: [{ metric: 'speedup', versus: 'RateLimiterRedis.consume()', atLeast: 2 }],
    }));
    expect(ioredisRow.name).toBe('breakwater limit()');
    expect(ioredisRow.role).toBe('ours');
    expect(ioredisRow.fn()).toBe('io');
    expect(twin.name).toBe('breakwater limit() (node-redis)');
    expect(twin.fn()).toBe('node');
    expect(twin.library).toBe('@breakwater/rate-limit');
    // A twin takes no part in the competitor pairs and, by default, has no targets.
    expect(twin.role).toBeUndefined();
    expect(twin.pairsWith).toBeUndefined();
    expect(twin.targets).toBeUndefined();
  });

  it('keeps the targets when asked, and names the redis package for an ioredis row', () => {
    const twin = nodeRedisTwinOf(
      (): BenchCase => ({
        name: 'ioredis GET (raw)',
        library: 'ioredis',
        fn: () => 1,
        targets: [{ metric: 'overhead', versus: 'local', atMost: 1.5 }],
      }),
      { keepTargets: true },
    );
    expect(twin.library).toBe('redis');
    expect(twin.targets).toEqual([{ metric: 'overhead', versus: 'local', atMost: 1.5 }]);
  });

  it("reads the twin's note from its own case each time", () => {
    const measured: Partial<Record<RedisClientLibrary, number>> = {};
    const twin = nodeRedisTwinOf((library) => ({
      name: 'fleet',
      fn: () => 1,
      get note() {
        return measured[library] === undefined ? undefined : `${measured[library]} per call`;
      },
    }));
    expect(twin.note).toBeUndefined();
    measured.ioredis = 1;
    measured['node-redis'] = 2;
    expect(twin.note).toBe('2 per call');
  });

  it('gives every registered Redis row of ioredis a node-redis twin in its suite', () => {
    // The rows that run on an ioredis client, by suite; an L1 hit never reaches the client.
    const ioredisRows: Record<string, readonly string[]> = {
      'circuit-breaker/success': ['breakwater circuitBreaker() + Redis store'],
      'circuit-breaker/failure': ['breakwater circuitBreaker() + Redis store'],
      'bulkhead/fleet-redis': ['2 × PING', 'breakwater bulkhead() + redisStore'],
      'cache/l2-hit': [
        'ioredis GET (raw)',
        'ioredis GET + JSON.parse',
        'breakwater getOrLoad',
        'breakwater get',
      ],
      'cache/miss': ['ioredis SET (raw)', 'breakwater getOrLoad'],
      'rate-limit/redis-latency': [
        'EVALSHA trivial script',
        'breakwater limit() (gcra, redisStore)',
        'RateLimiterRedis.consume()',
      ],
      'rate-limit/redis-64': [
        '64 × EVALSHA trivial script',
        'breakwater limit()',
        'breakwater limit(), reserve: { batch: 100 }',
        'RateLimiterRedis.consume()',
      ],
      'rate-limit/registry': [
        'EVALSHA trivial script',
        'replica heartbeat (fleet of 50)',
        'limit(), registry on (default)',
        'limit(), registry off (localShare: 1)',
        'limit(), limit: { perReplica }',
      ],
      'write-behind/redis-64': [
        '64 × XADD (raw)',
        '64 × write()',
        '64 × queue append() (one EVALSHA each)',
      ],
    };
    for (const [id, rows] of Object.entries(ioredisRows)) {
      const suite = suites.find((candidate) => candidate.id === id);
      expect(suite, id).toBeDefined();
      const names = [suite!.baseline, ...suite!.cases].map((benchCase) => benchCase.name);
      for (const row of rows) {
        expect(names, id).toContain(row);
        expect(names, id).toContain(nodeRedisTwinName(row));
      }
    }
  });
});
