/**
 * Fleet replica for the store-outage test: one fleet bulkhead with the default `onStoreError`
 * ('local', sized by the fleet) on a Redis the test kills, which waits until its replica registry
 * counts the whole fleet, says `ready`, then keeps WORKERS callers busy for DURATION_MS from the
 * common start the test writes on stdin (epoch ms, one line) once every replica is ready. Each call adds itself to a fleet-wide in-flight counter kept in another Redis
 * (COUNTER_URL, which stays up) for as long as it runs, and notes what the counter said. Reports
 * how many calls ran with and without a permit, the highest count a call with a permit saw, and
 * for each call without one, when it ran and the count it saw. REDIS_CLIENT names the library of
 * the store's client (testkit's `redisClientEnv`); the counter's client is always ioredis.
 */
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { closeRedisClient, redisClientFromEnv } from '@breakwater/testkit/redis-clients';
import { replicaIdentity, reportMessage, reportResult } from '@breakwater/testkit/replica';
import { Redis } from 'ioredis';
import { bulkhead } from '../../index.js';
import { redisStore } from '../../redis.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`Missing ${name}`);
  return value;
};

const { count: replicas } = replicaIdentity();
// Refused connections are expected: the test kills the server (testkit's client ignores errors).
const client = await redisClientFromEnv();
const counter = new Redis(env('COUNTER_URL'));
const counterKey = `${env('PREFIX')}:inflight`;
const store = redisStore({ client, prefix: env('PREFIX') });
const db = bulkhead({
  name: 'outage',
  maxConcurrent: Number(env('MAX_CONCURRENT')),
  maxQueue: 1_000,
  wakeupPollMs: 50,
  leaseTtlMs: 2_000,
  storeDeadlineMs: 100,
  replicaRenewIntervalMs: 200,
  replicaTtlMs: 1_000,
  store,
});

while ((db.replicas?.count ?? 0) < replicas) await sleep(20);
const input = createInterface({ input: process.stdin });
const firstLine = once(input, 'line');
await reportMessage('ready');
const [line] = (await firstLine) as [string];
input.close();
process.stdin.destroy();
const startAt = Number(line);
const endAt = startAt + Number(env('DURATION_MS'));
await sleep(Math.max(0, startAt - Date.now()));

let leased = 0;
let degraded = 0;
let maxLeased = 0;
/** `[Date.now(), fleet-wide in-flight count]` of each call without a permit. */
const observations: [number, number][] = [];
const errors: string[] = [];
await Promise.all(
  Array.from({ length: Number(env('WORKERS')) }, async () => {
    while (Date.now() < endAt) {
      try {
        await db.execute(async ({ fencingToken }) => {
          const inflight = await counter.incr(counterKey);
          try {
            if (fencingToken !== undefined) {
              leased++;
              maxLeased = Math.max(maxLeased, inflight);
            } else {
              degraded++;
              observations.push([Date.now(), inflight]);
            }
            await sleep(20 + Math.random() * 20);
          } finally {
            await counter.decr(counterKey);
          }
        });
      } catch (error) {
        errors.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
        await sleep(10);
      }
    }
  }),
);
const seen = db.replicas;
await db.close();
await store.close();
closeRedisClient(client);
counter.disconnect();
await reportResult({
  leased,
  degraded,
  maxLeased,
  observations,
  errors: errors.slice(0, 5),
  count: seen?.count,
  localMaxConcurrent: seen?.localMaxConcurrent,
});
