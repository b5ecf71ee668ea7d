import {
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  GetItemCommand,
  PutItemCommand,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { dynamoFixture } from '../dynamo-fixture.js';
import { describeWithDynamo } from '../services.js';

describeWithDynamo('dynamoFixture', () => {
  const dynamo = dynamoFixture();

  it('creates the table the stores expect', async () => {
    expect(dynamo.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(dynamo.tableName).toMatch(/^bwtest-[0-9a-f]{16}$/);
    const { Table } = await dynamo.client.send(
      new DescribeTableCommand({ TableName: dynamo.tableName }),
    );
    expect(Table?.TableStatus).toBe('ACTIVE');
    expect(Table?.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
    expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
  });

  it('puts and gets an item', async () => {
    const pk = `${dynamo.uniquePrefix()}:item`;
    await dynamo.client.send(
      new PutItemCommand({
        TableName: dynamo.tableName,
        Item: { pk: { S: pk }, value: { N: '42' } },
      }),
    );
    const { Item } = await dynamo.client.send(
      new GetItemCommand({
        TableName: dynamo.tableName,
        Key: { pk: { S: pk } },
        ConsistentRead: true,
      }),
    );
    expect(Item).toEqual({ pk: { S: pk }, value: { N: '42' } });
  });

  it('serves a second client', async () => {
    const other = dynamo.newClient();
    const { Table } = await other.send(new DescribeTableCommand({ TableName: dynamo.tableName }));
    expect(Table?.TableName).toBe(dynamo.tableName);
  });

  // What dynalite does not do, pinned down so that a store relying on it fails here first.
  describe('dynalite limitations', () => {
    it('does not implement UpdateTimeToLive (and reports TTL as DISABLED)', async () => {
      await expect(
        dynamo.client.send(
          new UpdateTimeToLiveCommand({
            TableName: dynamo.tableName,
            TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
          }),
        ),
      ).rejects.toMatchObject({ name: 'UnknownOperationException' });
      const { TimeToLiveDescription } = await dynamo.client.send(
        new DescribeTimeToLiveCommand({ TableName: dynamo.tableName }),
      );
      expect(TimeToLiveDescription?.TimeToLiveStatus).toBe('DISABLED');
    });

    it('never expires items whose ttl has passed', async () => {
      const pk = `${dynamo.uniquePrefix()}:expired`;
      const longAgo = Math.floor(Date.now() / 1000) - 3600;
      await dynamo.client.send(
        new PutItemCommand({
          TableName: dynamo.tableName,
          Item: { pk: { S: pk }, ttl: { N: String(longAgo) } },
        }),
      );
      const { Item } = await dynamo.client.send(
        new GetItemCommand({ TableName: dynamo.tableName, Key: { pk: { S: pk } } }),
      );
      expect(Item?.ttl).toEqual({ N: String(longAgo) });
    });

    it('accepts ReturnValuesOnConditionCheckFailure but returns no Item on a failed condition', async () => {
      const pk = `${dynamo.uniquePrefix()}:cond`;
      await dynamo.client.send(
        new PutItemCommand({ TableName: dynamo.tableName, Item: { pk: { S: pk }, v: { N: '1' } } }),
      );
      const failure = await dynamo.client
        .send(
          new UpdateItemCommand({
            TableName: dynamo.tableName,
            Key: { pk: { S: pk } },
            UpdateExpression: 'SET v = :next',
            ConditionExpression: 'v = :expected',
            ExpressionAttributeValues: { ':next': { N: '3' }, ':expected': { N: '2' } },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        )
        .then(
          () => undefined,
          (error: unknown) => error as { name: string; Item?: unknown },
        );
      expect(failure?.name).toBe('ConditionalCheckFailedException');
      // Real DynamoDB would return { pk, v: 1 } here.
      expect(failure?.Item).toBeUndefined();
    });

    it('does not implement transactions', async () => {
      await expect(
        dynamo.client.send(
          new TransactWriteItemsCommand({
            TransactItems: [
              { Put: { TableName: dynamo.tableName, Item: { pk: { S: dynamo.uniquePrefix() } } } },
            ],
          }),
        ),
      ).rejects.toMatchObject({ name: 'UnknownOperationException' });
    });
  });
});
