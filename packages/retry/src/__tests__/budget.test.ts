import {
  ATTR_STORE_OPERATION,
  ATTR_STORE_OUTCOME,
  isStoreError,
  isStoreTimeoutError,
  type StoreStatusChange,
} from '@breakwater/core';
import { fakeClock, installOtel } from '@breakwater/testkit';
import { describe, expect, it } from 'vitest';
import { dynamoBudgetStore } from '../dynamodb.js';
import {
  ATTR_OUTCOME,
  type BudgetRequest,
  type BudgetResult,
  type BudgetScope,
  constant,
  type GiveUpEvent,
  isRetryBudgetExhaustedError,
  METRIC_ATTEMPTS,
  METRIC_BUDGET_AVAILABLE,
  METRIC_STORE_DURATION,
  METRIC_STORE_ERRORS,
  memoryBudgetStore,
  type RetryBudgetStore,
  retry,
  retryBudget,
} from '../index.js';
import { redisBudgetStore } from '../redis.js';

const down = () => {
  throw new Error('dependency down');
};

const closed = (): Promise<void> => Promise.resolve();

/** A store whose every budget runs `record` (and `probe`, when given). */
function storeOf(
  kind: string,
  record: BudgetScope['record'],
  probe?: BudgetScope['probe'],
): RetryBudgetStore {
  return {
    kind,
    scope: () => ({ record, probe }),
    close: closed,
    [Symbol.asyncDispose]: closed,
  };
}

/** A memory store that counts the operations it receives. */
function countingStore(clock = fakeClock()) {
  const inner = memoryBudgetStore({ clock });
  const requests: BudgetRequest[] = [];
  const store: RetryBudgetStore = {
    kind: 'memory',
    inProcess: true,
    scope(options) {
      const scope = inner.scope(options);
      return {
        record(request, signal) {
          requests.push(request);
          return scope.record(request, signal);
        },
      };
    },
    close: closed,
    [Symbol.asyncDispose]: closed,
  };
  return { store, requests };
}

const refused = (): Promise<BudgetResult> => Promise.reject(new Error('connection refused'));
const hung = (): Promise<BudgetResult> => new Promise(() => {});

