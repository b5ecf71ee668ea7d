import { describeWithDynamo, dynamoFixture } from '@breakwater/testkit';
import { expect, it } from 'vitest';
import { dynamoStore } from '../dynamodb.js';
import { bulkhead } from '../index.js';

describeWithDynamo('fleet bulkhead on DynamoDB', () => {
  const dynamo = dynamoFixture();

  it('takes one request to acquire and one to release once its copy of the item is current', async () => {
    const client = dynamo.newClient();
    const commands: string[] = [];
    const send = client.send.bind(client);
    Object.assign(client, {
      send: (command: { constructor: { name: string } }, ...rest: unknown[]) => {
        commands.push(command.constructor.name);
        return (send as (...args: unknown[]) => unknown)(command, ...rest);
      },
    });
    const b = bulkhead({
      name: 'db',
      maxConcurrent: 4,
      store: dynamoStore({ client, tableName: dynamo.tableName, prefix: dynamo.uniquePrefix() }),
    });
    await b.execute(() => 'warm'); // the first decision reads the item
    await b.close();
    commands.length = 0;
    for (let i = 0; i < 5; i++) await b.execute(() => i);
    await b.close();
    expect(commands).toEqual(Array.from({ length: 10 }, () => 'UpdateItemCommand'));
  });

  it('shares permits between replicas and hands out growing fencing tokens', async () => {
    const prefix = dynamo.uniquePrefix();
    const replicas = [0, 1].map(() =>
      bulkhead({
        name: 'db',
        maxConcurrent: 2,
        maxQueue: 20,
        maxWaitMs: 10_000,
        store: dynamoStore({
          client: dynamo.newClient(),
          tableName: dynamo.tableName,
          prefix,
          pollIntervalMs: 20,
        }),
      }),
    );
    let inflight = 0;
    let peak = 0;
    const tokens: number[] = [];
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        replicas[i % 2]!.execute(async ({ fencingToken }) => {
          inflight++;
          peak = Math.max(peak, inflight);
          tokens.push(fencingToken!);
          await new Promise((resolve) => setTimeout(resolve, 20));
          inflight--;
        }),
      ),
    );
    expect(peak).toBe(2);
    expect(new Set(tokens).size).toBe(10);
    await Promise.all(replicas.map((r) => r.close()));
  });
});
