import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { describeWithDynamo, dynamoFixture } from '@breakwater/testkit';
import { expect, it } from 'vitest';
import { dynamoBudgetStore } from '../dynamodb.js';

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
    await store.record({ name: 'payments', spec, calls: 4, withdraw: true });
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
    expect(await store.record({ name: 'payments', spec, calls: 2, withdraw: false })).toEqual({
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
    const [a, b] = [replica(), replica()];
    const spec = { ratio: 1, reserve: 0, windowMs: 10_000, slotMs: 1_000 };
    expect(await a.record({ name: 'shared', spec, calls: 0, withdraw: true })).toEqual({
      granted: false,
      available: 0,
    });
    await b.record({ name: 'shared', spec, calls: 3, withdraw: false });
    // `a` last saw an empty budget; a decision on that copy alone would refuse.
    expect(await a.record({ name: 'shared', spec, calls: 0, withdraw: true })).toEqual({
      granted: true,
      available: 2,
    });
  });
});
