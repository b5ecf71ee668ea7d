import { type DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { type Backend, runContractSuite } from '../contract.js';
import { type RedisClient, sendRedisCommand } from '../redis-clients.js';
import { services } from '../services.js';

/** The trivial store of the sample contract: named counters. */
interface CounterStore {
  increment(name: string, by?: number): Promise<number>;
  get(name: string): Promise<number>;
  close(): Promise<void>;
  readonly closed: boolean;
}

function closable(ops: Omit<CounterStore, 'close' | 'closed'>): CounterStore {
  let closed = false;
  return {
    ...ops,
    async close() {
      closed = true;
    },
    get closed() {
      return closed;
    },
  };
}

function memoryCounters(): CounterStore {
  const counters = new Map<string, number>();
  return closable({
    async increment(name, by = 1) {
      const next = (counters.get(name) ?? 0) + by;
      counters.set(name, next);
      return next;
    },
    async get(name) {
      return counters.get(name) ?? 0;
    },
  });
}

/** Works on every client kind the suite runs (ioredis, iovalkey, node-redis). */
function redisCounters(client: RedisClient, prefix: string): CounterStore {
  const key = (name: string) => `${prefix}:counter:{${name}}`;
  return closable({
    increment: async (name, by = 1) =>
      Number(await sendRedisCommand(client, ['INCRBY', key(name), String(by)], key(name))),
    async get(name) {
      return Number((await sendRedisCommand(client, ['GET', key(name)], key(name))) ?? 0);
    },
  });
}

function dynamoCounters(client: DynamoDBClient, tableName: string, prefix: string): CounterStore {
  const pk = (name: string) => ({ pk: { S: `${prefix}:counter:${name}` } });
  return closable({
    async increment(name, by = 1) {
      const { Attributes } = await client.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: pk(name),
          UpdateExpression: 'ADD #n :by',
          ExpressionAttributeNames: { '#n': 'n' },
          ExpressionAttributeValues: { ':by': { N: String(by) } },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      return Number(Attributes?.n?.N);
    },
    async get(name) {
      const { Item } = await client.send(
        new GetItemCommand({ TableName: tableName, Key: pk(name), ConsistentRead: true }),
      );
      return Number(Item?.n?.N ?? 0);
    },
  });
}

const ran = new Set<Backend>();

runContractSuite<CounterStore>(
  'counter store contract',
  {
    memory: () => memoryCounters(),
    redis: ({ client, prefix }) => redisCounters(client, prefix),
    dynamodb: ({ client, tableName, prefix }) => dynamoCounters(client, tableName, prefix),
  },
  ({ makeStore, backend }) => {
    it('starts every counter at zero', async () => {
      ran.add(backend);
      const store = await makeStore();
      expect(await store.get('requests')).toBe(0);
    });

    it('increments atomically under concurrency', async () => {
      const store = await makeStore();
      const values = await Promise.all(
        Array.from({ length: 25 }, () => store.increment('requests')),
      );
      expect([...values].sort((a, b) => a - b)).toEqual(
        Array.from({ length: 25 }, (_, i) => i + 1),
      );
      expect(await store.get('requests')).toBe(25);
    });

    it('gives every store a fresh prefix', async () => {
      const first = await makeStore();
      const second = await makeStore();
      await first.increment('shared-name', 5);
      expect(await second.get('shared-name')).toBe(0);
    });

    let previous: CounterStore | undefined;
    it('closes the stores of a test after it (setup)', async () => {
      previous = await makeStore();
      expect(previous.closed).toBe(false);
    });
    it('closes the stores of a test after it (check)', () => {
      expect(previous?.closed).toBe(true);
    });
  },
);

describe('runContractSuite', () => {
  it('rejects a requested backend without a factory', () => {
    expect(() =>
      runContractSuite('broken', { memory: () => 1 }, () => {}, {
        backends: ['memory', 'dynamodb'],
      }),
    ).toThrow(/no store factory for backend\(s\) dynamodb/);
  });
});

afterAll(() => {
  const available = services();
  const expected: Backend[] = ['memory'];
  if (available.redis) expected.push('redis');
  if (available.redisServerBinary) expected.push('redis-cluster');
  if (available.dynamodb) expected.push('dynamodb');
  expect([...ran].sort()).toEqual(expected.sort());
});
