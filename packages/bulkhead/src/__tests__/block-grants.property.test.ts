/**
 * Blocks of permits (`permitQuota`): the Redis store's Lua and the memory store's TypeScript
 * apply one admission rule. Random layouts and random sequences of block acquires, single
 * acquires, resizes and releases run on both stores in lockstep; every answer must agree, and the
 * permits held never exceed what the layout allows.
 */
import {
  closeRedisClient,
  connectRedisClient,
  describeWithRedis,
  type RedisClient,
  redisFixture,
  services,
} from '@breakwater/testkit';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Lease, memoryStore, type PermitLayout, type PermitScope } from '../index.js';
import { redisStore } from '../redis.js';

/** One step: acquire `permits` for a class, resize the n-th held lease, or release it. */
type Step =
  | { readonly op: 'acquire'; readonly cls: number; readonly permits: number }
  | { readonly op: 'resize'; readonly pick: number; readonly permits: number }
  | { readonly op: 'release'; readonly pick: number };

const layoutArb = fc
  .integer({ min: 1, max: 3 })
  .chain((classes) =>
    fc.record({
      limit: fc.integer({ min: 1, max: 10 }),
      reserved: fc.array(fc.integer({ min: 0, max: 2 }), {
        minLength: classes,
        maxLength: classes,
      }),
      max: fc.array(fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }), {
        minLength: classes,
        maxLength: classes,
      }),
    }),
  )
  .filter(({ limit, reserved }) => reserved.reduce((a, b) => a + b, 0) <= limit)
  .map(
    ({ limit, reserved, max }): PermitLayout => ({
      limit,
      reserved,
      // A class's cap is at least its reservation (the bulkhead's options require it).
      max: max.map((m, i) =>
        m === undefined ? Number.POSITIVE_INFINITY : Math.max(m, reserved[i]!),
      ),
    }),
  );

const stepArb = (classes: number): fc.Arbitrary<Step> =>
  fc.oneof(
    fc.record({
      op: fc.constant('acquire' as const),
      cls: fc.integer({ min: 0, max: classes - 1 }),
      permits: fc.integer({ min: 1, max: 6 }),
    }),
    fc.record({
      op: fc.constant('resize' as const),
      pick: fc.nat(),
      permits: fc.integer({ min: 1, max: 6 }),
    }),
    fc.record({ op: fc.constant('release' as const), pick: fc.nat() }),
  );

/** Permits held per class, by the leases granted and their sizes. */
function heldPerClass(leases: readonly { lease: Lease; permits: number }[], classes: number) {
  const held = new Array<number>(classes).fill(0);
  for (const { lease, permits } of leases) held[lease.classIndex]! += permits;
  return held;
}

describeWithRedis('block grants: Redis and memory agree', () => {
  const redis = redisFixture();
  let client: RedisClient;
  beforeAll(async () => {
    client = await connectRedisClient('ioredis', services().redisUrl);
  });
  afterAll(() => closeRedisClient(client));

  it('gives the same answers to every sequence, within the layout', async () => {
    const signal = new AbortController().signal;
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        layoutArb.chain((layout) =>
          fc.tuple(
            fc.constant(layout),
            fc.array(stepArb(layout.reserved.length), { minLength: 1, maxLength: 25 }),
          ),
        ),
        async ([layout, steps]) => {
          const classes = layout.reserved.map((_, i) => `c${i}`);
          const name = `prop${++run}`;
          const stores = [
            memoryStore(),
            redisStore({ client, prefix: redis.uniquePrefix(), subscriber: false }),
          ];
          const scopes: PermitScope[] = stores.map((store) => store.scope({ name, classes }));
          const held: { lease: Lease; permits: number }[] = [];
          let nextId = 0;
          for (const step of steps) {
            if (step.op === 'acquire') {
              const request = {
                classIndex: step.cls,
                layout,
                ttlMs: 60_000,
                leaseId: `${name}-${++nextId}`,
                refusedWaitMs: 1_000,
                permits: step.permits,
              };
              const [memory, redisAnswer] = await Promise.all(
                scopes.map((scope) => scope.acquire(request, signal)),
              );
              expect(redisAnswer!.granted).toBe(memory!.granted);
              if (memory!.granted && redisAnswer!.granted) {
                expect(redisAnswer!.lease.permits).toBe(memory!.lease.permits);
                held.push({ lease: memory!.lease, permits: memory!.lease.permits! });
              }
            } else if (held.length > 0) {
              const index = step.pick % held.length;
              const entry = held[index]!;
              if (step.op === 'release') {
                const answers = await Promise.all(
                  scopes.map((scope) => scope.release(entry.lease, signal)),
                );
                expect(answers).toEqual([true, true]);
                held.splice(index, 1);
              } else {
                const request = { layout, ttlMs: 60_000, permits: step.permits, refusedWaitMs: 1 };
                const [memory, redisAnswer] = await Promise.all(
                  scopes.map((scope) => scope.resize!(entry.lease, request, signal)),
                );
                expect(redisAnswer!.permits).toBe(memory!.permits);
                entry.permits = memory!.permits;
              }
            }
            // Never more than the layout allows: the limit, and each class's cap.
            const perClass = heldPerClass(held, classes.length);
            const shared = perClass.reduce(
              (sum, count, i) => sum + Math.max(0, count - layout.reserved[i]!),
              0,
            );
            const reservedTotal = layout.reserved.reduce((a, b) => a + b, 0);
            expect(shared).toBeLessThanOrEqual(layout.limit - reservedTotal);
            perClass.forEach((count, i) => {
              expect(count).toBeLessThanOrEqual(layout.max[i]!);
            });
          }
          await Promise.all(scopes.map((scope) => scope.close()));
          await Promise.all(stores.map((store) => store.close()));
        },
      ),
      { numRuns: 40 },
    );
  });
});
