import { runContractSuite } from '@breakwater/testkit';
import { expect, it } from 'vitest';
import { dynamoStore } from '../dynamodb.js';
import { memoryStore, type PermitLayout, type PermitScope, type PermitStore } from '../index.js';
import { redisStore } from '../redis.js';

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

async function take(scope: PermitScope, layout: PermitLayout, classIndex = 0, ttlMs = 10_000) {
  return scope.acquire(
    { classIndex, layout, ttlMs, leaseId: leaseId(), refusedWaitMs: 2_000 },
    signal(),
  );
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
