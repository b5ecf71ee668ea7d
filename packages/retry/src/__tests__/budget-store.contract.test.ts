import { runContractSuite } from '@breakwater/testkit';
import { expect, it } from 'vitest';
import { dynamoBudgetStore } from '../dynamodb.js';
import { type BudgetSpec, memoryBudgetStore, type RetryBudgetStore } from '../index.js';
import { redisBudgetStore } from '../redis.js';

const spec = (overrides: Partial<BudgetSpec> = {}): BudgetSpec => ({
  ratio: 0,
  reserve: 0,
  windowMs: 10_000,
  slotMs: 1_000,
  ...overrides,
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

runContractSuite<RetryBudgetStore>(
  'retry budget store',
  {
    memory: () => memoryBudgetStore(),
    redis: ({ client, prefix }) => redisBudgetStore({ client, prefix }),
    dynamodb: ({ client, tableName, prefix }) => dynamoBudgetStore({ client, tableName, prefix }),
  },
  ({ makeStore }) => {
    it('grants the reserve with no traffic, then refuses', async () => {
      const store = await makeStore();
      const request = { name: 'reserve', spec: spec({ reserve: 3 }), calls: 0, withdraw: true };
      const results = [];
      for (let i = 0; i < 4; i++) results.push(await store.record(request));
      expect(results).toEqual([
        { granted: true, available: 2 },
        { granted: true, available: 1 },
        { granted: true, available: 0 },
        { granted: false, available: 0 },
      ]);
    });

    it('calls earn ratio retries each, fractions included; a deposit never withdraws', async () => {
      const store = await makeStore();
      const s = spec({ ratio: 0.25 });
      expect(await store.record({ name: 'earn', spec: s, calls: 3, withdraw: false })).toEqual({
        granted: false,
        available: 0.75,
      });
      expect(await store.record({ name: 'earn', spec: s, calls: 0, withdraw: true })).toEqual({
        granted: false,
        available: 0.75,
      });
      // Adding calls and withdrawing is one step: the new calls already count.
      expect(await store.record({ name: 'earn', spec: s, calls: 5, withdraw: true })).toEqual({
        granted: true,
        available: 1,
      });
    });

    it('keeps budgets of different names apart', async () => {
      const store = await makeStore();
      const s = spec({ reserve: 1 });
      expect((await store.record({ name: 'a', spec: s, calls: 0, withdraw: true })).granted).toBe(
        true,
      );
      expect((await store.record({ name: 'a', spec: s, calls: 0, withdraw: true })).granted).toBe(
        false,
      );
      expect((await store.record({ name: 'b', spec: s, calls: 0, withdraw: true })).granted).toBe(
        true,
      );
      expect(
        (await store.record({ name: 'a:b{c}', spec: s, calls: 0, withdraw: true })).granted,
      ).toBe(true);
    });

    it('never grants more than the budget to concurrent requests', async () => {
      const store = await makeStore();
      const request = { name: 'race', spec: spec({ reserve: 5 }), calls: 0, withdraw: true };
      const results = await Promise.all(Array.from({ length: 12 }, () => store.record(request)));
      expect(results.filter((r) => r.granted)).toHaveLength(5);
      expect(Math.min(...results.map((r) => r.available))).toBe(0);
    });

    it('forgets calls and retries once they leave the window', async () => {
      const store = await makeStore();
      const s = spec({ ratio: 1, reserve: 0, windowMs: 300, slotMs: 100 });
      expect(await store.record({ name: 'slide', spec: s, calls: 2, withdraw: true })).toEqual({
        granted: true,
        available: 1,
      });
      await sleep(450);
      expect(await store.record({ name: 'slide', spec: s, calls: 0, withdraw: true })).toEqual({
        granted: false,
        available: 0,
      });
      expect(await store.record({ name: 'slide', spec: s, calls: 1, withdraw: true })).toEqual({
        granted: true,
        available: 0,
      });
    });
  },
);
