import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DYNALITE_CLIENT_CONFIG, describeWithDynamo, dynamoFixture } from '@breakwater/testkit';
import { dynamoStore } from '../stores/dynamodb.js';
import { fleetTests, SYNC_MS } from './fleet-helpers.js';

describeWithDynamo('circuit-breaker fleet on DynamoDB', () => {
  const fixture = dynamoFixture();
  fleetTests(
    () => ({
      env: () => ({
        BACKEND: 'dynamodb',
        DYNAMO_ENDPOINT: fixture.endpoint,
        TABLE: fixture.tableName,
      }),
      prefix: () => fixture.uniquePrefix(),
      store: (prefix) => {
        const client = new DynamoDBClient({
          endpoint: fixture.endpoint,
          ...DYNALITE_CLIENT_CONFIG,
        });
        return {
          store: dynamoStore({ client, tableName: fixture.tableName, prefix }),
          close: async () => client.destroy(),
        };
      },
    }),
    // Replicas re-read the item every syncIntervalMs; the bound adds one read's latency.
    2 * SYNC_MS + 50,
  );
});
