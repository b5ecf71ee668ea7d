/**
 * Builds the permit store and the shared in-flight counter a fleet replica uses, from the
 * environment the fleet test sets: BACKEND (redis | dynamodb), REDIS_URL and REDIS_CLIENT (the
 * client library, see testkit's `redisClientEnv`), DYNAMO_ENDPOINT, DYNAMO_TABLE, PREFIX.
 */
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import {
  closeRedisClient,
  redisClientFromEnv,
  sendRedisCommand,
} from '@breakwater/testkit/redis-clients';
import { dynamoStore } from '../../dynamodb.js';
import type { PermitStore } from '../../index.js';
import { redisStore } from '../../redis.js';

/** The store, a shared counter and a way to close the store and the connections. */
export interface FleetBackend {
  readonly store: PermitStore;
  /** Adds `delta` to the fleet-wide in-flight counter; resolves the new value. */
  count(delta: number): Promise<number>;
  close(): Promise<void>;
}

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`fleet replica: ${name} is not set`);
  return value;
};

/** The backend named by BACKEND. */
export async function backendFromEnv(): Promise<FleetBackend> {
  const prefix = env('PREFIX');
  if (env('BACKEND') === 'redis') {
    const client = await redisClientFromEnv();
    const counterKey = `${prefix}:inflight`;
    // The store opens its own subscriber, and closes it.
    const store = redisStore({ client, prefix });
    return {
      store,
      count: async (delta) =>
        Number(await sendRedisCommand(client, ['INCRBY', counterKey, String(delta)], counterKey)),
      async close() {
        await store.close();
        closeRedisClient(client);
      },
    };
  }
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const client = new DynamoDBClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'breakwater-test', secretAccessKey: 'breakwater-test' },
    endpoint: env('DYNAMO_ENDPOINT'),
  });
  const tableName = env('DYNAMO_TABLE');
  const store = dynamoStore({ client, tableName, prefix, pollIntervalMs: 25 });
  return {
    store,
    async count(delta) {
      const output = await client.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: { pk: { S: `${prefix}:inflight` } },
          UpdateExpression: 'ADD #n :delta',
          ExpressionAttributeNames: { '#n': 'n' },
          ExpressionAttributeValues: { ':delta': { N: String(delta) } },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      return Number(output.Attributes?.n?.N);
    },
    async close() {
      await store.close();
      client.destroy();
    },
  };
}
