import { describeWithDynamo, dynamoFixture } from '@breakwater/testkit';
import { expect, it } from 'vitest';
import { dynamoStore } from '../dynamodb.js';
import { bulkhead } from '../index.js';
import { until } from './helpers.js';

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

  it('counts its replicas in an item of its own, and leaves it on close()', async () => {
    const prefix = dynamo.uniquePrefix();
    const [a, b] = [0, 1].map(() =>
      bulkhead({
        name: 'db',
        maxConcurrent: 5,
        store: dynamoStore({ client: dynamo.client, tableName: dynamo.tableName, prefix }),
        replicaRenewIntervalMs: 50,
        replicaTtlMs: 2_000,
      }),
    );
    await until(() => a!.replicas?.count === 2 && b!.replicas?.count === 2, 3_000);
    expect(a!.replicas?.localMaxConcurrent).toBe(2);
    await b!.close();
    await until(() => a!.replicas?.count === 1, 1_000);
    await a!.close();
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

  it('recovers from a degraded table through the background probe (a GetItem), without a call', async () => {
    const client = dynamo.newClient();
    let down = false;
    const sent: string[] = [];
    const send = client.send.bind(client);
    Object.assign(client, {
      send: (command: { constructor: { name: string } }, ...rest: unknown[]) => {
        sent.push(command.constructor.name);
        if (down) return Promise.reject(new Error('connect ECONNREFUSED'));
        return (send as (...args: unknown[]) => unknown)(command, ...rest);
      },
    });
    const store = dynamoStore({
      client,
      tableName: dynamo.tableName,
      prefix: dynamo.uniquePrefix(),
    });
    const b = bulkhead({
      name: 'db',
      maxConcurrent: 2,
      store,
      onStoreError: 'fail-closed',
      storeFailureThreshold: 1,
      storeProbeIntervalMs: 30,
    });
    const statuses: string[] = [];
    b.onStoreStatusChange((change) => statuses.push(`${change.store} ${change.status}`));
    await b.execute(() => 'up');
    // The release runs after the call resolves: let it land.
    await new Promise((resolve) => setTimeout(resolve, 100));
    down = true;
    await expect(b.execute(() => 1)).rejects.toMatchObject({ reason: 'store-unavailable' });
    expect(b.storeStatus).toBe('degraded');
    down = false;
    sent.length = 0;
    await until(() => b.storeStatus === 'healthy');
    expect(statuses).toEqual(['dynamodb degraded', 'dynamodb healthy']);
    expect(sent).toEqual(['GetItemCommand']);
    await b.close();
    await store.close();
  });

  it('polls a hung table one bounded read at a time, and aborts the read when nobody waits', async () => {
    const client = dynamo.newClient();
    const polls: AbortSignal[] = [];
    const send = client.send.bind(client);
    Object.assign(client, {
      send: (
        command: { constructor: { name: string }; input: { ConsistentRead?: boolean } },
        options: { abortSignal: AbortSignal },
      ) => {
        if (command.constructor.name !== 'GetItemCommand' || !command.input.ConsistentRead) {
          return (send as (...args: unknown[]) => unknown)(command, options);
        }
        // The waiters' poll, to a table that never answers.
        polls.push(options.abortSignal);
        return new Promise((_, reject) => {
          options.abortSignal.addEventListener('abort', () => reject(new Error('aborted')));
        });
      },
    });
    const store = dynamoStore({
      client,
      tableName: dynamo.tableName,
      prefix: dynamo.uniquePrefix(),
      pollIntervalMs: 10,
    });
    const scope = store.scope({ name: 'db', classes: ['default'] });
    const waiting = scope.waitForRelease(200, undefined);
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Ten intervals passed: still the first read, not ten piled up.
    expect(polls).toHaveLength(1);
    await waiting;
    expect(polls[0]!.aborted).toBe(true);
    await store.close();
  });
});
