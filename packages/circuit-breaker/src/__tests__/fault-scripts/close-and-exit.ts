/**
 * Exit check child: builds a breaker on a Redis store as a new user would (ioredis defaults, the
 * store's own subscriber), says "ready", waits for the test to break Redis (refused or hung) and
 * send "go", then closes the breaker, the store and its own client, reports how long `close()`
 * took, and must then exit by itself. REDIS_URL and PREFIX come from the test.
 */
import { reportClosed, waitForParent } from '@breakwater/testkit/exit-child';
import { reportMessage } from '@breakwater/testkit/replica';
import { Redis } from 'ioredis';
import { circuitBreaker } from '../../index.js';
import { redisStore } from '../../redis.js';

/**
 * Closes the user's own client at once, as a user shutting down with a broken Redis must: ioredis's
 * `disconnect()` alone keeps the socket (and the process) for its `disconnectTimeout` (2 s) when
 * the server never closes its side. Only the user's client: the store closes what it opened.
 */
function closeNow(redis: Redis): void {
  const stream = (
    redis as unknown as { stream?: NodeJS.EventEmitter & { closed?: boolean; destroy(): void } }
  ).stream;
  redis.disconnect();
  if (stream === undefined) return;
  // A socket that failed long ago never emits `close` again, which is what clears that timer.
  if (stream.closed === true) stream.emit('close', false);
  else stream.destroy();
}

const client = new Redis(process.env.REDIS_URL!);
client.on('error', () => {});
const store = redisStore({ client, prefix: process.env.PREFIX! });
const breaker = circuitBreaker({ name: 'payments', store, storeDeadlineMs: 200 });
await breaker.execute(() => 'ok');
// The store's subscriber is open once the first breaker started; a round trip on it proves it.
await new Promise((resolve) => setTimeout(resolve, 100));
await reportMessage('ready');
await waitForParent();
await breaker.execute(() => 'ok');
const started = performance.now();
await breaker.close();
await store.close();
closeNow(client);
await reportMessage(`closed in ${Math.round(performance.now() - started)} ms`);
reportClosed();
