/**
 * Fleet replica for the membership tests: one limiter whose replica registry renews every 200 ms
 * with a 1 s TTL, on Redis (testkit's `redisClientEnv`: REDIS_CLIENT, REDIS_URL or
 * REDIS_CLUSTER_NODES) or DynamoDB (DYNAMO_ENDPOINT + DYNAMO_TABLE). Prints
 * `count=<N>` whenever its count of the fleet changes. With PER_REPLICA set, its limit is
 * `{ perReplica: PER_REPLICA }` per minute (fixed window), it prints `limit=<L>` whenever the limit
 * in force changes, and on a stdin line `burst <key> <n>` it asks for `n` permits of `key` one
 * after another and prints `burst <key> admitted=<k>`. Closes (leaving the registry) when its
 * stdin ends.
 */
import { createInterface } from 'node:readline';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { closeRedisClient, redisClientFromEnv } from '@breakwater/testkit/redis-clients';
import { reportMessage } from '@breakwater/testkit/replica';
import { dynamoStore } from '../../dynamodb.js';
import { type RateLimitStore, rateLimiter } from '../../index.js';
import { redisStore } from '../../redis.js';

const prefix = process.env.PREFIX;
if (prefix === undefined) throw new Error('Missing PREFIX');
let store: RateLimitStore;
let closeClient: () => Promise<unknown>;
if (process.env.DYNAMO_ENDPOINT !== undefined) {
  const client = new DynamoDBClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'breakwater-test', secretAccessKey: 'breakwater-test' },
    endpoint: process.env.DYNAMO_ENDPOINT,
    maxAttempts: 1,
  });
  const tableName = process.env.DYNAMO_TABLE;
  if (tableName === undefined) throw new Error('Missing DYNAMO_TABLE');
  store = dynamoStore({ client, tableName, prefix });
  closeClient = async () => client.destroy();
} else {
  const client = await redisClientFromEnv();
  store = redisStore({ client, prefix });
  closeClient = async () => closeRedisClient(client);
}

const perReplica =
  process.env.PER_REPLICA === undefined ? undefined : Number(process.env.PER_REPLICA);
const limiter = rateLimiter({
  name: 'members',
  ...(perReplica === undefined
    ? { limit: 100, intervalMs: 1000 }
    : { limit: { perReplica }, intervalMs: 60_000, algorithm: 'fixed-window' as const }),
  store,
  replicaRenewIntervalMs: 200,
  replicaTtlMs: 1000,
});

let lastCount = 0;
let lastLimit = 0;
const watch = setInterval(() => {
  const count = limiter.replicas?.count ?? 0;
  if (count !== lastCount && limiter.replicas?.ageMs !== undefined) {
    lastCount = count;
    void reportMessage(`count=${count}`);
  }
  const limit = limiter.limits[0]!.limit;
  if (perReplica !== undefined && limit !== lastLimit && limiter.replicas?.ageMs !== undefined) {
    lastLimit = limit;
    void reportMessage(`limit=${limit}`);
  }
}, 10);

const input = createInterface({ input: process.stdin });
input.on('line', async (line) => {
  const [command, key, times] = line.split(' ');
  if (command !== 'burst' || key === undefined) return;
  let admitted = 0;
  for (let i = 0; i < Number(times); i++) if ((await limiter.limit(key)).allowed) admitted++;
  await reportMessage(`burst ${key} admitted=${admitted}`);
});
input.on('close', async () => {
  clearInterval(watch);
  await limiter.close();
  await closeClient();
});
