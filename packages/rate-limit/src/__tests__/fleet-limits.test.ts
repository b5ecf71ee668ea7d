// Fleet-wide setLimits(): limits published through the store by one replica are adopted by every
// replica of the limiter within one sync interval — two limiter instances ("replicas"), each with
// its own client, on a real Redis and a real DynamoDB (dynalite), and on one memory store.
import {
  describeWithDynamo,
  describeWithRedis,
  dynamoFixture,
  redisFixture,
} from '@breakwater/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { dynamoStore } from '../dynamodb.js';
import { memoryStore, type RateLimiter, type RateLimitStore, rateLimiter } from '../index.js';
import { redisStore } from '../redis.js';

/** The replicas' `limitsSyncIntervalMs`. */
const SYNC_MS = 200;
/** Room for a loaded 2-core machine on top of one interval. */
const SLACK_MS = 300;
const HOUR = 3_600_000;

const open: RateLimiter[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((limiter) => limiter.close()));
});

function replica(name: string, store: RateLimitStore): RateLimiter {
  const limiter = rateLimiter({
    name,
    store,
    limit: 2,
    intervalMs: HOUR,
    algorithm: 'fixed-window',
    limitsSyncIntervalMs: SYNC_MS,
    denyCache: false,
  });
  open.push(limiter);
  return limiter;
}

/** Polls `check` every 10 ms until it holds; returns the milliseconds it took. */
async function within(ms: number, check: () => boolean): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return Date.now() - started;
}

async function admitted(limiter: RateLimiter, key: string, tries: number): Promise<number> {
  let count = 0;
  for (let i = 0; i < tries; i++) if ((await limiter.limit(key)).allowed) count++;
  return count;
}

/** The properties every store shows; `stores()` gives two stores sharing state (two replicas). */
function fleetSuite(stores: () => [RateLimitStore, RateLimitStore]): void {
  it('setLimits(…, { fleet: true }) on one replica is adopted by the other within one interval', async () => {
    const [storeA, storeB] = stores();
    const a = replica('fleet', storeA);
    const b = replica('fleet', storeB);
    // Let both make their first read (nothing published yet).
    await new Promise((resolve) => setTimeout(resolve, SYNC_MS + 50));
    await a.setLimits({ limit: 5, intervalMs: HOUR, algorithm: 'fixed-window' }, { fleet: true });
    // In force on the publisher at once.
    expect(a.limits).toEqual([{ limit: 5, intervalMs: HOUR, burst: 0, algorithm: 'fixed-window' }]);
    const took = await within(SYNC_MS + SLACK_MS, () => b.limits[0]!.limit === 5);
    expect(took).toBeLessThanOrEqual(SYNC_MS + SLACK_MS);
    // Both decide under the new limits, on the shared state of the key.
    expect(await admitted(a, 'k', 3)).toBe(3);
    expect(await admitted(b, 'k', 5)).toBe(2);

    // The other way round, and a replica started later adopts the newest version at once.
    await b.setLimits([{ limit: 7, intervalMs: HOUR, algorithm: 'fixed-window' }], { fleet: true });
    await within(SYNC_MS + SLACK_MS, () => a.limits[0]!.limit === 7);
    const [storeC] = stores();
    const c = replica('fleet', storeC);
    expect(c.limits[0]!.limit).toBe(2);
    await within(SYNC_MS + SLACK_MS, () => c.limits[0]!.limit === 7);
    // Another limiter name publishes and reads its own record.
    const other = replica('other', storeC);
    await new Promise((resolve) => setTimeout(resolve, SYNC_MS + 50));
    expect(other.limits[0]!.limit).toBe(2);
  });

  it('writeLimits() takes the next version atomically; readLimits() returns the newest', async () => {
    const [storeA, storeB] = stores();
    expect(await storeA.readLimits!('versions', undefined)).toBeUndefined();
    const versions = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        (i % 2 === 0 ? storeA : storeB).writeLimits!('versions', `[${i}]`, undefined),
      ),
    );
    expect([...versions].sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6]);
    const newest = await storeB.readLimits!('versions', undefined);
    expect(newest?.version).toBe(6);
    // The record holds the limits written with version 6, never another writer's.
    expect(newest?.limits).toBe(`[${versions.indexOf(6)}]`);
  });

  it('a replica adopts a higher version only, and close() stops its reads', async () => {
    const [storeA, storeB] = stores();
    const a = replica('versions-only', storeA);
    await storeB.writeLimits!(
      'versions-only',
      JSON.stringify([{ limit: 9, intervalMs: HOUR, burst: 0, algorithm: 'fixed-window' }]),
      undefined,
    );
    await within(SYNC_MS + SLACK_MS, () => a.limits[0]!.limit === 9);
    // A local change stays until a newer version is published.
    a.setLimits({ limit: 3, intervalMs: HOUR, algorithm: 'fixed-window' });
    await new Promise((resolve) => setTimeout(resolve, SYNC_MS + SLACK_MS));
    expect(a.limits[0]!.limit).toBe(3);
    await a.close();
    await storeB.writeLimits!(
      'versions-only',
      JSON.stringify([{ limit: 11, intervalMs: HOUR, burst: 0, algorithm: 'fixed-window' }]),
      undefined,
    );
    await new Promise((resolve) => setTimeout(resolve, SYNC_MS + SLACK_MS));
    expect(a.limits[0]!.limit).toBe(3);
  });
}

describe('fleet-wide limits [memory]', () => {
  const store = memoryStore();
  fleetSuite(() => [store, store]);
});

describeWithRedis('fleet-wide limits [redis]', () => {
  const fixture = redisFixture();
  let prefix: string | undefined;
  afterEach(() => {
    prefix = undefined;
  });
  fleetSuite(() => {
    prefix ??= fixture.uniquePrefix();
    return [
      redisStore({ client: fixture.client, prefix }),
      redisStore({ client: fixture.newClient(), prefix }),
    ];
  });
});

describeWithDynamo('fleet-wide limits [dynamodb]', () => {
  const fixture = dynamoFixture();
  let prefix: string | undefined;
  afterEach(() => {
    prefix = undefined;
  });
  fleetSuite(() => {
    prefix ??= fixture.uniquePrefix();
    const { tableName } = fixture;
    return [
      dynamoStore({ client: fixture.client, tableName, prefix }),
      dynamoStore({ client: fixture.newClient(), tableName, prefix }),
    ];
  });
});
