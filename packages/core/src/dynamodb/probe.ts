/**
 * The health probe of a DynamoDB store: an eventually consistent GetItem of one key, projected to
 * the partition key — the cheapest request that proves the table answers (half a read unit).
 */
import { type DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { PARTITION_KEY } from './create-table.js';
import type { DynamoItem } from './update-expression.js';

/**
 * A probe for `StoreCalls` (`probe` option): resolves once DynamoDB has answered a GetItem of one
 * item of `tableName` (which need not exist). `key` is the item's partition key value, or its
 * whole primary key for a table with a sort key (the write-behind queue's). Honours the signal.
 */
export function dynamoProbe(
  client: DynamoDBClient,
  tableName: string,
  key: string | DynamoItem,
): (signal: AbortSignal) => Promise<unknown> {
  const Key: DynamoItem = typeof key === 'string' ? { [PARTITION_KEY]: { S: key } } : key;
  return (signal) =>
    client.send(
      new GetItemCommand({
        TableName: tableName,
        Key,
        ProjectionExpression: '#pk',
        ExpressionAttributeNames: { '#pk': PARTITION_KEY },
      }),
      { abortSignal: signal },
    );
}
