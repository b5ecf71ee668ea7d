/**
 * Fleet replica: hammers one key of a shared limiter for DURATION_MS from a common start, with a
 * clock skewed by its entry of SKEWS_MS and, with JUMPS, jumping mid-run, and reports what it was
 * admitted. The store is Redis (the client testkit's
 * `redisClientEnv` describes: REDIS_CLIENT, REDIS_URL or REDIS_CLUSTER_NODES) or DynamoDB
 * (DYNAMO_ENDPOINT + DYNAMO_TABLE), chosen by BACKEND. Once warmed up it prints `ready` and reads
 * the start (epoch ms) from its first stdin line `start <ms>`: however long the processes took to
 * start on a loaded machine, they all hammer the same window.
 */
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { systemClock } from '@breakwater/core';
import { closeRedisClient, redisClientFromEnv } from '@breakwater/testkit/redis-clients';
import { replicaIdentity, reportMessage, reportResult } from '@breakwater/testkit/replica';
import { dynamoStore } from '../../dynamodb.js';
import { rateLimiter } from '../../index.js';
import { redisStore } from '../../redis.js';
import type { RateLimitStore } from '../../store.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`Missing ${name}`);
  return value;
};

const { index } = replicaIdentity();
const skews = env('SKEWS_MS').split(',').map(Number);
const skewMs = skews[index % skews.length]!;
const durationMs = Number(env('DURATION_MS'));
/**
 * JUMPS: `replica:afterMs:offsetMs:forMs`, comma-separated — that replica's clock jumps by
 * `offsetMs` `afterMs` after the start, and back `forMs` later (an NTP step and its correction).
 */
const jumps = (process.env.JUMPS ?? '')
  .split(',')
  .filter((entry) => entry !== '')
  .map((entry) => entry.split(':').map(Number) as [number, number, number, number])
  .filter(([replica]) => replica === index);
const workers = Number(process.env.WORKERS ?? 4);

let store: RateLimitStore;
let close: () => Promise<unknown>;
if (env('BACKEND') === 'redis') {
  const client = await redisClientFromEnv();
  store = redisStore({ client, prefix: env('PREFIX') });
  close = async () => closeRedisClient(client);
} else {
  const client = new DynamoDBClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'breakwater-test', secretAccessKey: 'breakwater-test' },
    endpoint: env('DYNAMO_ENDPOINT'),
    maxAttempts: 1,
  });
  store = dynamoStore({ client, tableName: env('DYNAMO_TABLE'), prefix: env('PREFIX') });
  close = async () => client.destroy();
}

// The replica's idea of the time is off by its skew (and its jumps, while they last); Redis must
// not care, DynamoDB documents how much it does.
let startAt = Number.POSITIVE_INFINITY;
let jumped = 0;
const jumpMs = (now: number): number => {
  for (const [, afterMs, offsetMs, forMs] of jumps) {
    if (now >= startAt + afterMs && now < startAt + afterMs + forMs) return offsetMs;
  }
  return 0;
};
const clock = {
  now: () => {
    const now = Date.now();
    const jump = jumpMs(now);
    if (jump !== 0) jumped++;
    return now + skewMs + jump;
  },
  sleep: systemClock.sleep,
};
const limiter = rateLimiter({
  name: 'fleet',
  limit: Number(env('LIMIT')),
  intervalMs: 1000,
  burst: Number(env('BURST')),
  store,
  clock,
  onStoreError: 'fail-closed',
  storeDeadlineMs: 2000,
});

// Warm up the connection and the script cache before the common start.
await limiter.peek('warm-up');
const input = createInterface({ input: process.stdin });
const line = once(input, 'line');
await reportMessage('ready');
const [command] = (await line) as [string];
input.close();
startAt = Number(command.split(' ')[1]);
if (!Number.isFinite(startAt)) throw new Error(`Expected \`start <ms>\` on stdin, got ${command}`);
await new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - Date.now())));

let allowed = 0;
let denied = 0;
let degraded = 0;
let first = Number.POSITIVE_INFINITY;
let last = 0;
const endAt = startAt + durationMs;
await Promise.all(
  Array.from({ length: workers }, async () => {
    while (Date.now() < endAt) {
      const decision = await limiter.limit('shared');
      const at = Date.now();
      if (decision.source === 'degraded') degraded++;
      if (decision.allowed && at <= endAt) {
        allowed++;
        first = Math.min(first, at);
        last = Math.max(last, at);
      } else if (!decision.allowed) {
        denied++;
        // A client that was refused comes back a moment later (and lets I/O in meanwhile: local
        // answers never yield to the event loop otherwise).
        await sleep(1);
      }
    }
  }),
);
await close();
await reportResult({ allowed, denied, degraded, first, last, jumped });
