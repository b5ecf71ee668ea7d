/**
 * Builds the breaker store a fleet replica uses, from the environment the test passes:
 * BACKEND=redis (REDIS_URL or REDIS_CLUSTER_NODES, and REDIS_CLIENT: the client library, see
 * testkit's `redisClientEnv`) or BACKEND=dynamodb (DYNAMO_ENDPOINT, TABLE), and PREFIX.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { closeRedisClient, redisClientFromEnv } from '@breakwater/testkit/redis-clients';
import { dynamoStore } from '../../dynamodb.js';
import type { BreakerStore } from '../../index.js';
import { redisStore } from '../../redis.js';

export async function storeFromEnv(): Promise<{ store: BreakerStore; close(): Promise<void> }> {
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
  const client = await redisClientFromEnv(env);
  const store = redisStore({ client, prefix: env.PREFIX! });
  return {
    store,
    close: async () => {
      await store.close();
      closeRedisClient(client);
    },
  };
}
