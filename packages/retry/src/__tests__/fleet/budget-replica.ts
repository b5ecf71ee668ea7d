/**
 * One replica of the retry-budget fleet test: runs CALLS calls against a dependency that is down,
 * through a retry policy whose budget lives in the shared store named by STORE, and reports how
 * many attempts it made. With STORE=redis the client library and address come from testkit's
 * `redisClientEnv` (REDIS_CLIENT, REDIS_URL or REDIS_CLUSTER_NODES).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { reportResult } from '@breakwater/testkit/replica';
import { dynamoBudgetStore } from '../../dynamodb.js';
import { constant, type RetryBudgetStore, retry, retryBudget } from '../../index.js';
import { redisBudgetStore } from '../../redis.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

const calls = Number(env('CALLS'));
const prefix = env('PREFIX');
let store: RetryBudgetStore;
let close: () => void;
if (env('STORE') === 'redis') {
  // Loaded only here: testkit's entry point is heavy, and the DynamoDB replicas need none of it.
  const { closeRedisClient, redisClientFromEnv } = await import(
    '@breakwater/testkit/redis-clients'
  );
  const client = await redisClientFromEnv();
  store = redisBudgetStore({ client, prefix });
  close = () => closeRedisClient(client);
} else {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const client = new DynamoDBClient({
    endpoint: env('DYNAMO_ENDPOINT'),
    region: 'us-east-1',
    credentials: { accessKeyId: 'fleet', secretAccessKey: 'fleet' },
    maxAttempts: 1,
  });
  store = dynamoBudgetStore({ client, tableName: env('TABLE'), prefix });
  close = () => client.destroy();
}

const budget = retryBudget({
  name: 'fleet',
  ratio: 0.2,
  minPerSecond: 1,
  windowMs: 60_000,
  store,
  // A refused store answer must not turn into extra retries: the test checks a hard bound.
  onStoreError: 'fail-closed',
  storeDeadlineMs: 5_000,
});
const policy = retry({ maxAttempts: 4, backoff: constant({ delayMs: 0 }), budget });
let attempts = 0;
let storeErrors = 0;
budget.onStoreStatusChange((change) => {
  if (change.status === 'degraded') storeErrors++;
});
for (let i = 0; i < calls; i++) {
  await policy
    .execute(() => {
      attempts++;
      throw new Error('dependency down');
    })
    .catch(() => {});
}
await budget.close();
close();
await reportResult({ attempts, storeErrors });