describe('retryBudget()', () => {
  it('1,000 calls to a dependency that is down retry no more than the budget allows', async () => {
    const clock = fakeClock();
    const budget = retryBudget({ ratio: 0.2, minPerSecond: 10, windowMs: 10_000, clock });
    const policy = retry({ maxAttempts: 4, backoff: constant({ delayMs: 0 }), budget, clock });
    let attempts = 0;
    const calls = Array.from({ length: 1_000 }, () =>
      policy.execute(() => {
        attempts++;
        return down();
      }),
    );
    const outcomes = await Promise.allSettled(calls);
    expect(outcomes.every((o) => o.status === 'rejected')).toBe(true);
    const retries = attempts - 1_000;
    // ratio × calls + minPerSecond × window seconds
    const allowed = 0.2 * 1_000 + 10 * 10;
    expect(retries).toBeLessThanOrEqual(allowed);
    // Without a budget this would be 3,000 retries; the budget is used, not merely refused.
    expect(retries).toBeGreaterThanOrEqual(allowed - 1);
  });

  it('keeps the bound at every moment of a long outage with steady traffic', async () => {
    const clock = fakeClock();
    const budget = retryBudget({ ratio: 0.1, minPerSecond: 1, windowMs: 1_000, slots: 10, clock });
    const policy = retry({ maxAttempts: 3, backoff: constant({ delayMs: 0 }), budget, clock });
    const retryTimes: number[] = [];
    const callTimes: number[] = [];
    policy.onRetry(() => retryTimes.push(clock.now()));
    for (let tick = 0; tick < 500; tick++) {
      const batch = Array.from({ length: 20 }, () => {
        callTimes.push(clock.now());
        return policy.execute(down).catch(() => {});
      });
      await Promise.all(batch);
      await clock.advance(10);
    }
    // At every retry, the window the budget looks at (the current 100 ms slot and the 9 before it)
    // holds no more retries than 0.1 × its calls + the reserve of 1 × 1 s.
    for (const t of retryTimes) {
      const windowStart = Math.floor(t / 100) * 100 - 900;
      const inView = (time: number) => time >= windowStart && time <= t;
      const retries = retryTimes.filter(inView).length;
      const calls = callTimes.filter(inView).length;
      expect(retries).toBeLessThanOrEqual(0.1 * calls + 1);
    }
    // 10,000 failing calls over 5 s: about 0.1 × 10,000 retries, not 20,000.
    expect(retryTimes.length).toBeGreaterThan(900);
    expect(retryTimes.length).toBeLessThanOrEqual(0.1 * callTimes.length + 6);
  });

  it('surfaces the original error at once, with a RetryBudgetExhaustedError cause', async () => {
    const otel = installOtel();
    try {
      const clock = fakeClock();
      const budget = retryBudget({
        name: 'payments',
        ratio: 0,
        minPerSecond: 0.1,
        windowMs: 10_000,
        clock,
      });
      const policy = retry({ maxAttempts: 5, backoff: constant({ delayMs: 0 }), budget, clock });
      const giveUps: GiveUpEvent[] = [];
      policy.onGiveUp((e) => giveUps.push(e));
      let attempts = 0;
      const original = new Error('down');
      const error = await policy
        .execute(() => {
          attempts++;
          throw original;
        })
        .catch((e: unknown) => e);
      // Reserve of 0.1 × 10 s = 1 retry, then refused.
      expect(attempts).toBe(2);
      expect(error).toBe(original);
      expect(isRetryBudgetExhaustedError(original.cause)).toBe(true);
      expect(original.cause).toMatchObject({ policyName: 'retry', available: 0 });
      expect(giveUps[0]).toMatchObject({ reason: 'budget-exhausted', attempts: 2 });
      expect(isRetryBudgetExhaustedError(giveUps[0]?.budgetError)).toBe(true);
      expect(await otel.sum(METRIC_ATTEMPTS, { [ATTR_OUTCOME]: 'budget-exhausted' })).toBe(1);
      expect(budget.available).toBe(0);
      const gauge = await otel.metric(METRIC_BUDGET_AVAILABLE);
      expect(gauge?.points[0]?.value).toBe(0);

      // An error that already has a cause keeps it.
      const caused = new Error('with cause', { cause: 'mine' });
      await expect(
        policy.execute(() => {
          throw caused;
        }),
      ).rejects.toBe(caused);
      expect(caused.cause).toBe('mine');
      await budget.close();
    } finally {
      await otel.uninstall();
    }
  });

  it('refills as calls and retries leave the window', async () => {
    const clock = fakeClock();
    const budget = retryBudget({ ratio: 0, minPerSecond: 1, windowMs: 2_000, slots: 2, clock });
    expect((await budget.tryAcquire()).granted).toBe(true);
    expect((await budget.tryAcquire()).granted).toBe(true);
    expect(await budget.tryAcquire()).toEqual({ granted: false, available: 0 });
    await clock.advance(1_000);
    expect((await budget.tryAcquire()).granted).toBe(false);
    await clock.advance(1_000);
    expect(await budget.tryAcquire()).toEqual({ granted: true, available: 1 });
  });

  it('successful calls cost no store round trip beyond one batched report per flush interval', async () => {
    const clock = fakeClock();
    const { store, requests } = countingStore(clock);
    const budget = retryBudget({ store, clock, flushIntervalMs: 1_000 });
    const policy = retry({ budget, clock });
    for (let i = 0; i < 1_000; i++) await policy.execute(() => i);
    // The first call reports at once (nothing was known yet); the rest wait for the interval.
    expect(requests.map((r) => r.calls)).toEqual([1]);
    await clock.advance(1_000);
    await policy.execute(() => 'next');
    expect(requests.map((r) => r.calls)).toEqual([1, 1_000]);
    // A retry request carries the calls counted since.
    await policy.execute(() => 'a');
    const failingOnce = retry({ budget, clock, backoff: constant({ delayMs: 0 }) });
    let first = true;
    await failingOnce.execute(() => {
      if (first) {
        first = false;
        throw new Error('once');
      }
      return 'ok';
    });
    expect(requests.at(-1)).toMatchObject({ calls: 2, withdraw: true });
    await budget.flush();
    expect(requests.filter((r) => !r.withdraw && r.calls === 0)).toEqual([]);
  });

  it('an in-process store answers deposits synchronously: no promise, nothing in flight', async () => {
    const clock = fakeClock();
    const budget = retryBudget({ ratio: 0.5, minPerSecond: 0, flushIntervalMs: 0, clock });
    budget.recordCall();
    expect(budget.available).toBe(0.5);
    budget.recordCall();
    expect(budget.available).toBe(1);
    await budget.close();
  });

  describe('onStoreError', () => {
    const broken = storeOf('broken', refused);

    it("'fail-open' grants, 'fail-closed' refuses; core's store metrics count each failure", async () => {
      const otel = installOtel();
      try {
        const open = retryBudget({ name: 'open', store: broken, onStoreError: 'fail-open' });
        const closedBudget = retryBudget({
          name: 'closed',
          store: broken,
          onStoreError: 'fail-closed',
        });
        expect((await open.tryAcquire()).granted).toBe(true);
        expect((await closedBudget.tryAcquire()).granted).toBe(false);
        // One failure is not an outage (storeFailureThreshold: 3).
        expect(open.storeStatus).toBe('healthy');
        const failed = { [ATTR_STORE_OPERATION]: 'withdraw', [ATTR_STORE_OUTCOME]: 'error' };
        expect(await otel.sum(METRIC_STORE_ERRORS, failed)).toBe(2);
        expect(await otel.sum(METRIC_STORE_ERRORS, { 'breakwater.store': 'broken' })).toBe(2);
        const duration = await otel.metric(METRIC_STORE_DURATION);
        expect(duration?.unit).toBe('s');
        // The old budget-only counter is gone.
        expect(await otel.metric('breakwater.retry.budget.store_errors')).toBeUndefined();
        await open.close();
        await closedBudget.close();
      } finally {
        await otel.uninstall();
      }
    });

    it("'local' decides from this process's own window", async () => {
      const clock = fakeClock();
      const changes: string[] = [];
      const budget = retryBudget({
        store: broken,
        onStoreError: 'local',
        ratio: 0.5,
        minPerSecond: 0,
        clock,
      });
      budget.onStoreStatusChange((change) => changes.push(change.status));
      for (let i = 0; i < 4; i++) budget.recordCall();
      const grants = [];
      for (let i = 0; i < 4; i++) grants.push((await budget.tryAcquire()).granted);
      expect(grants).toEqual([true, true, false, false]);
      expect(changes).toEqual(['degraded']);
    });

    it("'local' counts a retry the store granted in the local view too, once", async () => {
      const clock = fakeClock();
      let answer: () => Promise<BudgetResult> = () =>
        Promise.resolve({ granted: true, available: 5 });
      const store = storeOf('flaky', () => answer());
      const budget = retryBudget({
        store,
        onStoreError: 'local',
        ratio: 1,
        minPerSecond: 0,
        clock,
      });
      for (let i = 0; i < 2; i++) budget.recordCall();
      // The store grants one: the local window (2 calls × ratio 1) now holds 1 retry.
      expect((await budget.tryAcquire()).granted).toBe(true);
      answer = refused;
      // The store fails: the local window has 1 retry left, then none.
      expect(await budget.tryAcquire()).toMatchObject({ granted: true, available: 0 });
      expect((await budget.tryAcquire()).granted).toBe(false);
    });

    it("a refusal given in the store's place has the StoreError as its cause; a store refusal none", async () => {
      const original = () => new Error('down');
      const refusalOf = async (budget: ReturnType<typeof retryBudget>) => {
        const policy = retry({ maxAttempts: 2, backoff: constant({ delayMs: 0 }), budget });
        const error = await policy
          .execute(() => Promise.reject(original()))
          .catch((e: unknown) => e as Error);
        expect(isRetryBudgetExhaustedError(error.cause)).toBe(true);
        return error.cause as Error;
      };
      // The first call's deposit fails too (its batch is due at once): three failures in two calls.
      const settings = {
        store: broken,
        ratio: 0,
        minPerSecond: 0,
        flushIntervalMs: 60_000,
        storeFailureThreshold: 3,
      };
      for (const onStoreError of ['fail-closed', 'local'] as const) {
        const budget = retryBudget({ ...settings, onStoreError });
        // Failed, then not attempted while degraded: each names the store failure.
        const causes: unknown[] = [];
        for (let i = 0; i < 3; i++) causes.push((await refusalOf(budget)).cause);
        expect(causes.every(isStoreError), onStoreError).toBe(true);
        expect(causes.map((cause) => (cause as Error).message)).toEqual([
          'broken withdraw failed: connection refused',
          'broken withdraw failed: connection refused',
          expect.stringMatching(/^broken withdraw was not attempted: the store is degraded/),
        ]);
        const decision = await budget.tryAcquire();
        expect(decision).toMatchObject({ granted: false, storeError: causes[2] });
        await budget.close();
      }
      // The store itself refused: nothing failed.
      const healthy = retryBudget({ ratio: 0, minPerSecond: 0, flushIntervalMs: 0 });
      const refusal = await refusalOf(healthy);
      expect(refusal.cause).toBeUndefined();
      expect(await healthy.tryAcquire()).toEqual({ granted: false, available: 0 });
      await healthy.close();
    });

    it('a store slower than its deadline counts as failed', async () => {
      const budget = retryBudget({
        store: storeOf('hung', hung),
        onStoreError: 'fail-closed',
        storeDeadlineMs: 20,
        storeFailureThreshold: 1,
      });
      const statuses: unknown[] = [];
      budget.onStoreStatusChange((change) =>
        statuses.push(change.status === 'degraded' && change.error),
      );
      expect((await budget.tryAcquire()).granted).toBe(false);
      expect(isStoreTimeoutError(statuses[0])).toBe(true);
      await budget.close();
    });
  });

  describe('store outage rule (core StoreCalls)', () => {
    it('degrades after `storeFailureThreshold` consecutive failures, then answers without calling the store', async () => {
      let storeCalls = 0;
      const store = storeOf('redis', () => {
        storeCalls++;
        return refused();
      });
      const budget = retryBudget({
        name: 'payments',
        store,
        onStoreError: 'fail-closed',
        storeFailureThreshold: 3,
        storeProbeIntervalMs: 60_000,
      });
      const changes: StoreStatusChange[] = [];
      budget.onStoreStatusChange((change) => changes.push(change));
      await budget.tryAcquire();
      await budget.tryAcquire();
      expect(budget.storeStatus).toBe('healthy');
      await budget.tryAcquire();
      expect(budget.storeStatus).toBe('degraded');
      expect(changes).toHaveLength(1);
      expect(changes[0]).toMatchObject({
        policy: 'payments',
        pattern: 'retry',
        store: 'redis',
        status: 'degraded',
      });
      expect(isStoreError(changes[0]?.error)).toBe(true);
      expect(changes[0]?.error).toMatchObject({ operation: 'withdraw' });
      expect(storeCalls).toBe(3);
      // Degraded: answered at once, the store is not called.
      const started = performance.now();
      for (let i = 0; i < 10; i++) expect((await budget.tryAcquire()).granted).toBe(false);
      expect(performance.now() - started).toBeLessThan(50);
      expect(storeCalls).toBe(3);
      await budget.close();
    });

    it("a background probe on the scope's store brings it back, without a call", async () => {
      let up = false;
      let probes = 0;
      const store = storeOf(
        'redis',
        () => (up ? Promise.resolve({ granted: true, available: 1 }) : refused()),
        () => {
          probes++;
          return up ? Promise.resolve(1) : Promise.reject(new Error('still down'));
        },
      );
      const budget = retryBudget({
        store,
        onStoreError: 'fail-closed',
        storeFailureThreshold: 1,
        storeProbeIntervalMs: 20,
      });
      const statuses: string[] = [];
      budget.onStoreStatusChange((change) => statuses.push(change.status));
      await budget.tryAcquire();
      expect(budget.storeStatus).toBe('degraded');
      await new Promise((resolve) => setTimeout(resolve, 70));
      expect(probes).toBeGreaterThanOrEqual(2);
      expect(budget.storeStatus).toBe('degraded');
      up = true;
      await expect.poll(() => budget.storeStatus, { timeout: 1_000, interval: 10 }).toBe('healthy');
      expect(statuses).toEqual(['degraded', 'healthy']);
      expect((await budget.tryAcquire()).granted).toBe(true);
      await budget.close();
      // Closed: no more probes.
      up = false;
      await budget.tryAcquire();
      const after = probes;
      await new Promise((resolve) => setTimeout(resolve, 60));
      expect(probes).toBe(after);
    });

    it('close() settles within the deadline while the store hangs, and is what `await using` calls', async () => {
      const budget = retryBudget({
        store: storeOf('redis', hung),
        storeDeadlineMs: 50,
        flushIntervalMs: 60_000,
      });
      budget.recordCall(); // the first call deposits at once: in flight, hung
      budget.recordCall(); // counted locally, flushed by close()
      const started = performance.now();
      await budget[Symbol.asyncDispose]();
      const elapsed = performance.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(40);
      expect(elapsed).toBeLessThan(500);
    });
  });

  it('validates options', () => {
    expect(() => retryBudget({ ratio: 1.5 })).toThrow('Expected `ratio` in [0, 1], got 1.5');
    expect(() => retryBudget({ ratio: -0.1 })).toThrow(/`ratio`/);
    expect(() => retryBudget({ minPerSecond: -1 })).toThrow(
      'Expected `minPerSecond` to be a finite number >= 0, got -1',
    );
    expect(() => retryBudget({ windowMs: 5 })).toThrow(
      'Expected `windowMs` to be an integer >= 10, got 5',
    );
    expect(() => retryBudget({ slots: 0 })).toThrow(/`slots`/);
    expect(() => retryBudget({ flushIntervalMs: Number.NaN })).toThrow(/`flushIntervalMs`/);
    expect(() => retryBudget({ onStoreError: 'ignore' as never })).toThrow(/`onStoreError`/);
    expect(() => retryBudget({ store: {} as never })).toThrow(
      'Expected `store.scope` to be a function',
    );
    expect(() => retryBudget({ storeDeadlineMs: 0 })).toThrow(/`storeDeadlineMs`/);
    expect(() => retryBudget({ storeDeadlineMs: 2 ** 31 })).toThrow(/`storeDeadlineMs`/);
    expect(() => retryBudget({ storeFailureThreshold: 0 })).toThrow(/`storeFailureThreshold`/);
    expect(() => retryBudget({ storeProbeIntervalMs: -1 })).toThrow(/`storeProbeIntervalMs`/);
  });
});

