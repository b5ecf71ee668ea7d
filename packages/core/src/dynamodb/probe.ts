/**
 * The health probe of a DynamoDB store: an eventually consistent GetItem of one key, projected to
 * the partition key — the cheapest request that proves the table answers (half a read unit).
 */
import { type DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { PARTITION_KEY } from './create-table.js';

/**
 * A probe for `StoreCalls` (`probe` option): resolves once DynamoDB has answered a GetItem of the
 * item `pk` in `tableName` (which need not exist). Honours the signal.
 */
export function dynamoProbe(
  client: DynamoDBClient,
  tableName: string,
  pk: string,
): (signal: AbortSignal) => Promise<unknown> {
  return (signal) =>
    client.send(
      new GetItemCommand({
        TableName: tableName,
        Key: { [PARTITION_KEY]: { S: pk } },
        ProjectionExpression: '#pk',
        ExpressionAttributeNames: { '#pk': PARTITION_KEY },
      }),
      { abortSignal: signal },
    );
}
