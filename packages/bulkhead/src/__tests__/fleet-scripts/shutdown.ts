/**
 * Shutdown replica: builds a fleet bulkhead on a Redis store the way the README does (the store
 * opens its own subscriber), runs a call, reports `ready`, and waits for the end of its stdin —
 * meanwhile the test may break Redis. Then it runs one more call, closes the bulkhead, the store
 * and its own client, and reports. It must then exit by itself: nothing of the store may keep it
 * alive.
 *
 * Env: REDIS_URL, PREFIX, DISCONNECT_TIMEOUT_MS (the client's ioredis `disconnectTimeout`, which
 * the store's subscriber inherits through `duplicate()`; unset for the ioredis default).
 */
import { createInterface } from 'node:readline';
import { reportMessage, reportResult } from '@breakwater/testkit/replica';
import { Redis } from 'ioredis';
import { bulkhead } from '../../index.js';
import { redisStore } from '../../redis.js';

const disconnectTimeout = process.env.DISCONNECT_TIMEOUT_MS;
const client = new Redis(
  process.env.REDIS_URL!,
  disconnectTimeout === undefined ? {} : { disconnectTimeout: Number(disconnectTimeout) },
);
client.on('error', () => {});
const store = redisStore({ client, prefix: process.env.PREFIX });
const db = bulkhead({ name: 'shutdown', maxConcurrent: 2, store, storeDeadlineMs: 200 });

await db.execute(() => 'up');
await reportMessage('ready');
await new Promise((resolve) => createInterface({ input: process.stdin }).once('close', resolve));

const outcome = await db
  .execute(() => 'ran')
  .then(
    (value) => value,
    (error: unknown) => (error as Error).name,
  );
const started = performance.now();
await db.close();
await store.close();
const closeMs = performance.now() - started;
client.disconnect();
await reportResult({ outcome, closeMs });
await reportMessage('closed');
