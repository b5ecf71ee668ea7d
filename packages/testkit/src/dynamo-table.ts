/** The table the Breakwater DynamoDB stores expect (vitest-free: the nemesis CLI uses it too). */
import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * Creates the table the Breakwater DynamoDB stores expect: string partition key `pk`,
 * PAY_PER_REQUEST. (The TTL attribute `ttl` is not enabled: dynalite does not implement
 * UpdateTimeToLive, nor does it ever expire items.)
 */
export async function createTestTable(client: DynamoDBClient, tableName: string): Promise<void> {
  // Same table shape as createTable() of @breakwater/core/dynamodb, built by hand so the testkit
  // does not depend on core (core's tests depend on the testkit). Switch to it if that changes.
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
}
