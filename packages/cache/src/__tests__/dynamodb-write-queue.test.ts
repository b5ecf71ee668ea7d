/**
 * The DynamoDB write-behind queue beyond the contract: option validation, contention between
 * several replicas' queues, transactions cancelled by conflicts, and what stays in the table.
 * (dynalite has no TransactWriteItems; see dynalite-transactions.ts for the stand-in.)
 */
import { type DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { isStoreConflictError } from '@breakwater/core/dynamodb';
import { describeWithDynamo, dynamoFixture } from '@breakwater/testkit';
import { describe, expect, it } from 'vitest';
import { dynamoWriteBehindQueue } from '../dynamodb.js';
import { isWriteBehindBacklogError } from '../index.js';
import { dynaliteWriteQueue, emulateTransactions } from './dynalite-transactions.js';

const LOTS = 1_000_000;

describe('dynamoWriteBehindQueue options', () => {
  const client = { send: async () => ({}) } as unknown as DynamoDBClient;
  it('rejects bad options, naming the option and the value', () => {
    expect(() => dynamoWriteBehindQueue(null as never)).toThrow(
      'Expected `options` to be an object, got null',
    );
    expect(() => dynamoWriteBehindQueue({ tableName: 't' } as never)).toThrow(
      'Expected `client` to be an object, got undefined',
    );
    expect(() => dynamoWriteBehindQueue({ client: {} as never, tableName: 't' })).toThrow(
      /`client` to be a DynamoDBClient/,
    );
    expect(() => dynamoWriteBehindQueue({ client, tableName: '' })).toThrow(
      'Expected `tableName` to be a non-empty string, got ""',
    );
    expect(() => dynamoWriteBehindQueue({ client, tableName: 't', prefix: 'a{b' })).toThrow(
      /`prefix`.*"a\{b"/,
    );
    expect(() =>
      dynamoWriteBehindQueue({ client, tableName: 't', maxConflictAttempts: 0 }),
    ).toThrow('Expected `maxConflictAttempts` to be an integer >= 1, got 0');
    expect(() =>
      dynamoWriteBehindQueue({ client, tableName: 't', versionRetentionMs: -1 }),
    ).toThrow('Expected `versionRetentionMs` to be a finite number > 0, got -1');
    expect(() => dynamoWriteBehindQueue({ client, tableName: 't', clock: 5 as never })).toThrow(
      'Expected `clock` to be an object, got 5',
    );
    expect(dynamoWriteBehindQueue({ client, tableName: 't' }).kind).toBe('dynamodb');
  });
});

describeWithDynamo('dynamoWriteBehindQueue on dynalite', () => {
  const dynamo = dynamoFixture();
  const open = async (prefix = dynamo.uniquePrefix()) =>
    (
      await dynaliteWriteQueue({ client: dynamo.client, tableName: dynamo.tableName, prefix })
    ).scope('profiles');

  /** Every item the queue left under `prefix`. */
  const itemsUnder = async (prefix: string) => {
    const { Items } = await dynamo.client.send(
      new ScanCommand({
        TableName: `${dynamo.tableName}-queue`,
        FilterExpression: 'begins_with(pk, :prefix)',
        ExpressionAttributeValues: { ':prefix': { S: `${prefix}:` } },
        ConsistentRead: true,
      }),
    );
    return Items ?? [];
  };

  it('three replicas appending and claiming concurrently: every entry delivered exactly once', async () => {
    const prefix = dynamo.uniquePrefix();
    const replicas = await Promise.all([open(prefix), open(prefix), open(prefix)]);
    // Hot keys (5 of them) so the version items see contention too.
    const appended = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        replicas[i % 3]!.append(`k${i % 5}`, String(i), { version: undefined, maxPending: LOTS }),
      ),
    );
    const perKey = new Map<string, number[]>();
    appended.forEach((version, i) => {
      const list = perKey.get(`k${i % 5}`) ?? [];
      list.push(version);
      perKey.set(`k${i % 5}`, list);
    });
    for (const versions of perKey.values()) expect(new Set(versions).size).toBe(versions.length);
    const delivered: string[] = [];
    for (let round = 0; round < 10 && delivered.length < 30; round++) {
      const batches = await Promise.all(replicas.map((ns, i) => ns.claim(`c${i}`, 7, 60_000)));
      for (const batch of batches) delivered.push(...batch.map((e) => e.payload));
    }
    expect(delivered).toHaveLength(30);
    expect(new Set(delivered).size).toBe(30);
    expect(await replicas[0]!.pending()).toBe(30);
  });

  it('concurrent completes and failures of the same entries count each entry once', async () => {
    const ns = await open();
    for (let i = 0; i < 10; i++)
      await ns.append(`k${i}`, String(i), { version: undefined, maxPending: LOTS });
    const claimed = await ns.claim('c1', 10, 60_000);
    await Promise.all([
      ns.complete(claimed.map((e) => e.id)),
      ns.complete(claimed.slice(0, 5).map((e) => e.id)),
      ...claimed.slice(5).map((e) => ns.fail(e, 'Error: x', 1)),
    ]);
    const dead = await ns.listDeadLetters(100);
    expect(dead.length).toBeLessThanOrEqual(5);
    expect(await ns.pending()).toBe(0);
  });

  it('retries a transaction cancelled by a conflict, and gives up with StoreConflictError', async () => {
    const ns = await open();
    const transactions = emulateTransactions(dynamo.client);
    transactions.conflictNext(3);
    const before = transactions.sent;
    await expect(
      ns.append('k', 'v', { version: undefined, maxPending: LOTS }),
    ).resolves.toBeGreaterThan(0);
    expect(transactions.sent - before).toBe(4);
    expect(await ns.pending()).toBe(1);

    transactions.conflictNext(8);
    const error = await ns
      .append('k', 'w', { version: undefined, maxPending: LOTS })
      .catch((e) => e);
    expect(isStoreConflictError(error)).toBe(true);
    expect(error).toMatchObject({ operation: 'write-behind.append', attempts: 8 });
    expect(error.message).toMatch(/gave up after 8 attempts/);
    expect(await ns.pending()).toBe(1);

    // A complete that conflicts is retried too; nothing is counted twice.
    const [entry] = await ns.claim('c1', 10, 60_000);
    transactions.conflictNext(2);
    await ns.complete([entry!.id]);
    expect(await ns.pending()).toBe(0);
  });

  it('stops its requests when their signal aborts, and probes with a GetItem of one of its items', async () => {
    const ns = await open();
    expect(ns.abortable).toBe(true);
    // Core's dynamoProbe reads a table keyed by `pk` alone; this table has a sort key too.
    await expect(ns.probe!(AbortSignal.timeout(5_000))).resolves.toBeDefined();
    const deadline = new Error('the store deadline passed');
    const aborted = AbortSignal.abort(deadline);
    await expect(ns.pending(aborted)).rejects.toThrow();
    await expect(
      ns.append('k', 'v', { version: undefined, maxPending: LOTS }, aborted),
    ).rejects.toThrow();
    expect(await ns.pending()).toBe(0);
    const queue = await dynaliteWriteQueue({
      client: dynamo.client,
      tableName: dynamo.tableName,
      prefix: dynamo.uniquePrefix(),
    });
    // The queue owns nothing: closing it changes nothing for its scopes.
    await queue.close();
    await queue[Symbol.asyncDispose]();
    await expect(
      queue.scope('profiles').append('k', 'v', { version: undefined, maxPending: LOTS }),
    ).resolves.toBeGreaterThan(0);
  });

  it('a refused append leaves nothing behind but a version it will never use', async () => {
    const ns = await open();
    await ns.append('a', '1', { version: undefined, maxPending: 1 });
    const error = await ns.append('b', '2', { version: undefined, maxPending: 1 }).catch((e) => e);
    expect(isWriteBehindBacklogError(error)).toBe(true);
    expect(error.policyName).toBe('profiles');
    expect(await ns.pending()).toBe(1);
    expect((await ns.claim('c', 10, 60_000)).map((e) => e.key)).toEqual(['a']);
  });

  it('items left behind are bounded: the counter, and version items that expire', async () => {
    const prefix = dynamo.uniquePrefix();
    const ns = await open(prefix);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 8; i++) {
        await ns.append(`key${i % 4}`, String(i), { version: undefined, maxPending: LOTS });
      }
      const claimed = await ns.claim('c1', 100, 60_000);
      await ns.complete(claimed.map((e) => e.id));
    }
    const left = await itemsUnder(prefix);
    const byPart = (part: string) =>
      left.filter((item) => item.pk?.S?.startsWith(`${prefix}:write-behind:profiles:${part}:`));
    expect(byPart('q')).toEqual([]);
    expect(byPart('n').map((item) => item.n?.N)).toEqual(['0']);
    const versions = byPart('v');
    expect(versions).toHaveLength(4); // one per key, whatever the number of writes
    const now = Date.now() / 1000;
    for (const item of versions) {
      expect(Number(item.ttl?.N)).toBeGreaterThan(now);
      expect(Number(item.ttl?.N)).toBeLessThanOrEqual(now + 86_400 + 5);
    }
    expect(left).toHaveLength(5);
  });
});
