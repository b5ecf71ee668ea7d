// The degradation suite's client dimension: which Redis client libraries it runs each Redis
// backend on, how a target or BREAKWATER_DEGRADATION_CLIENTS chooses them, and that a scenario on
// node-redis clients can fail like one on ioredis.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  DEGRADATION_SETTINGS,
  DYNAMODB_DEADLINE_MS,
  runDegradationScenario,
  settingsFor,
} from '../degradation-scenario.js';
import {
  DEFAULT_DEGRADATION_CLIENTS,
  DEGRADATION_CLIENTS_ENV,
  degradationClients,
  runDegradationSuite,
} from '../degradation-suite.js';
import type { DegradationTarget } from '../degradation-target.js';
import { type FaultyRedis, startFaultyStore } from '../faulty-store.js';
import { describeWithRedisCluster } from '../services.js';
import { buildStandIn } from './degradation-fixtures/stand-in.js';
import { standInTarget } from './degradation-fixtures/stand-in-target.js';

describe('settingsFor', () => {
  it('gives DynamoDB a longer deadline than Redis, and the target the last word', () => {
    expect(settingsFor('redis', undefined)).toEqual(DEGRADATION_SETTINGS);
    expect(settingsFor('redis-cluster', undefined)).toEqual(DEGRADATION_SETTINGS);
    expect(settingsFor('dynamodb', undefined)).toEqual({
      ...DEGRADATION_SETTINGS,
      deadlineMs: DYNAMODB_DEADLINE_MS,
    });
    expect(DYNAMODB_DEADLINE_MS).toBeGreaterThan(DEGRADATION_SETTINGS.deadlineMs);
    expect(settingsFor('dynamodb', { deadlineMs: 200, failureThreshold: 3 })).toEqual({
      ...DEGRADATION_SETTINGS,
      deadlineMs: 200,
      failureThreshold: 3,
    });
    expect(settingsFor('redis', { probeIntervalMs: 50 })).toEqual({
      ...DEGRADATION_SETTINGS,
      probeIntervalMs: 50,
    });
  });
});

describe('degradationClients', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('runs a single node on both libraries and a Cluster on ioredis by default', () => {
    vi.stubEnv(DEGRADATION_CLIENTS_ENV, '');
    expect(degradationClients('redis', undefined)).toEqual(['ioredis', 'node-redis']);
    expect(degradationClients('redis-cluster', undefined)).toEqual(['ioredis']);
    expect(DEFAULT_DEGRADATION_CLIENTS).toEqual({
      redis: ['ioredis', 'node-redis'],
      'redis-cluster': ['ioredis'],
    });
  });

  it("takes the target's choice per backend, the default for a backend it leaves out", () => {
    vi.stubEnv(DEGRADATION_CLIENTS_ENV, '');
    const chosen = { 'redis-cluster': ['ioredis'] } as const;
    expect(degradationClients('redis-cluster', chosen)).toEqual(['ioredis']);
    expect(degradationClients('redis', chosen)).toEqual(['ioredis', 'node-redis']);
  });

  it('lets the environment override both backends: all, or a list', () => {
    vi.stubEnv(DEGRADATION_CLIENTS_ENV, 'all');
    expect(degradationClients('redis-cluster', { 'redis-cluster': ['ioredis'] })).toEqual([
      'ioredis',
      'node-redis',
    ]);
    vi.stubEnv(DEGRADATION_CLIENTS_ENV, ' node-redis ');
    expect(degradationClients('redis', undefined)).toEqual(['node-redis']);
    expect(degradationClients('redis-cluster', undefined)).toEqual(['node-redis']);
  });

  it('rejects an unknown library in the environment, naming the variable and the value', () => {
    vi.stubEnv(DEGRADATION_CLIENTS_ENV, 'ioredis,node-redis5');
    expect(() => degradationClients('redis', undefined)).toThrow(
      /Expected BREAKWATER_DEGRADATION_CLIENTS to be 'all' or a comma-separated list of ioredis, node-redis, got "ioredis,node-redis5"/,
    );
  });

  it('rejects a target whose redisClients is not a map of non-empty library lists', () => {
    const bad = (redisClients: unknown) => () =>
      runDegradationSuite({
        ...standInTarget,
        redisClients: redisClients as DegradationTarget['redisClients'],
      });
    expect(bad({ redis: [] })).toThrow(
      /expected `redisClients` to map 'redis' and 'redis-cluster'/,
    );
    expect(bad({ redis: ['valkey'] })).toThrow(/got \{"redis":\["valkey"\]\}/);
    expect(bad({ dynamodb: ['ioredis'] })).toThrow(RangeError);
  });
});

describeWithRedisCluster('the degradation suite on node-redis clients', () => {
  let store: FaultyRedis<'node-redis'>;
  beforeAll(async () => {
    store = await startFaultyStore('redis', { client: 'node-redis' });
  });
  afterAll(async () => {
    await store?.stop();
  });
  afterEach(async () => {
    await store.restore();
  });

  it('builds node-redis clients and hands them to the subject, labelled as such', async () => {
    expect(store.address).toMatchObject({ backend: 'redis', client: 'node-redis' });
    const seen: string[] = [];
    const target: DegradationTarget = {
      ...standInTarget,
      build: (context) => {
        if (context.backend === 'redis') {
          seen.push(`${context.clientLibrary} ${'isOpen' in context.client}`);
        }
        return buildStandIn()(context);
      },
    };
    await runDegradationScenario({
      target,
      store,
      fault: 'refuse',
      mode: 'local',
      settings: DEGRADATION_SETTINGS,
      callsToDegrade: DEGRADATION_SETTINGS.failureThreshold,
    });
    expect(seen).toEqual(['node-redis true', 'node-redis true', 'node-redis true']);
  });

  it('catches a subject that waits on a hung store without a deadline', async () => {
    const target: DegradationTarget = {
      ...standInTarget,
      build: buildStandIn({ noDeadline: true }),
    };
    await expect(
      runDegradationScenario({
        target,
        store,
        fault: 'hang',
        mode: 'fail-open',
        settings: DEGRADATION_SETTINGS,
        callsToDegrade: DEGRADATION_SETTINGS.failureThreshold,
      }),
    ).rejects.toThrow(
      /\[redis · node-redis hang fail-open\] main: failing call 1 did not answer within 400 ms/,
    );
  });
});
