/**
 * Fleet replica for the store-outage test: one limiter with the default `onStoreError` ('local',
 * sized by the fleet), which waits until its replica registry counts the whole fleet, says
 * `ready`, then hammers one key from START_AT for DURATION_MS while the test kills Redis. Reports
 * what it was admitted, by source, and when its degraded admissions started and ended.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { replicaIdentity, reportMessage, reportResult } from '@breakwater/testkit/replica';
import { Redis } from 'ioredis';
import { rateLimiter } from '../../index.js';
import { redisStore } from '../../redis.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`Missing ${name}`);
  return value;
};

const { count: replicas } = replicaIdentity();
const client = new Redis(env('REDIS_URL'));
// Refused connections are expected: the test kills the server.
client.on('error', () => {});
const store = redisStore({ client, prefix: env('PREFIX') });
const limiter = rateLimiter({
  name: 'outage',
  limit: Number(env('LIMIT')),
  intervalMs: 1000,
  store,
  storeDeadlineMs: 100,
  replicaRenewIntervalMs: 200,
  replicaTtlMs: 1000,
});

while ((limiter.replicas?.count ?? 0) < replicas) await sleep(20);
await reportMessage('ready');
const startAt = Number(env('START_AT'));
const endAt = startAt + Number(env('DURATION_MS'));
await sleep(Math.max(0, startAt - Date.now()));

let fromStore = 0;
let degraded = 0;
let denied = 0;
let degradedFirst = Number.POSITIVE_INFINITY;
let degradedLast = 0;
await Promise.all(
  Array.from({ length: 4 }, async () => {
    while (Date.now() < endAt) {
      const decision = await limiter.limit('shared');
      const at = Date.now();
      if (decision.allowed && at <= endAt) {
        if (decision.source === 'degraded') {
          degraded++;
          degradedFirst = Math.min(degradedFirst, at);
          degradedLast = Math.max(degradedLast, at);
        } else fromStore++;
      } else if (!decision.allowed) {
        denied++;
        // A refused client comes back a moment later (and local answers let I/O in meanwhile).
        await sleep(1);
      }
    }
  }),
);
const seen = limiter.replicas;
await limiter.close();
client.disconnect();
await reportResult({
  fromStore,
  degraded,
  denied,
  degradedFirst,
  degradedLast,
  count: seen?.count,
  localShare: seen?.localShare,
});
