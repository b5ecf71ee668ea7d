/**
 * Fleet replica: hammers one key of a shared limiter for DURATION_MS with a clock skewed by
 * SKEW_MS, and reports what it was admitted. The store is Redis (REDIS_URL) or DynamoDB
 * (DYNAMO_ENDPOINT + DYNAMO_TABLE), chosen by BACKEND.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { systemClock } from '@breakwater/core';
import { replicaIdentity, reportResult } from '@breakwater/testkit/replica';
import { Redis } from 'ioredis';
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
const startAt = Number(env('START_AT'));
const durationMs = Number(env('DURATION_MS'));
const workers = Number(process.env.WORKERS ?? 4);

let store: RateLimitStore;
let close: () => Promise<unknown>;
if (env('BACKEND') === 'redis') {
  const client = new Redis(env('REDIS_URL'));
  store = redisStore({ client, prefix: env('PREFIX') });
  close = () => client.quit();
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

// The replica's idea of the time is off by SKEW_MS; Redis must not care, DynamoDB documents how much it does.
const clock = { now: () => Date.now() + skewMs, sleep: systemClock.sleep };
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
await reportResult({ allowed, denied, degraded, first, last });
