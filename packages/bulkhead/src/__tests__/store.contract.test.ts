import { runContractSuite } from '@breakwater/testkit';
import { expect, it } from 'vitest';
import { dynamoStore } from '../dynamodb.js';
import { memoryStore, type PermitLayout, type PermitScope, type PermitStore } from '../index.js';
import { redisStore } from '../redis.js';
import { until } from './helpers.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let nextId = 0;
const leaseId = () => `lease-${process.pid}-${++nextId}`;
/** A fresh signal per store call, as the bulkhead passes (the SDK adds a listener to it). */
const signal = () => new AbortController().signal;

const single = (limit: number): PermitLayout => ({
  limit,
  reserved: [0],
  max: [Number.POSITIVE_INFINITY],
});

/** A scope of the store closed after the test (the suite closes stores with close(), not scopes). */
function openScope(store: PermitStore, classes: readonly string[] = ['default']): PermitScope {
  return store.scope({ name: 'db', classes });
}

async function take(
  scope: PermitScope,
  layout: PermitLayout,
  classIndex = 0,
  ttlMs = 10_000,
  permits?: number,
) {
  return scope.acquire(
    { classIndex, layout, ttlMs, leaseId: leaseId(), refusedWaitMs: 2_000, permits },
    signal(),
  );
}

/** A block of up to `permits` permits (`permitQuota`); throws unless granted. */
async function takeBlock(
  scope: PermitScope,
  layout: PermitLayout,
  permits: number,
  classIndex = 0,
) {
  const result = await take(scope, layout, classIndex, 10_000, permits);
  if (!result.granted) throw new Error('expected a block');
  return result.lease;
}

