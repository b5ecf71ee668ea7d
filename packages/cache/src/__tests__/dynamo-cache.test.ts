/**
 * The cache over DynamoDB (dynalite). What the DynamoDB store guarantees against stampedes: the
 * lease is a conditional write, so one replica at a time holds it; the others poll it with
 * backoff (there is no bus) and take the value once it is written, or the lease once it expires.
 */
import { describeWithDynamo, dynamoFixture } from '@breakwater/testkit';
import { expect, it, vi } from 'vitest';
import { dynamoStore } from '../dynamodb.js';
import { cache } from '../index.js';
import { killable } from './helpers.js';

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
});
