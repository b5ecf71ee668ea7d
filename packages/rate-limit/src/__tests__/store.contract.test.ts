import { keyBuilder } from '@breakwater/core/redis';
import { type RedisClient, runContractSuite, sendRedisCommand } from '@breakwater/testkit';
import fc from 'fast-check';
import type { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { compileLimit } from '../algorithms/compile.js';
import { ALGORITHM_NAMES, ALGORITHMS } from '../algorithms/index.js';
import { dynamoStore } from '../dynamodb.js';
import { memoryStore, rateLimiter } from '../index.js';
import { redisStore } from '../redis.js';
import type { RateLimitStore, StoreHandle } from '../store.js';

interface StoreUnderTest {
  store: RateLimitStore;
  /** DynamoDB: the commands sent, by class name. */
  requests?: string[];
  /** The client the store was given: ioredis, iovalkey or node-redis, single node or Cluster. */
  redis?: RedisClient;
  prefix?: string;
}

/**
 * Intervals so long (≈ 31 years, windows aligned on multiples of 10^12 ms since the epoch) that the
 * seconds a test takes on a real server clock never change a decision, and no window boundary
 * falls inside a test run.
 */
const LONG = 1e12;

runContractSuite<StoreUnderTest>(
  'rate-limit store',
  {
    memory: () => ({ store: memoryStore() }),
    redis: ({ client, prefix }) => ({
      store: redisStore({ client, prefix }),
      redis: client,
      prefix,
    }),
    dynamodb: ({ client, tableName, prefix }) => {
      const requests: string[] = [];
      const counting = {
        send: (
          command: { constructor: { name: string }; input?: { Key?: { pk?: { S?: string } } } },
          options?: unknown,
        ) => {
          // The replica registry's heartbeats and the reads of published limits are told apart
          // from the decisions' requests.
          const pk = command.input?.Key?.pk?.S;
          const tag = pk?.endsWith(':replicas:')
            ? ' (replicas)'
            : pk?.endsWith(':limits:')
              ? ' (limits)'
              : '';
          requests.push(`${command.constructor.name}${tag}`);
          return (client.send as (c: unknown, o?: unknown) => Promise<unknown>)(command, options);
        },
      } as unknown as typeof client;
      return { store: dynamoStore({ client: counting, tableName, prefix }), prefix, requests };
    },
  },
  ({ makeStore, backend }) => {
    describe.each(ALGORITHM_NAMES)('%s', (algorithm) => {
      const capacityOf = (limit: number, burst: number) =>
        compileLimit(algorithm, limit, LONG, burst).capacity;

      it('admits the capacity of a fresh key, then denies, counting remaining down', async () => {
        const { store } = await makeStore();
        const limiter = rateLimiter({
          name: 'fresh',
          limit: 5,
          intervalMs: LONG,
          burst: 2,
          algorithm,
          store,
          denyCache: false,
        });
        const capacity = capacityOf(5, 2);
        for (let i = 1; i <= capacity; i++) {
          const decision = await limiter.limit('k');
          expect(decision).toMatchObject({
            allowed: true,
            remaining: capacity - i,
            source: 'store',
          });
        }
        const denied = await limiter.limit('k');
        expect(denied).toMatchObject({ allowed: false, remaining: 0, limit: 5, intervalMs: LONG });
        expect(denied.retryAfterMs).toBeGreaterThan(0);
        expect(denied.resetAfterMs).toBeGreaterThan(0);
      });

      it('peek changes nothing; reset forgets the key; keys and limiter names are separate', async () => {
        const { store } = await makeStore();
        const options = { limit: 3, intervalMs: LONG, algorithm, store, denyCache: false } as const;
        const a = rateLimiter({ name: 'a', ...options });
        const b = rateLimiter({ name: 'b', ...options });
        const capacity = capacityOf(3, 0);
        for (let i = 0; i < capacity; i++) await a.limit('k');
        expect(await a.peek('k')).toMatchObject({ allowed: false, remaining: 0 });
        expect(await a.peek('k')).toMatchObject({ allowed: false, remaining: 0 });
        expect(await a.peek('other')).toMatchObject({ allowed: true, remaining: capacity });
        expect(await b.peek('k')).toMatchObject({ allowed: true, remaining: capacity });
        await a.reset('k');
        expect(await a.limit('k')).toMatchObject({ allowed: true, remaining: capacity - 1 });
      });

      it('penalty uses up what is left, never past fully used; reward gives back, never past fresh', async () => {
        const { store } = await makeStore();
        const limiter = rateLimiter({
          name: 'adjust',
          limit: 5,
          intervalMs: LONG,
          burst: 6,
          algorithm,
          store,
          denyCache: false,
        });
        const capacity = capacityOf(5, 6);
        // A key nobody has used yet is penalised from a fresh state, and the penalty is kept.
        expect(await limiter.penalty('k', 2)).toMatchObject({
          allowed: true,
          remaining: capacity - 2,
          source: 'store',
        });
        expect(await limiter.limit('k')).toMatchObject({ allowed: true, remaining: capacity - 3 });
        expect(await limiter.penalty('k')).toMatchObject({ remaining: capacity - 4 });
        // Far more than is left: fully used, not in debt.
        const exhausted = await limiter.penalty('k', 1000);
        expect(exhausted).toMatchObject({ allowed: false, remaining: 0 });
        expect(exhausted.retryAfterMs).toBeGreaterThan(0);
        expect(await limiter.limit('k')).toMatchObject({ allowed: false });
        // One point back admits exactly one call.
        expect(await limiter.reward('k', 1)).toMatchObject({ allowed: true, remaining: 1 });
        expect(await limiter.limit('k')).toMatchObject({ allowed: true, remaining: 0 });
        expect(await limiter.limit('k')).toMatchObject({ allowed: false });
        // Far more than was used: back to fresh, not beyond.
        expect(await limiter.reward('k', 1000)).toMatchObject({
          allowed: true,
          remaining: capacity,
        });
        for (let i = 0; i < capacity; i++) {
          expect(await limiter.limit('k')).toMatchObject({ allowed: true });
        }
        expect(await limiter.limit('k')).toMatchObject({ allowed: false });
        await expect(limiter.penalty('k', 0)).rejects.toThrow(/`points`.*got 0/);
        await expect(limiter.reward('k', Number.NaN)).rejects.toThrow(/`points`/);
        await expect(limiter.penalty('', 1)).rejects.toThrow(TypeError);
      });

      it('penalties and consumes of one key are atomic under concurrency, on every limit', async () => {
        const { store } = await makeStore();
        // Two limits: the Redis store runs its general script (one GCRA limit has its own). Each
        // admits 6 (resp. 40) at once, whatever the algorithm.
        const bucket = algorithm === 'gcra' || algorithm === 'token-bucket';
        const limiter = rateLimiter({
          name: 'adjust-race',
          limits: [
            { limit: 6, intervalMs: LONG, burst: bucket ? 5 : 0 },
            { limit: 40, intervalMs: 2 * LONG, burst: bucket ? 39 : 0 },
          ],
          algorithm,
          store,
          denyCache: false,
        });
        const capacity = 6;
        const penalties = Array.from({ length: capacity - 1 }, () => limiter.penalty('k', 1));
        const decisions = await Promise.all([...penalties, limiter.limit('k'), limiter.limit('k')]);
        // capacity − 1 penalties and 2 consumes race for `capacity`: exactly one consume fits,
        // whatever the order (a lost update would admit both, or leave one unit over).
        const admitted = decisions.slice(capacity - 1).filter((d) => d.allowed).length;
        expect(admitted).toBe(1);
        expect(await limiter.peek('k')).toMatchObject({ allowed: false, remaining: 0 });
        // One reward of 3 leaves exactly 3 (the first limit binds; the second has plenty).
        expect(await limiter.reward('k', 3)).toMatchObject({ allowed: true, remaining: 3 });
      });

      it('blockDurationMs keeps a key denied after it exceeds the limit, fleet-wide, until reset', async () => {
        const { store } = await makeStore();
        const options = {
          name: 'block',
          limit: 2,
          intervalMs: 200,
          burst: algorithm === 'gcra' || algorithm === 'token-bucket' ? 1 : 0,
          algorithm,
          store,
          blockDurationMs: 60_000,
        } as const;
        // The deny cache stays on: the call past the limit must still reach the store.
        const limiter = rateLimiter(options);
        expect(await limiter.limit('k')).toMatchObject({ allowed: true });
        // Until the first denial (a window boundary on a slow store may admit a few more).
        let denied = await limiter.limit('k');
        for (let i = 0; i < 10 && denied.allowed; i++) denied = await limiter.limit('k');
        expect(denied).toMatchObject({ allowed: false, remaining: 0 });
        // The rest of the block, not the algorithm's own wait (at most one interval).
        expect(denied.retryAfterMs).toBeGreaterThan(50_000);
        expect(denied.retryAfterMs).toBeLessThanOrEqual(60_000);
        // Long after the limits have refilled, the key is still blocked, on every replica.
        await new Promise((resolve) => setTimeout(resolve, 500));
        const replica = rateLimiter(options);
        const later = await replica.limit('k');
        expect(later).toMatchObject({ allowed: false, remaining: 0, source: 'store' });
        expect(later.retryAfterMs).toBeGreaterThan(50_000);
        // Denials while blocked do not extend the block.
        expect(later.retryAfterMs).toBeLessThanOrEqual(denied.retryAfterMs);
        expect(await replica.peek('k')).toMatchObject({ allowed: false, remaining: 0 });
        expect(await replica.penalty('k', 1)).toMatchObject({ allowed: false });
        expect(await replica.reward('k', 5)).toMatchObject({ allowed: false });
        // Other keys are not blocked; reset lifts the block.
        expect(await replica.limit('other')).toMatchObject({ allowed: true });
        await replica.reset('k');
        expect(await replica.limit('k')).toMatchObject({ allowed: true, source: 'store' });
        await limiter.close();
        await replica.close();
      });

      it('setLimits() decides under the new limits from the next call, on this replica only', async () => {
        const { store } = await makeStore();
        const bucket = algorithm === 'gcra' || algorithm === 'token-bucket';
        const options = {
          name: 'set-limits',
          limit: 2,
          intervalMs: LONG,
          burst: bucket ? 1 : 0,
          algorithm,
          store,
          denyCache: false,
        } as const;
        const limiter = rateLimiter(options);
        const other = rateLimiter(options);
        expect(await limiter.limit('k')).toMatchObject({ allowed: true });
        expect(await limiter.limit('k')).toMatchObject({ allowed: true });
        expect(await limiter.limit('k')).toMatchObject({ allowed: false, limit: 2 });
        // Five at once under the new limits, whatever the algorithm.
        limiter.setLimits({ limit: 5, intervalMs: LONG, burst: bucket ? 4 : 0 });
        expect(limiter.limits).toEqual([
          { limit: 5, intervalMs: LONG, burst: bucket ? 4 : 0, algorithm },
        ]);
        const after = await limiter.limit('k');
        expect(after.limit).toBe(5);
        if (backend === 'memory') {
          // The memory store keeps state per limits: the keys start afresh.
          expect(after).toMatchObject({ allowed: true, remaining: 4 });
        } else if (!bucket) {
          // A window's count carries over as it is: 2 used of 5. (A bucket's state says what is
          // left, or when the key is idle again: an empty bucket stays empty at first.)
          expect(after).toMatchObject({ allowed: true, remaining: 2 });
        }
        // Another replica keeps its limits until it is told.
        expect(await other.limit('k')).toMatchObject({ allowed: false, limit: 2 });
        // Bad limits throw, naming the option, and leave the limits in force.
        expect(() => limiter.setLimits({ limit: 0, intervalMs: LONG })).toThrow(
          'Expected `limit` to be a finite number > 0, got 0',
        );
        expect(() => limiter.setLimits([{ limit: 1, intervalMs: -1 }])).toThrow(
          'Expected `limits[0].intervalMs` to be a finite number > 0, got -1',
        );
        expect(limiter.limits[0]!.limit).toBe(5);
      });

      it('several limits: all consume or none', async () => {
        const { store } = await makeStore();
        // Limit A admits 4 at once, limit B (twice the interval) admits 2.
        const bucket = algorithm === 'gcra' || algorithm === 'token-bucket';
        const limitA = compileLimit(algorithm, 4, LONG, bucket ? 3 : 0);
        const limitB = compileLimit(algorithm, 2, 2 * LONG, bucket ? 1 : 0);
        const impl = ALGORITHMS[algorithm];
        const handle = store.scope({ name: 'multi', layout: algorithm, limits: [limitA, limitB] });
        const first = await handle.consume('k', 2, 2, Date.now(), undefined);
        expect(first).toMatchObject({ allowed: true, granted: 2 });
        expect(impl.remaining(first.state, 0, first.now, limitA)).toBe(2);
        expect(impl.remaining(first.state, impl.stateSize, first.now, limitB)).toBe(0);
        const denied = await handle.consume('k', 1, 1, Date.now(), undefined);
        expect(denied).toMatchObject({ allowed: false, granted: 0 });
        // B refused, so A gave nothing either.
        expect(impl.remaining(denied.state, 0, denied.now, limitA)).toBe(2);
        const decision = rateLimiter({
          name: 'multi',
          limits: [
            { limit: 4, intervalMs: LONG, burst: limitA.burst },
            { limit: 2, intervalMs: 2 * LONG, burst: limitB.burst },
          ],
          algorithm,
          store,
          denyCache: false,
        });
        expect(await decision.limit('k')).toMatchObject({
          allowed: false,
          limit: 2,
          intervalMs: 2 * LONG,
        });
      });

      it("admits at most the bound on the store's own clock, for random bursts (property)", async () => {
        const { store } = await makeStore();
        let run = 0;
        await fc.assert(
          fc.asyncProperty(
            fc.integer({ min: 1, max: 8 }),
            fc.integer({ min: 0, max: 4 }),
            fc.array(
              fc.record({
                pause: fc.integer({ min: 0, max: 6 }),
                cost: fc.integer({ min: 1, max: 3 }),
                burst: fc.integer({ min: 1, max: 6 }),
              }),
              { minLength: 3, maxLength: 12 },
            ),
            async (limit, burst, steps) => {
              const intervalMs = 40;
              const lim = compileLimit(algorithm, limit, intervalMs, burst);
              const handle = store.scope({
                name: `prop-${run++}`,
                layout: algorithm,
                limits: [lim],
              });
              const events: [number, number][] = [];
              for (const step of steps) {
                if (step.pause > 0) await new Promise((resolve) => setTimeout(resolve, step.pause));
                const cost = Math.min(step.cost, lim.capacity);
                const results = await Promise.all(
                  Array.from({ length: step.burst }, () =>
                    handle.consume('k', cost, cost, Date.now(), undefined),
                  ),
                );
                for (const r of results) if (r.allowed) events.push([r.now, cost]);
              }
              events.sort((a, b) => a[0] - b[0]);
              const bound =
                algorithm === 'gcra' || algorithm === 'token-bucket'
                  ? limit + burst
                  : 2 * (limit + burst);
              for (let i = 0; i < events.length; i++) {
                let sum = 0;
                for (
                  let j = i;
                  j < events.length && events[j]![0] < events[i]![0] + intervalMs;
                  j++
                )
                  sum += events[j]![1];
                expect(sum).toBeLessThanOrEqual(bound);
              }
            },
          ),
          { numRuns: 12 },
        );
      });

      it('returns refunded permits', async () => {
        const { store } = await makeStore();
        const lim = compileLimit(algorithm, 5, LONG, 4);
        const handle: StoreHandle = store.scope({
          name: 'refund',
          layout: algorithm,
          limits: [lim],
        });
        const taken = await handle.consume('k', lim.capacity, lim.capacity, Date.now(), undefined);
        expect(taken).toMatchObject({ allowed: true, granted: lim.capacity });
        await handle.refund('k', 2, taken.now, Date.now(), undefined);
        expect(await handle.peek('k', 2, Date.now(), undefined)).toMatchObject({
          allowed: true,
          granted: 0,
        });
        expect(await handle.peek('k', 3, Date.now(), undefined)).toMatchObject({ allowed: false });
      });

      it('settles for minCost when the full cost does not fit', async () => {
        const { store } = await makeStore();
        const lim = compileLimit(algorithm, 5, LONG, 4);
        const handle = store.scope({ name: 'min', layout: algorithm, limits: [lim] });
        await handle.consume('k', lim.capacity - 2, lim.capacity - 2, Date.now(), undefined);
        expect(await handle.consume('k', 5, 1, Date.now(), undefined)).toMatchObject({
          allowed: true,
          granted: 1,
        });
        expect(await handle.consume('k', 5, 2, Date.now(), undefined)).toMatchObject({
          allowed: false,
          granted: 0,
        });
      });
    });

    it('mixes algorithms across limits: a GCRA rate and a fixed-window quota, consumed together', async () => {
      const { store } = await makeStore();
      const limiter = rateLimiter({
        name: 'mixed',
        algorithm: 'gcra',
        limits: [
          { limit: 5, intervalMs: LONG, burst: 4 },
          { limit: 3, intervalMs: 2 * LONG, algorithm: 'fixed-window' },
        ],
        store,
        denyCache: false,
      });
      expect(limiter.limits.map((l) => l.algorithm)).toEqual(['gcra', 'fixed-window']);
      expect(await limiter.limit('k', { cost: 2 })).toMatchObject({
        allowed: true,
        limit: 3,
        remaining: 1,
      });
      expect(await limiter.limit('k')).toMatchObject({ allowed: true, limit: 3, remaining: 0 });
      expect(await limiter.limit('k')).toMatchObject({
        allowed: false,
        limit: 3,
        intervalMs: 2 * LONG,
      });
      // The GCRA rate gave 3 of its 5 and nothing to the refused call.
      const limits = [
        compileLimit('gcra', 5, LONG, 4),
        compileLimit('fixed-window', 3, 2 * LONG, 0),
      ];
      const handle = store.scope({ name: 'mixed', layout: 'gcra+fixed-window', limits });
      const peeked = await handle.peek('k', 1, Date.now(), undefined);
      expect(peeked.allowed).toBe(false);
      expect(ALGORITHMS.gcra.remaining(peeked.state, 0, peeked.now, limits[0]!)).toBe(2);
      expect(ALGORITHMS['fixed-window'].remaining(peeked.state, 1, peeked.now, limits[1]!)).toBe(0);
      await expect(limiter.limit('k', { cost: 4 })).rejects.toThrow('at most 3');
    });

    it('decides concurrent calls atomically: exactly the capacity passes', async () => {
      const { store } = await makeStore();
      const limiters = [0, 1, 2].map(() =>
        rateLimiter({
          name: 'race',
          limit: 10,
          intervalMs: LONG,
          burst: 9,
          store,
          denyCache: false,
          storeDeadlineMs: 20_000,
          onStoreError: 'fail-closed',
        }),
      );
      const decisions = await Promise.all(
        Array.from({ length: 60 }, (_, i) => limiters[i % 3]!.limit('k')),
      );
      expect(decisions.filter((d) => d.source !== 'store')).toEqual([]);
      expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
    });

    it('hashes keys over 256 bytes without mixing them up', async () => {
      const { store } = await makeStore();
      const limiter = rateLimiter({
        name: 'long',
        limit: 1,
        intervalMs: LONG,
        store,
        denyCache: false,
      });
      const long = 'x'.repeat(300);
      expect((await limiter.limit(`${long}a`)).allowed).toBe(true);
      expect((await limiter.limit(`${long}b`)).allowed).toBe(true);
      expect((await limiter.limit(`${long}a`)).allowed).toBe(false);
      expect((await limiter.limit('{tag}:with:colons')).allowed).toBe(true);
    });

    it('close() of the limiter and the store completes and leaves your client open', async () => {
      const { store, redis } = await makeStore();
      const limiter = rateLimiter({
        name: 'closing',
        limit: 1,
        intervalMs: LONG,
        store,
        denyCache: false,
      });
      expect((await limiter.limit('k')).allowed).toBe(true);
      await limiter[Symbol.asyncDispose]();
      await store.close();
      await store[Symbol.asyncDispose]();
      if (redis !== undefined) expect(await sendRedisCommand(redis, ['PING'])).toBe('PONG');
      if (backend === 'memory') {
        // The memory store's state is all it holds: closing it lets that go.
        expect((await limiter.limit('k')).allowed).toBe(true);
      }
    });

    if (backend === 'dynamodb') {
      it('costs one conditional UpdateItem per decision in the steady state, and none to deny', async () => {
        const { store, requests } = await makeStore();
        const limiter = rateLimiter({
          name: 'cost',
          limit: 5,
          intervalMs: LONG,
          burst: 4,
          store,
          denyCache: false,
        });
        for (let i = 0; i < 5; i++) expect((await limiter.limit('k')).allowed).toBe(true);
        const sent = requests!;
        const decisions = () => sent.filter((name) => !name.endsWith(')'));
        expect(decisions()).toEqual(Array.from({ length: 5 }, () => 'UpdateItemCommand'));
        // …plus, once per `limitsSyncIntervalMs` after construction, a GetItem of the published
        // limits (none within this test, on a quick machine).
        for (const name of sent.filter((each) => each.endsWith('(limits)'))) {
          expect(name).toBe('GetItemCommand (limits)');
        }
        expect((await limiter.limit('k')).allowed).toBe(false);
        expect(decisions()).toHaveLength(5);
        // …plus the replica registry: one heartbeat at construction, then one per renew interval.
        expect(sent.filter((name) => name.endsWith('(replicas)'))).toEqual([
          'UpdateItemCommand (replicas)',
        ]);
        await limiter.close();
        expect(sent.at(-1)).toBe('UpdateItemCommand (replicas)');
      });
    }

    if (backend === 'redis' || backend === 'redis-cluster') {
      it('decides with the server clock and expires idle keys', async () => {
        const { store, redis, prefix } = await makeStore();
        // A client clock a day off changes nothing: Redis decides with TIME.
        const skewed = { now: () => Date.now() + 86_400_000, sleep: () => Promise.resolve() };
        const limiter = rateLimiter({
          name: 'ttl',
          limit: 10,
          intervalMs: 1000,
          burst: 4,
          store,
          clock: skewed,
          denyCache: false,
        });
        for (let i = 0; i < 5; i++) expect((await limiter.limit('k')).allowed).toBe(true);
        expect((await limiter.limit('k')).allowed).toBe(false);
        // One GCRA limit: the TAT in a plain string key (see `redis-gcra-script.ts`).
        const key = keyBuilder({ prefix, pattern: 'rate-limit', name: 'ttl' }).redisKey('k', 'tat');
        expect(await sendRedisCommand(redis, ['TYPE', key], key)).toBe('string');
        const ttl = Number(await sendRedisCommand(redis, ['PTTL', key], key));
        expect(ttl).toBeGreaterThan(400);
        expect(ttl).toBeLessThanOrEqual(500);
      });

      it('survives a flushed script cache (NOSCRIPT → EVAL)', async () => {
        const { store, redis, prefix } = await makeStore();
        const limiter = rateLimiter({ name: 'noscript', limit: 10, intervalMs: LONG, store });
        expect((await limiter.limit('k')).allowed).toBe(true);
        const keys = keyBuilder({ prefix, pattern: 'rate-limit', name: 'noscript' });
        if (typeof redis.nodes === 'function') {
          const masters = (redis as Cluster).nodes('master');
          await Promise.all(masters.map((node) => node.script('FLUSH')));
        } else {
          // On a node-redis Cluster, the masters of both keys' slots (one call each); elsewhere
          // the one server.
          for (const key of ['k', 'k2']) {
            const redisKey = keys.redisKey(key, 'tat');
            await sendRedisCommand(redis, ['SCRIPT', 'FLUSH'], redisKey);
          }
        }
        expect((await limiter.limit('k2')).allowed).toBe(true);
      });
    }
  },
);