runContractSuite<PermitStore>(
  'permit store',
  {
    memory: () => memoryStore(),
    redis: ({ client, prefix }) => redisStore({ client, prefix }),
    dynamodb: ({ client, tableName, prefix }) => dynamoStore({ client, tableName, prefix }),
  },
  ({ makeStore, backend }) => {
    it('grants up to the limit, then refuses with a retry hint; fencing tokens only grow', async () => {
      const scope = openScope(await makeStore());
      const tokens: number[] = [];
      for (let i = 0; i < 3; i++) {
        const result = await take(scope, single(3));
        if (!result.granted) throw new Error('expected a grant');
        tokens.push(result.lease.fencingToken);
      }
      expect([...tokens].sort((a, b) => a - b)).toEqual(tokens);
      expect(new Set(tokens).size).toBe(3);
      const refused = await take(scope, single(3));
      expect(refused.granted).toBe(false);
      if (refused.granted) return;
      expect(refused.retryAfterMs).toBeGreaterThan(0);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(10_000);
      await scope.close();
    });

    it('never grants more than the limit to concurrent acquires', async () => {
      const scope = openScope(await makeStore());
      const results = await Promise.all(Array.from({ length: 20 }, () => take(scope, single(5))));
      expect(results.filter((r) => r.granted)).toHaveLength(5);
      await scope.close();
    });

    it('applies the class rule: reserved slots stay free, shared slots and max are respected', async () => {
      const scope = openScope(await makeStore(), ['critical', 'background']);
      const layout: PermitLayout = {
        limit: 4,
        reserved: [2, 0],
        max: [Number.POSITIVE_INFINITY, 3],
      };
      const background = await Promise.all(Array.from({ length: 5 }, () => take(scope, layout, 1)));
      expect(background.filter((r) => r.granted)).toHaveLength(2);
      const critical = await Promise.all(Array.from({ length: 3 }, () => take(scope, layout, 0)));
      expect(critical.filter((r) => r.granted)).toHaveLength(2);
      await scope.close();
    });

    it('frees a permit on release, once', async () => {
      const scope = openScope(await makeStore());
      const first = await take(scope, single(1));
      if (!first.granted) throw new Error('expected a grant');
      expect((await take(scope, single(1))).granted).toBe(false);
      expect(await scope.release(first.lease, signal())).toBe(true);
      expect(await scope.release(first.lease, signal())).toBe(false);
      const again = await take(scope, single(1));
      expect(again.granted).toBe(true);
      if (again.granted) expect(again.lease.fencingToken).toBeGreaterThan(first.lease.fencingToken);
      await scope.close();
    });

    it('keeps a renewed lease, and frees an expired one without any release', async () => {
      const scope = openScope(await makeStore());
      const held = await take(scope, single(1), 0, 300);
      if (!held.granted) throw new Error('expected a grant');
      await sleep(200);
      expect(await scope.renew(held.lease, 300, signal())).toBe(true);
      await sleep(200);
      // 400 ms after the grant, alive thanks to the renewal.
      expect((await take(scope, single(1))).granted).toBe(false);
      await sleep(250);
      expect(await scope.renew(held.lease, 300, signal())).toBe(false);
      expect((await take(scope, single(1))).granted).toBe(true);
      await scope.close();
    });

    it('wakes a waiter when a permit is released, and times out otherwise', async () => {
      const scope = openScope(await makeStore());
      const held = await take(scope, single(1));
      if (!held.granted) throw new Error('expected a grant');
      // A Redis scope wakes its waiters once its subscription is active (they may have missed a
      // release before it was): let that pass. Then a wait without a release lasts its timeout.
      let started: number;
      let before: number;
      do {
        before = scope.wakeups;
        started = Date.now();
        await scope.waitForRelease(50, undefined, before);
      } while (scope.wakeups !== before);
      expect(Date.now() - started).toBeGreaterThanOrEqual(45);
      const waiting = scope.waitForRelease(5_000, undefined);
      const releasedAt = Date.now();
      await scope.release(held.lease, signal());
      await waiting;
      expect(Date.now() - releasedAt).toBeLessThan(1_000);
      // A release heard after a reading of `wakeups` ends the next wait at once.
      const seen = scope.wakeups;
      const again = await take(scope, single(1));
      if (!again.granted) throw new Error('expected a grant');
      await scope.release(again.lease, signal());
      const quick = Date.now();
      await scope.waitForRelease(5_000, undefined, seen);
      expect(Date.now() - quick).toBeLessThan(100);
      const controller = new AbortController();
      const aborted = scope.waitForRelease(5_000, controller.signal);
      controller.abort(new Error('stop'));
      await expect(aborted).rejects.toThrow('stop');
      await scope.close();
    });

    it('answers the health probe while the store is up (the in-process store needs none)', async () => {
      const scope = openScope(await makeStore());
      if (backend === 'memory') {
        expect(scope.probe).toBeUndefined();
        return;
      }
      expect(typeof scope.probe).toBe('function');
      await scope.probe!(signal());
      await scope.close();
    });

    // Blocks of permits (`permitQuota`): memory and Redis; DynamoDB does not grant them.
    if (backend !== 'dynamodb') {
      it('grants a block of as many of the asked permits as are free, counted by the limit', async () => {
        const store = await makeStore();
        expect(store.grantsBlocks).toBe(true);
        const scope = openScope(store);
        const one = await take(scope, single(5));
        if (!one.granted) throw new Error('expected a grant');
        const block = await takeBlock(scope, single(5), 3);
        expect(block.permits).toBe(3);
        expect(block.fencingToken).toBeGreaterThan(one.lease.fencingToken);
        // One permit is left: the next block counts one, then nothing is left at all.
        expect((await takeBlock(scope, single(5), 3)).permits).toBe(1);
        expect((await take(scope, single(5))).granted).toBe(false);
        expect((await take(scope, single(5), 0, 10_000, 2)).granted).toBe(false);
        // Releasing the block frees its three permits.
        expect(await scope.release(block, signal())).toBe(true);
        expect((await takeBlock(scope, single(5), 4)).permits).toBe(3);
        await scope.close();
      });

      it('grants blocks by the class rule: reserved slots stay free, max is respected', async () => {
        const scope = openScope(await makeStore(), ['critical', 'background']);
        const layout: PermitLayout = { limit: 4, reserved: [2, 0], max: [4, 1] };
        expect((await takeBlock(scope, layout, 4, 1)).permits).toBe(1);
        expect((await takeBlock(scope, layout, 4, 0)).permits).toBe(3);
        await scope.close();
      });

      it('resizes a block within the limit, renews it, and answers 0 once it is gone', async () => {
        const scope = openScope(await makeStore());
        const layout = single(5);
        const block = await takeBlock(scope, layout, 2);
        const resize = (permits: number, ttlMs = 10_000) =>
          scope.resize!(block, { layout, ttlMs, permits, refusedWaitMs: 2_000 }, signal());
        await expect(resize(4)).resolves.toEqual({ permits: 4, contended: false });
        expect((await take(scope, layout)).granted).toBe(true);
        // Full: a grow is cut short, and marks the fleet as contended.
        await expect(resize(5)).resolves.toEqual({ permits: 4, contended: true });
        // Shrinking gives permits back at once.
        await expect(resize(1)).resolves.toMatchObject({ permits: 1 });
        expect((await takeBlock(scope, layout, 3)).permits).toBe(3);
        // A resize renews the lease: alive past its first TTL.
        await resize(1, 300);
        await sleep(200);
        await expect(resize(1, 300)).resolves.toMatchObject({ permits: 1 });
        await sleep(200);
        expect((await take(scope, layout)).granted).toBe(false);
        await sleep(250);
        await expect(resize(1)).resolves.toEqual({ permits: 0, contended: false });
        expect((await take(scope, layout)).granted).toBe(true);
        expect(await scope.release(block, signal())).toBe(false);
        await scope.close();
      });

      it('tells its listeners once when the fleet becomes contended', async () => {
        const scope = openScope(await makeStore());
        const heard: number[] = [];
        const stop = scope.onContention!(() => heard.push(Date.now()));
        // A Redis scope hears it on its subscription: let that land first.
        await sleep(100);
        await takeBlock(scope, single(2), 2);
        expect((await take(scope, single(2))).granted).toBe(false);
        expect((await take(scope, single(2))).granted).toBe(false);
        await until(() => heard.length > 0, 1_000);
        await sleep(50);
        expect(heard).toHaveLength(1);
        stop();
        await scope.close();
      });
    } else {
      it('grants no blocks', async () => {
        expect((await makeStore()).grantsBlocks).toBeUndefined();
      });
    }

    it('closes the store at once, and twice', async () => {
      const store = await makeStore();
      const scope = openScope(store);
      await scope.close();
      const started = Date.now();
      await store.close();
      await store[Symbol.asyncDispose]();
      expect(Date.now() - started).toBeLessThan(100);
    });
  },
);