/** What a Redis store factory says of a client none of the accepted libraries built. */
const UNACCEPTED_CLIENT =
  /^Expected `client` to be an ioredis or iovalkey `Redis` or `Cluster`, or a node-redis client from `createClient\(\)` or `createCluster\(\)`, got /;

describe('budget store options', () => {
  it('redisBudgetStore() refuses a client no accepted library built, listing those libraries', () => {
    for (const [client, shown] of [
      [{}, '{}'],
      ['redis://127.0.0.1:6379', '"redis://127.0.0.1:6379"'],
    ] as const) {
      expect(() => redisBudgetStore({ client: client as never })).toThrow(TypeError);
      expect(() => redisBudgetStore({ client: client as never })).toThrow(UNACCEPTED_CLIENT);
      expect(() => redisBudgetStore({ client: client as never })).toThrow(`, got ${shown}`);
    }
  });

  it('validates them, naming the option', () => {
    // The shape of an ioredis client (never connected: construction sends nothing).
    const redis = { evalsha() {}, pipeline() {}, duplicate() {} } as never;
    expect(() => redisBudgetStore({ client: redis, prefix: '{x}' })).toThrow(/`prefix`/);
    expect(() => dynamoBudgetStore({ client: {} as never, tableName: 't' })).toThrow(
      'Expected `client` to be a DynamoDBClient, got {}',
    );
    const dynamo = { send() {} } as never;
    expect(() => dynamoBudgetStore({ client: dynamo, tableName: '' })).toThrow(/`tableName`/);
    expect(() => dynamoBudgetStore({ client: dynamo, tableName: 't', maxAttempts: 0 })).toThrow(
      'Expected `maxAttempts` to be an integer >= 1, got 0',
    );
  });
});
