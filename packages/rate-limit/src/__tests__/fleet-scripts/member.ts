/**
 * Fleet replica for the membership test: one limiter on Redis whose replica registry renews every
 * 200 ms with a 1 s TTL. Prints `count=<N>` whenever its count of the fleet changes, and closes
 * (leaving the registry) when its stdin ends.
 */
import { reportMessage } from '@breakwater/testkit/replica';
import { Redis } from 'ioredis';
import { rateLimiter } from '../../index.js';
import { redisStore } from '../../redis.js';

const url = process.env.REDIS_URL;
const prefix = process.env.PREFIX;
if (url === undefined || prefix === undefined) throw new Error('Missing REDIS_URL or PREFIX');
const client = new Redis(url);
const limiter = rateLimiter({
  name: 'members',
  limit: 100,
  intervalMs: 1000,
  store: redisStore({ client, prefix }),
  replicaRenewIntervalMs: 200,
  replicaTtlMs: 1000,
});

let last = 0;
const watch = setInterval(() => {
  const count = limiter.replicas?.count ?? 0;
  if (count !== last && limiter.replicas?.ageMs !== undefined) {
    last = count;
    void reportMessage(`count=${count}`);
  }
}, 10);

process.stdin.resume();
process.stdin.on('end', async () => {
  clearInterval(watch);
  await limiter.close();
  await client.quit();
});
