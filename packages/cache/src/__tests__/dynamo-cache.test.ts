/**
 * The cache over DynamoDB (dynalite). What the DynamoDB store guarantees against stampedes: the
 * lease is a conditional write, so one replica at a time holds it; the others poll it with
 * backoff (there is no bus) and take the value once it is written, or the lease once it expires.
 */
import { type DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { isStoreConflictError } from '@breakwater/core';
import { describeWithDynamo, dynamoFixture, fakeClock } from '@breakwater/testkit';
import { expect, it, vi } from 'vitest';
import { dynamoStore, MAX_CAS_ATTEMPTS } from '../dynamodb.js';
import { cache } from '../index.js';
import { killable } from './helpers.js';

/** Whether `command` is the conditional write of core's `conditionalUpdate` (a set or delete). */
function isCompareAndSet(command: unknown): boolean {
  return (
    command instanceof UpdateItemCommand &&
    (command.input.UpdateExpression ?? '').includes('#version')
  );
}

/** `client`, with `before` run ahead of every compare-and-set write it sends. */
function interfering(client: DynamoDBClient, before: () => Promise<unknown>): DynamoDBClient {
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property !== 'send') return Reflect.get(target, property, receiver);
      return async (command: unknown, options?: unknown) => {
        if (isCompareAndSet(command)) await before();
        return (target.send as (c: unknown, o?: unknown) => Promise<unknown>)(command, options);
      };
    },
  });
}

describeWithDynamo('cache over DynamoDB', () => {
  const dynamo = dynamoFixture();

  const replicas = (count: number, options: Partial<Parameters<typeof cache>[0]> = {}) => {
    const prefix = dynamo.uniquePrefix();
    return Array.from({ length: count }, () =>
      cache({
        name: 'profiles',
        store: dynamoStore({ client: dynamo.newClient(), tableName: dynamo.tableName, prefix }),
        ttlMs: 60_000,
        storeDeadlineMs: 2_000,
        ...options,
      }),
    );
  };

  it('4 replicas × 250 concurrent misses → exactly one loader call', async () => {
    const caches = replicas(4);
    const loader = vi.fn(async () => {
      await new Promise((resolve) => setTimeout(resolve, 100));
      return { name: 'Ada', since: new Date(0) };
    });
    const calls = caches.flatMap((c) =>
      Array.from({ length: 250 }, () => c.getOrLoad('user:1', loader)),
    );
    const results = await Promise.all(calls);
    expect(loader).toHaveBeenCalledTimes(1);
    expect(results.every((r) => r.since instanceof Date && r.name === 'Ada')).toBe(true);
  });

  it('another replica loads once the lease of a dead holder expires', async () => {
    const prefix = dynamo.uniquePrefix();
    const makeStore = () =>
      dynamoStore({ client: dynamo.newClient(), tableName: dynamo.tableName, prefix });
    const holder = killable(makeStore());
    const options = {
      name: 'profiles',
      ttlMs: 60_000,
      lease: { ttlMs: 300 },
      storeDeadlineMs: 60_000,
    };
    const a = cache({ ...options, store: holder.store });
    const b = cache({ ...options, store: makeStore() });
    const holding = vi.fn(() => new Promise<string>(() => {}));
    void a.getOrLoad('k', holding);
    await vi.waitFor(() => expect(holding).toHaveBeenCalled());
    holder.kill(); // the holder dies mid-load: no renewal, no release
    const started = Date.now();
    expect(await b.getOrLoad('k', async () => 'from-b')).toBe('from-b');
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  });

  it('serves L2 hits and tag invalidations across replicas', async () => {
    const [a, b] = replicas(2, { l1: false }) as [
      ReturnType<typeof cache>,
      ReturnType<typeof cache>,
    ];
    await a.set('k', { v: 1n }, { tags: ['team:1'] });
    expect(await b.get('k')).toEqual({ v: 1n });
    await a.invalidateTags(['team:1']);
    expect(await b.get('k')).toBeUndefined();
    await b.set('k', 'again', { tags: ['team:1'] });
    expect(await a.get('k')).toBe('again');
    await a.delete('k');
    expect(await b.get('k')).toBeUndefined();
  });

  it("does not release a lease granted to another holder between a write's read and its write", async () => {
    const prefix = dynamo.uniquePrefix();
    // One clock for both replicas, so that A's lease expires exactly when the test says.
    const clock = fakeClock(Date.now());
    const storeOn = (client: DynamoDBClient) =>
      dynamoStore({ client, tableName: dynamo.tableName, prefix, clock }).scope('profiles');
    const other = storeOn(dynamo.newClient());
    let interfere = false;
    const writer = storeOn(
      interfering(dynamo.newClient(), async () => {
        if (!interfere) return;
        interfere = false;
        // A's write has read the item, its lease still live. Now the lease expires, and B takes it.
        await clock.advance(300);
        expect(await other.acquireLease('k', 'b', 60_000, 0)).toEqual({ status: 'acquired' });
      }),
    );
    expect(await writer.acquireLease('k', 'a', 200, 0)).toEqual({ status: 'acquired' });
    interfere = true;
    // A's load writes, releasing its lease with the write: the write's first attempt was computed
    // from the item with A's lease; it must be retried on the fresh item, where the lease is B's,
    // and leave that alone — and write nothing, A having lost its lease.
    const written = await writer.set('k', {
      record: 'loaded by a',
      ttlMs: undefined,
      expectVersion: 0,
      leaseToken: 'a',
      origin: 'a',
    });
    expect(written.written).toBe(false);
    expect(interfere).toBe(false);
    expect(await other.extendLease('k', 'b', 60_000)).toBe(true);
  });

  it('gives up a contended write with StoreConflictError, which does not degrade the store', async () => {
    const prefix = dynamo.uniquePrefix();
    const rival = dynamoStore({ client: dynamo.newClient(), tableName: dynamo.tableName, prefix });
    const rivalScope = rival.scope('profiles');
    let rivalWrites = 0;
    // Before each of our conditional writes another replica writes the key: every attempt loses.
    const store = dynamoStore({
      client: interfering(dynamo.newClient(), async () => {
        rivalWrites++;
        await rivalScope.set('k', {
          record: `rival ${rivalWrites}`,
          ttlMs: undefined,
          origin: 'r',
        });
      }),
      tableName: dynamo.tableName,
      prefix,
    });
    const c = cache({
      name: 'profiles',
      store,
      l1: false,
      onStoreError: 'fail-closed',
      storeDeadlineMs: 60_000,
      storeFailureThreshold: 1,
    });
    const error = await c.set('k', 'mine').catch((e: unknown) => e);
    expect(isStoreConflictError(error), String(error)).toBe(true);
    expect((error as { attempts: number }).attempts).toBe(MAX_CAS_ATTEMPTS);
    // One failure would degrade this cache (storeFailureThreshold 1); a conflict is no failure.
    expect(c.storeStatus).toBe('healthy');
    await c.close();
  });
});
