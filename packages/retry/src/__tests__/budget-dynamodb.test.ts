import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { isStoreError, type StoreStatusChange } from '@breakwater/core';
import { createTestTable, describeWithDynamo, dynamoFixture } from '@breakwater/testkit';
import { expect, it } from 'vitest';
import { dynamoBudgetStore } from '../dynamodb.js';
import { retryBudget } from '../index.js';

describeWithDynamo('dynamoBudgetStore() specifics', () => {
  const dynamo = dynamoFixture();

  it('keeps one item per budget in the documented shape, with a ttl one window ahead', async () => {
    const prefix = dynamo.uniquePrefix();
    let now = 1_800_000_000_000;
    const store = dynamoBudgetStore({
      client: dynamo.client,
      tableName: dynamo.tableName,
      prefix,
      clock: { now: () => now, sleep: async () => {} },
    });
    const spec = { ratio: 0.5, reserve: 0, windowMs: 10_000, slotMs: 1_000 };
    const budget = store.scope({ name: 'payments', spec });
    await budget.record({ calls: 4, withdraw: true });
    const read = async () =>
      (
        await dynamo.client.send(
          new GetItemCommand({
            TableName: dynamo.tableName,
            Key: { pk: { S: `${prefix}:retry:payments:budget:` } },
            ConsistentRead: true,
          }),
        )
      ).Item;
    const slot = now / 1_000;
    expect(await read()).toEqual({
      pk: { S: `${prefix}:retry:payments:budget:` },
      [`c_${slot}`]: { N: '4' },
      [`r_${slot}`]: { N: '1' },
      version: { N: '1' },
      ttl: { N: String((now + 11_000) / 1_000) },
    });

    // Slots that left the window are removed by the next write.
    now += 10_000;
    expect(await budget.record({ calls: 2, withdraw: false })).toEqual({
      granted: false,
      available: 1,
    });
    const item = await read();
    expect(Object.keys(item ?? {}).sort()).toEqual(['c_1800000010', 'pk', 'ttl', 'version']);
  });

  it('re-decides a refusal on fresh state when another replica changed the item', async () => {
    const prefix = dynamo.uniquePrefix();
    const replica = () =>
      dynamoBudgetStore({ client: dynamo.client, tableName: dynamo.tableName, prefix });
    const spec = { ratio: 1, reserve: 0, windowMs: 10_000, slotMs: 1_000 };
    const [a, b] = [replica(), replica()].map((store) => store.scope({ name: 'shared', spec }));
    expect(await a!.record({ calls: 0, withdraw: true })).toEqual({
      granted: false,
      available: 0,
    });
    await b!.record({ calls: 3, withdraw: false });
    // `a` last saw an empty budget; a decision on that copy alone would refuse.
    expect(await a!.record({ calls: 0, withdraw: true })).toEqual({
      granted: true,
      available: 2,
    });
  });

  it("a budget whose table fails degrades; the probe (a GetItem on the budget's item) brings it back", async () => {
    const prefix = dynamo.uniquePrefix();
    // A table that does not exist yet: every request fails until it is created.
    const tableName = `${dynamo.tableName}-later`;
    const budget = retryBudget({
      name: 'payments',
      store: dynamoBudgetStore({ client: dynamo.client, tableName, prefix }),
      onStoreError: 'fail-closed',
      storeFailureThreshold: 1,
      storeProbeIntervalMs: 20,
    });
    const changes: StoreStatusChange[] = [];
    budget.onStoreStatusChange((change) => changes.push(change));
    expect((await budget.tryAcquire()).granted).toBe(false);
    expect(budget.storeStatus).toBe('degraded');
    expect(isStoreError(changes[0]?.error)).toBe(true);
    expect(changes[0]).toMatchObject({ store: 'dynamodb', pattern: 'retry', policy: 'payments' });
    // Still failing: the probes fail too.
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(budget.storeStatus).toBe('degraded');
    await createTestTable(dynamo.client, tableName);
    await expect.poll(() => budget.storeStatus, { timeout: 5_000, interval: 10 }).toBe('healthy');
    expect(changes.map((c) => c.status)).toEqual(['degraded', 'healthy']);
    expect((await budget.tryAcquire()).granted).toBe(true);
    await budget.close();
  });
});
