import { runContractSuite } from '@breakwater/testkit';
import { expect, it } from 'vitest';
import { dynamoBudgetStore } from '../dynamodb.js';
import {
  type BudgetResult,
  type BudgetScope,
  type BudgetSpec,
  memoryBudgetStore,
  type RetryBudgetStore,
} from '../index.js';
import { redisBudgetStore } from '../redis.js';

const spec = (overrides: Partial<BudgetSpec> = {}): BudgetSpec => ({
  ratio: 0,
  reserve: 0,
  windowMs: 10_000,
  slotMs: 1_000,
  ...overrides,
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The operations of one budget, awaited the same way for every store. */
function budgetOf(store: RetryBudgetStore, name: string, budgetSpec: BudgetSpec) {
  const scope: BudgetScope = store.scope({ name, spec: budgetSpec });
  return {
    scope,
    record: async (calls: number, withdraw: boolean): Promise<BudgetResult> =>
      scope.record({ calls, withdraw }),
  };
}

runContractSuite<RetryBudgetStore>(
  'retry budget store',
  {
    memory: () => memoryBudgetStore(),
    redis: ({ client, prefix }) => redisBudgetStore({ client, prefix }),
    dynamodb: ({ client, tableName, prefix }) => dynamoBudgetStore({ client, tableName, prefix }),
  },
  ({ makeStore }) => {
    it('grants the reserve with no traffic, then refuses', async () => {
      const budget = budgetOf(await makeStore(), 'reserve', spec({ reserve: 3 }));
      const results = [];
      for (let i = 0; i < 4; i++) results.push(await budget.record(0, true));
      expect(results).toEqual([
        { granted: true, available: 2 },
        { granted: true, available: 1 },
        { granted: true, available: 0 },
        { granted: false, available: 0 },
      ]);
    });

    it('calls earn ratio retries each, fractions included; a deposit never withdraws', async () => {
      const budget = budgetOf(await makeStore(), 'earn', spec({ ratio: 0.25 }));
      expect(await budget.record(3, false)).toEqual({
        granted: false,
        available: 0.75,
      });
      expect(await budget.record(0, true)).toEqual({
        granted: false,
        available: 0.75,
      });
      // Adding calls and withdrawing is one step: the new calls already count.
      expect(await budget.record(5, true)).toEqual({
        granted: true,
        available: 1,
      });
    });

    it('keeps budgets of different names apart', async () => {
      const store = await makeStore();
      const s = spec({ reserve: 1 });
      const a = budgetOf(store, 'a', s);
      expect((await a.record(0, true)).granted).toBe(true);
      expect((await a.record(0, true)).granted).toBe(false);
      expect((await budgetOf(store, 'b', s).record(0, true)).granted).toBe(true);
      expect((await budgetOf(store, 'a:b{c}', s).record(0, true)).granted).toBe(true);
    });

    it('scopes of the same name share one budget, as replicas do', async () => {
      const store = await makeStore();
      const s = spec({ reserve: 2 });
      const first = budgetOf(store, 'shared', s);
      const second = budgetOf(store, 'shared', s);
      expect((await first.record(0, true)).granted).toBe(true);
      expect(await second.record(0, true)).toEqual({ granted: true, available: 0 });
      expect((await first.record(0, true)).granted).toBe(false);
    });

    it('never grants more than the budget to concurrent requests', async () => {
      const budget = budgetOf(await makeStore(), 'race', spec({ reserve: 5 }));
      const results = await Promise.all(Array.from({ length: 12 }, () => budget.record(0, true)));
      expect(results.filter((r) => r.granted)).toHaveLength(5);
      expect(Math.min(...results.map((r) => r.available))).toBe(0);
    });

    it('forgets calls and retries once they leave the window', async () => {
      const budget = budgetOf(
        await makeStore(),
        'slide',
        spec({ ratio: 1, reserve: 0, windowMs: 300, slotMs: 100 }),
      );
      expect(await budget.record(2, true)).toEqual({
        granted: true,
        available: 1,
      });
      await sleep(450);
      expect(await budget.record(0, true)).toEqual({
        granted: false,
        available: 0,
      });
      expect(await budget.record(1, true)).toEqual({
        granted: true,
        available: 0,
      });
    });

    it('a shared store gives each scope a probe that resolves while the store answers', async () => {
      const store = await makeStore();
      const { scope } = budgetOf(store, 'probed', spec());
      if (store.inProcess === true) {
        expect(scope.probe).toBeUndefined();
        return;
      }
      expect(typeof scope.probe).toBe('function');
      await expect(
        Promise.resolve(scope.probe!(AbortSignal.timeout(5_000))),
      ).resolves.toBeDefined();
    });

    it('close() and Symbol.asyncDispose resolve, and leave the client usable', async () => {
      const store = await makeStore();
      const budget = budgetOf(store, 'closing', spec({ reserve: 2 }));
      await budget.record(0, true);
      await store.close();
      await store[Symbol.asyncDispose]();
      // The client is the user's: a store closing never closes it.
      expect((await budgetOf(store, 'closing', spec({ reserve: 2 })).record(0, true)).granted).toBe(
        true,
      );
    });
  },
);
