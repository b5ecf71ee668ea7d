/**
 * Builds the breaker store a fleet replica uses, from the environment the test passes:
 * BACKEND=redis (REDIS_URL) or BACKEND=dynamodb (DYNAMO_ENDPOINT, TABLE), and PREFIX.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Redis } from 'ioredis';
import { dynamoStore } from '../../dynamodb.js';
import type { BreakerStore } from '../../index.js';
import { redisStore } from '../../redis.js';

export function storeFromEnv(): { store: BreakerStore; close(): Promise<void> } {
  const env = process.env;
  if (env.BACKEND === 'dynamodb') {
    const client = new DynamoDBClient({
      endpoint: env.DYNAMO_ENDPOINT,
      region: 'us-east-1',
      credentials: { accessKeyId: 'fleet', secretAccessKey: 'fleet' },
    });
    return {
      store: dynamoStore({ client, tableName: env.TABLE!, prefix: env.PREFIX! }),
      close: async () => client.destroy(),
    };
  }
  const client = new Redis(env.REDIS_URL!);
  const store = redisStore({ client, prefix: env.PREFIX! });
  return {
    store,
    close: async () => {
      await store.close();
      await client.quit();
    },
  };
}
