import {
  type AttributeValue,
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { describeWithDynamo, dynamoFixture } from '@breakwater/testkit';
import { describe, expect, it } from 'vitest';
import {
  conditionalUpdate,
  createTable,
  type DynamoItem,
  isStoreConflictError,
  keyBuilder,
  StoreConflictError,
} from '../dynamodb.js';
import { isStoreError, isStoreTimeoutError } from '../errors.js';

type Command = { constructor: { name: string }; input: Record<string, unknown> };

/** Wraps a client to record the commands sent, optionally intercepting them. */
function recording(
  client: DynamoDBClient,
  intercept?: (command: Command, send: () => Promise<unknown>) => Promise<unknown>,
): { client: DynamoDBClient; sent: string[] } {
  const sent: string[] = [];
  const wrapper = {
    send(command: Command, options?: unknown) {
      sent.push(command.constructor.name.replace(/Command$/, ''));
      const send = () =>
        (client.send as (c: Command, o?: unknown) => Promise<unknown>)(command, options);
      return intercept ? intercept(command, send) : send();
    },
  };
  return { client: wrapper as unknown as DynamoDBClient, sent };
}

/** A clock that records the backoff delays instead of sleeping. */
function recordingClock(): {
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  delays: number[];
} {
  const delays: number[] = [];
  return {
    delays,
    async sleep(ms, signal) {
      signal?.throwIfAborted();
      delays.push(ms);
    },
  };
}

const n = (value: number): AttributeValue => ({ N: String(value) });
const count = (item: DynamoItem | undefined) => Number(item?.count?.N ?? 0);
const increment = (current: DynamoItem | undefined) => ({
  set: { count: n(count(current) + 1) },
  result: count(current) + 1,
});

describeWithDynamo('DynamoDB store plumbing (dynalite)', () => {
  const dynamo = dynamoFixture();
  const keys = keyBuilder({ prefix: dynamo.prefix, pattern: 'cas-test', name: 'counter' });
  const keyOf = (userKey: string): DynamoItem => ({ pk: { S: keys.dynamoPk(userKey, 'state') } });

  /** Bumps the item's version (and count) the way a concurrent writer using the helper would. */
  const concurrentWrite = (key: DynamoItem) =>
    dynamo.client.send(
      new UpdateItemCommand({
        TableName: dynamo.tableName,
        Key: key,
        UpdateExpression:
          'SET #v = if_not_exists(#v, :zero) + :one, #c = if_not_exists(#c, :zero) + :one',
        ExpressionAttributeNames: { '#v': 'version', '#c': 'count' },
        ExpressionAttributeValues: { ':zero': n(0), ':one': n(1) },
      }),
    );

  describe('conditionalUpdate()', () => {
    it('creates the item with version 1 in one UpdateItem when told it is absent', async () => {
      const { client, sent } = recording(dynamo.client);
      const key = keyOf('create');
      const outcome = await conditionalUpdate({
        client,
        tableName: dynamo.tableName,
        key,
        current: null,
        build: increment,
      });
      expect(outcome).toEqual({
        item: { ...key, count: n(1), version: n(1) },
        updated: true,
        attempts: 1,
        result: 1,
      });
      expect(sent).toEqual(['UpdateItem']);
    });

    it('costs one UpdateItem in the steady state (cached item is current)', async () => {
      const key = keyOf('steady');
      let cached = (
        await conditionalUpdate({
          client: dynamo.client,
          tableName: dynamo.tableName,
          key,
          build: increment,
        })
      ).item;
      const { client, sent } = recording(dynamo.client);
      for (let i = 0; i < 3; i++) {
        const outcome = await conditionalUpdate({
          client,
          tableName: dynamo.tableName,
          key,
          current: cached,
          build: increment,
        });
        expect(outcome.attempts).toBe(1);
        cached = outcome.item;
      }
      expect(sent).toEqual(['UpdateItem', 'UpdateItem', 'UpdateItem']);
      expect(cached).toMatchObject({ count: n(4), version: n(4) });
    });

    it('reads the item first (consistently) when the caller does not know it', async () => {
      const key = keyOf('unknown');
      await concurrentWrite(key);
      const { client, sent } = recording(dynamo.client, (command, send) => {
        if (command.constructor.name === 'GetItemCommand') {
          expect(command.input.ConsistentRead).toBe(true);
        }
        return send();
      });
      const outcome = await conditionalUpdate({
        client,
        tableName: dynamo.tableName,
        key,
        build: increment,
      });
      expect(sent).toEqual(['GetItem', 'UpdateItem']);
      expect(outcome.item).toMatchObject({ count: n(2), version: n(2) });
    });

    it('retries from the fresh item after a concurrent writer bumped the version', async () => {
      const key = keyOf('conflict');
      const clock = recordingClock();
      let interferences = 1;
      const { client, sent } = recording(dynamo.client, async (command, send) => {
        // A concurrent writer slips in between our read and our conditional write.
        if (command.constructor.name === 'UpdateItemCommand' && interferences-- > 0) {
          await concurrentWrite(key);
        }
        return send();
      });
      const seen: (DynamoItem | undefined)[] = [];
      const outcome = await conditionalUpdate({
        client,
        tableName: dynamo.tableName,
        key,
        current: null,
        clock,
        build: (current) => {
          seen.push(current);
          return increment(current);
        },
      });
      expect(outcome).toMatchObject({ updated: true, attempts: 2, result: 2 });
      expect(seen).toEqual([undefined, { ...key, count: n(1), version: n(1) }]);
      // dynalite omits the item from the conditional failure, so the helper reads it.
      expect(sent).toEqual(['UpdateItem', 'GetItem', 'UpdateItem']);
      expect(outcome.item).toMatchObject({ count: n(2), version: n(2) });
      expect(clock.delays).toHaveLength(1);
      expect(clock.delays[0]).toBeLessThanOrEqual(10);
    });

    it('uses the item DynamoDB returns with the conditional failure instead of reading it', async () => {
      const key = keyOf('returned-item');
      let interferences = 1;
      // Emulates real DynamoDB's ReturnValuesOnConditionCheckFailure: ALL_OLD, which dynalite lacks.
      const { client, sent } = recording(dynamo.client, async (command, send) => {
        if (command.constructor.name !== 'UpdateItemCommand') return send();
        expect(command.input.ReturnValuesOnConditionCheckFailure).toBe('ALL_OLD');
        if (interferences-- > 0) await concurrentWrite(key);
        try {
          return await send();
        } catch (error) {
          const { Item } = await dynamo.client.send(
            new GetItemCommand({ TableName: dynamo.tableName, Key: key, ConsistentRead: true }),
          );
          throw Object.assign(error as object, { Item });
        }
      });
      const outcome = await conditionalUpdate({
        client,
        tableName: dynamo.tableName,
        key,
        current: null,
        baseDelayMs: 0,
        build: increment,
      });
      expect(outcome).toMatchObject({ attempts: 2, result: 2 });
      expect(sent).toEqual(['UpdateItem', 'UpdateItem']);
    });

    it('gives up with a StoreConflictError after maxAttempts, backing off with jitter', async () => {
      const key = keyOf('hot');
      const clock = recordingClock();
      const { client, sent } = recording(dynamo.client, async (command, send) => {
        if (command.constructor.name === 'UpdateItemCommand') await concurrentWrite(key);
        return send();
      });
      const error = await conditionalUpdate({
        client,
        tableName: dynamo.tableName,
        key,
        current: null,
        maxAttempts: 4,
        baseDelayMs: 10,
        maxDelayMs: 25,
        operation: 'test.increment',
        clock,
        build: increment,
      }).catch((e) => e);
      expect(error).toBeInstanceOf(StoreConflictError);
      expect(isStoreConflictError(error)).toBe(true);
      expect(isStoreError(error)).toBe(true);
      expect(error).toMatchObject({
        store: 'dynamodb',
        operation: 'test.increment',
        tableName: dynamo.tableName,
        attempts: 4,
      });
      expect(error.message).toBe(
        `dynamodb test.increment on table "${dynamo.tableName}" gave up after 4 attempts: ` +
          'the item changed before every conditional write',
      );
      expect(error.cause?.name).toBe('ConditionalCheckFailedException');
      expect(sent.filter((name) => name === 'UpdateItem')).toHaveLength(4);
      // Full jitter under ceilings 10, 20, 25 (capped): one backoff before each retry.
      expect(clock.delays).toHaveLength(3);
      clock.delays.forEach((delay, i) => {
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual([10, 20, 25][i]!);
      });
    });

    it('loses no write when replicas race on one item', async () => {
      const key = keyOf('race');
      const writers = 8;
      const outcomes = await Promise.all(
        Array.from({ length: writers }, () =>
          conditionalUpdate({
            client: dynamo.newClient(),
            tableName: dynamo.tableName,
            key,
            maxAttempts: 50,
            baseDelayMs: 1,
            maxDelayMs: 5,
            build: increment,
          }),
        ),
      );
      expect(outcomes.map((o) => o.result).sort((a, b) => a! - b!)).toEqual(
        Array.from({ length: writers }, (_, i) => i + 1),
      );
      const { Item } = await dynamo.client.send(
        new GetItemCommand({ TableName: dynamo.tableName, Key: key, ConsistentRead: true }),
      );
      expect(Item).toMatchObject({ count: n(writers), version: n(writers) });
    });

    it('writes nothing when the plan is empty, and returns its result', async () => {
      const key = keyOf('noop');
      const { client, sent } = recording(dynamo.client);
      const denied = await conditionalUpdate<string>({
        client,
        tableName: dynamo.tableName,
        key,
        current: { ...key, count: n(9), version: n(3) },
        build: () => ({ result: 'denied' }),
      });
      expect(denied).toEqual({
        item: { ...key, count: n(9), version: n(3) },
        updated: false,
        attempts: 0,
        result: 'denied',
      });
      const skipped = await conditionalUpdate({
        client,
        tableName: dynamo.tableName,
        key,
        current: null,
        build: () => null,
      });
      expect(skipped).toEqual({ item: undefined, updated: false, attempts: 0, result: undefined });
      expect(sent).toEqual([]);
    });

    it('removes attributes and handles reserved words as attribute names', async () => {
      const key = keyOf('remove');
      const first = await conditionalUpdate({
        client: dynamo.client,
        tableName: dynamo.tableName,
        key,
        current: null,
        build: () => ({ set: { ttl: n(123), state: { S: 'open' }, count: n(1) } }),
      });
      const second = await conditionalUpdate({
        client: dynamo.client,
        tableName: dynamo.tableName,
        key,
        current: first.item,
        build: () => ({ set: { state: { S: 'closed' } }, remove: ['ttl', 'count'] }),
      });
      expect(second.item).toEqual({ ...key, state: { S: 'closed' }, version: n(2) });
    });

    it('refuses plans that write the version or the key', async () => {
      const key = keyOf('guarded');
      const options = { client: dynamo.client, tableName: dynamo.tableName, key, current: null };
      await expect(
        conditionalUpdate({ ...options, build: () => ({ set: { version: n(7) } }) }),
      ).rejects.toThrow(
        'Expected the update plan not to write the version attribute, got "version"',
      );
      await expect(
        conditionalUpdate({ ...options, build: () => ({ remove: ['pk'] }) }),
      ).rejects.toThrow('Expected the update plan not to write the key attribute, got "pk"');
    });

    it('wraps other DynamoDB failures in a StoreError', async () => {
      const error = await conditionalUpdate({
        client: dynamo.client,
        tableName: 'no-such-table',
        key: keyOf('x'),
        current: null,
        build: increment,
      }).catch((e) => e);
      expect(isStoreError(error)).toBe(true);
      expect(isStoreConflictError(error)).toBe(false);
      expect(error).toMatchObject({ store: 'dynamodb', operation: 'conditionalUpdate' });
      expect(error.cause?.name).toBe('ResourceNotFoundException');
    });

    it('rejects with the abort reason', async () => {
      const reason = new Error('caller gave up');
      await expect(
        conditionalUpdate({
          client: dynamo.client,
          tableName: dynamo.tableName,
          key: keyOf('aborted'),
          build: increment,
          signal: AbortSignal.abort(reason),
        }),
      ).rejects.toBe(reason);

      const controller = new AbortController();
      const { client } = recording(dynamo.client, async (command, send) => {
        if (command.constructor.name === 'UpdateItemCommand') {
          await concurrentWrite(keyOf('aborted-mid'));
          controller.abort(reason);
        }
        return send();
      });
      await expect(
        conditionalUpdate({
          client,
          tableName: dynamo.tableName,
          key: keyOf('aborted-mid'),
          current: null,
          build: increment,
          signal: controller.signal,
        }),
      ).rejects.toBe(reason);
    });

    it('validates options with named errors', async () => {
      const valid = {
        client: dynamo.client,
        tableName: dynamo.tableName,
        key: keyOf('v'),
        build: increment,
      };
      await expect(conditionalUpdate({ ...valid, maxAttempts: 0 })).rejects.toThrow(
        'Expected `maxAttempts` to be an integer >= 1, got 0',
      );
      await expect(conditionalUpdate({ ...valid, tableName: '' })).rejects.toThrow(
        'Expected `tableName` to be a non-empty string, got ""',
      );
      await expect(conditionalUpdate({ ...valid, build: undefined as never })).rejects.toThrow(
        'Expected `build` to be a function, got undefined',
      );
      await expect(conditionalUpdate({ ...valid, client: undefined as never })).rejects.toThrow(
        'Expected `client` to be an object, got undefined',
      );
      await expect(conditionalUpdate({ ...valid, baseDelayMs: -1 })).rejects.toThrow(
        'Expected `baseDelayMs` to be a finite number >= 0, got -1',
      );
      await expect(conditionalUpdate({ ...valid, versionAttribute: '' })).rejects.toThrow(
        /`versionAttribute`/,
      );
    });
  });

  describe('createTable()', () => {
    it('creates the Breakwater table, ACTIVE, and is idempotent', async () => {
      const tableName = `${dynamo.tableName}-created`;
      await expect(createTable(dynamo.client, tableName)).resolves.toEqual({
        created: true,
        timeToLive: 'unsupported',
      });
      const { Table } = await dynamo.client.send(
        new DescribeTableCommand({ TableName: tableName }),
      );
      expect(Table).toMatchObject({
        TableStatus: 'ACTIVE',
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        BillingModeSummary: { BillingMode: 'PAY_PER_REQUEST' },
      });
      await expect(createTable(dynamo.client, tableName)).resolves.toEqual({
        created: false,
        timeToLive: 'unsupported',
      });
      // Concurrent callers (several test files, several replicas) all succeed.
      const racing = `${dynamo.tableName}-racing`;
      const results = await Promise.all([1, 2, 3].map(() => createTable(dynamo.client, racing)));
      expect(results.filter((r) => r.created)).toHaveLength(1);
    });

    it('accepts the table the fixture made, and refuses one with another key schema', async () => {
      await expect(createTable(dynamo.client, dynamo.tableName)).resolves.toMatchObject({
        created: false,
      });
      const other = `${dynamo.tableName}-other`;
      await dynamo.client.send(
        new CreateTableCommand({
          TableName: other,
          AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
      const error = await createTable(dynamo.client, other).catch((e) => e);
      expect(isStoreError(error)).toBe(true);
      expect(error.message).toBe(
        `dynamodb table "${other}" exists with another key schema; Breakwater needs a string ` +
          'partition key "pk" and no sort key',
      );
    });

    it("creates the queue layout (sort key and keys-only local index) with layout: 'queue'", async () => {
      const tableName = `${dynamo.tableName}-queue`;
      await expect(createTable(dynamo.client, tableName, { layout: 'queue' })).resolves.toEqual({
        created: true,
        timeToLive: 'unsupported',
      });
      const { Table } = await dynamo.client.send(
        new DescribeTableCommand({ TableName: tableName }),
      );
      expect(Table).toMatchObject({
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        LocalSecondaryIndexes: [
          {
            IndexName: 'lsk',
            KeySchema: [
              { AttributeName: 'pk', KeyType: 'HASH' },
              { AttributeName: 'lsk', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'KEYS_ONLY' },
          },
        ],
      });
      await expect(createTable(dynamo.client, tableName, { layout: 'queue' })).resolves.toEqual({
        created: false,
        timeToLive: 'unsupported',
      });
      // Each layout refuses the other's table.
      await expect(createTable(dynamo.client, tableName)).rejects.toThrow(/another key schema/);
      await expect(
        createTable(dynamo.client, dynamo.tableName, { layout: 'queue' }),
      ).rejects.toThrow(/queue table needs a string partition key "pk", a string sort key "sk"/);
      await expect(
        createTable(dynamo.client, tableName, { layout: 'fifo' as never }),
      ).rejects.toThrow("Expected `layout` to be one of 'store' | 'queue', got \"fifo\"");
    });

    it('validates its arguments', async () => {
      await expect(createTable(dynamo.client, '')).rejects.toThrow(
        'Expected `tableName` to be a non-empty string, got ""',
      );
      await expect(createTable(dynamo.client, 'abc', { timeoutMs: 0 })).rejects.toThrow(
        'Expected `timeoutMs` to be a finite number > 0, got 0',
      );
    });
  });
});

/**
 * A scripted stand-in for DynamoDB's control plane, for what dynalite cannot show: a table that
 * takes time to become ACTIVE, and a backend with a TTL API.
 */
function controlPlane(script: {
  statuses?: string[];
  ttl?: { TimeToLiveStatus: string; AttributeName?: string };
}): { client: DynamoDBClient; sent: string[] } {
  const statuses = [...(script.statuses ?? ['ACTIVE'])];
  const sent: string[] = [];
  const client = {
    async send(command: Command) {
      const name = command.constructor.name.replace(/Command$/, '');
      sent.push(name);
      switch (name) {
        case 'CreateTable':
          return {};
        case 'DescribeTable':
          return {
            Table: {
              TableStatus: statuses.length > 1 ? statuses.shift() : statuses[0],
              KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
              AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
            },
          };
        case 'DescribeTimeToLive':
          return { TimeToLiveDescription: script.ttl ?? { TimeToLiveStatus: 'DISABLED' } };
        case 'UpdateTimeToLive':
          return {};
        default:
          throw new Error(`unexpected ${name}`);
      }
    },
  };
  return { client: client as unknown as DynamoDBClient, sent };
}

describe('createTable() control flow', () => {
  it('waits until the table is ACTIVE, then enables TTL on `ttl`', async () => {
    const { client, sent } = controlPlane({ statuses: ['CREATING', 'CREATING', 'ACTIVE'] });
    await expect(createTable(client, 'tbl')).resolves.toEqual({
      created: true,
      timeToLive: 'enabled',
    });
    expect(sent).toEqual([
      'CreateTable',
      'DescribeTable',
      'DescribeTable',
      'DescribeTable',
      'DescribeTimeToLive',
      'UpdateTimeToLive',
    ]);
  });

  it('leaves TTL alone when it is already enabled on `ttl`', async () => {
    const { client, sent } = controlPlane({
      ttl: { TimeToLiveStatus: 'ENABLED', AttributeName: 'ttl' },
    });
    await expect(createTable(client, 'tbl')).resolves.toMatchObject({ timeToLive: 'enabled' });
    expect(sent).not.toContain('UpdateTimeToLive');
  });

  it('refuses a table that expires items on another attribute', async () => {
    const { client } = controlPlane({
      ttl: { TimeToLiveStatus: 'ENABLED', AttributeName: 'expiresAt' },
    });
    await expect(createTable(client, 'tbl')).rejects.toThrow(
      'dynamodb table "tbl" expires items on "expiresAt"; Breakwater needs "ttl"',
    );
  });

  it('gives up with a StoreTimeoutError when the table stays CREATING', async () => {
    const { client } = controlPlane({ statuses: ['CREATING'] });
    const error = await createTable(client, 'tbl', { timeoutMs: 60 }).catch((e) => e);
    expect(isStoreTimeoutError(error)).toBe(true);
    expect(error.message).toBe(
      'dynamodb table "tbl" was not ACTIVE within 60 ms (status CREATING)',
    );
  });

  it('stops waiting when aborted', async () => {
    const { client } = controlPlane({ statuses: ['CREATING'] });
    const reason = new Error('stop');
    const controller = new AbortController();
    setTimeout(() => controller.abort(reason), 30);
    await expect(createTable(client, 'tbl', { signal: controller.signal })).rejects.toBe(reason);
  });
});
