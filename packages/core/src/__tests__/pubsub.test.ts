import { fileURLToPath } from 'node:url';
import {
  describeWithRedis,
  describeWithRedisCluster,
  expectExitsByItself,
  type RedisServer,
  redisFixture,
  startFaultProxy,
  startRedisServer,
} from '@breakwater/testkit';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { expectSubscriber, PubSubRouter, settleWithin } from '../redis.js';

/** Resolves once `predicate` holds, polling every 5 ms; fails after `ms`. */
async function until(predicate: () => boolean, ms = 3000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function recorder(): {
  messages: string[];
  gaps: number;
  listener: { message(payload: string): void; gap(): void };
} {
  const state = {
    messages: [] as string[],
    gaps: 0,
    listener: {
      message: (payload: string) => state.messages.push(payload),
      gap: () => {
        state.gaps++;
      },
    },
  };
  return state;
}

describe('expectSubscriber', () => {
  it('accepts undefined, false and a client; names the option otherwise', () => {
    expect(expectSubscriber(undefined)).toBeUndefined();
    expect(expectSubscriber(false)).toBe(false);
    expect(() => expectSubscriber({ subscribe: 1 })).toThrow(
      'Expected `subscriber` to be a Redis client (ioredis or iovalkey `Redis` or `Cluster`, ' +
        'node-redis client or Cluster) or false, got {"subscribe":1}',
    );
    expect(() => expectSubscriber('redis://localhost')).toThrow(TypeError);
    expect(
      () =>
        new PubSubRouter({ client: {} as Redis, subscriber: true as never, closeDeadlineMs: 10 }),
    ).toThrow('Expected `subscriber`');
  });
});

describeWithRedis('PubSubRouter on Redis', () => {
  const redis = redisFixture();

  const subscribers = async (channel: string): Promise<number> => {
    const [, count] = (await redis.client.pubsub('NUMSUB', channel)) as [string, number];
    return Number(count);
  };

  it('opens a subscriber of its own, routes by channel, and reports the gap once subscribed', async () => {
    const router = new PubSubRouter({ client: redis.client, closeDeadlineMs: 500 });
    const prefix = redis.uniquePrefix();
    const a = recorder();
    const b = recorder();
    router.listen(`${prefix}:a`, a.listener);
    router.listen(`${prefix}:b`, b.listener);
    await until(() => a.gaps === 1 && b.gaps === 1);
    await redis.client.publish(`${prefix}:a`, 'one');
    await redis.client.publish(`${prefix}:b`, 'two');
    await until(() => a.messages.length === 1 && b.messages.length === 1);
    expect(a.messages).toEqual(['one']);
    expect(b.messages).toEqual(['two']);
    expect(router.owned).toBe(true);
    await router.close();
  });

  it('closes its own connection when the last listener leaves, and reopens for the next', async () => {
    const router = new PubSubRouter({ client: redis.client, closeDeadlineMs: 500 });
    const channel = `${redis.uniquePrefix()}:c`;
    const first = recorder();
    const dispose = router.listen(channel, first.listener);
    await until(() => first.gaps === 1);
    expect(await subscribers(channel)).toBe(1);
    dispose();
    dispose();
    await until(() => router.size === 0);
    // The store's own connection is gone: nobody is subscribed any more.
    for (let i = 0; i < 100 && (await subscribers(channel)) !== 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(await subscribers(channel)).toBe(0);
    const second = recorder();
    router.listen(channel, second.listener);
    await until(() => second.gaps === 1);
    await redis.client.publish(channel, 'again');
    await until(() => second.messages.length === 1);
    await router.close();
  });

  it("leaves the user's subscriber connected and theirs, unsubscribing only its channels", async () => {
    const subscriber = redis.newClient();
    const router = new PubSubRouter({
      client: redis.client,
      subscriber,
      closeDeadlineMs: 500,
    });
    expect(router.owned).toBe(false);
    const channel = `${redis.uniquePrefix()}:user`;
    const rec = recorder();
    router.listen(channel, rec.listener);
    await until(() => rec.gaps === 1);
    await router.close();
    expect(subscriber.status).toBe('ready');
    expect(await subscribers(channel)).toBe(0);
    expect(subscriber.listenerCount('message')).toBe(0);
  });

  it('a store without subscriber (`false`) listens to nothing', async () => {
    const router = new PubSubRouter({
      client: redis.client,
      subscriber: false,
      closeDeadlineMs: 10,
    });
    expect(router.enabled).toBe(false);
    const dispose = router.listen('x', recorder().listener);
    dispose();
    expect(router.size).toBe(0);
    await router.close();
  });
});

describeWithRedisCluster('PubSubRouter with a Redis that dies or hangs', () => {
  let server: RedisServer | undefined;
  const clients: Redis[] = [];
  afterEach(async () => {
    if (server !== undefined) process.kill(server.pid, 'SIGCONT');
    for (const client of clients.splice(0)) client.disconnect();
    await server?.kill();
    server = undefined;
  });

  it('reports a gap when the connection is back after a restart', async () => {
    server = await startRedisServer();
    const client = new Redis(server.url);
    clients.push(client);
    const router = new PubSubRouter({ client, closeDeadlineMs: 200 });
    const rec = recorder();
    router.listen('events', rec.listener);
    await until(() => rec.gaps === 1);
    const port = server.port;
    await server.kill();
    server = await startRedisServer({ port });
    await until(() => rec.gaps === 2, 10_000);
    await client.publish('events', 'after restart');
    await until(() => rec.messages.length === 1, 5000);
    await router.close();
  });

  /** Drops the private server's subscriber connections; the clients reconnect by themselves. */
  const killSubscribers = (client: Redis) => client.call('CLIENT', 'KILL', 'TYPE', 'pubsub');

  /**
   * A router of `client` with one listener of `events`, which runs `onReconnect(router)` at its
   * second gap (the first after a reconnect); resolves once the first gap came.
   */
  const listenUntilReconnect = async (
    client: Redis,
    onReconnect: (router: PubSubRouter) => void,
  ) => {
    const router = new PubSubRouter({ client, closeDeadlineMs: 200 });
    const rec = recorder();
    router.listen('events', {
      message: rec.listener.message,
      gap: () => {
        rec.listener.gap();
        if (rec.gaps === 2) onReconnect(router);
      },
    });
    await until(() => rec.gaps === 1);
    return { router, rec };
  };

  it('reports the gap after a reconnect once the subscription is back: a message published from it arrives', async () => {
    server = await startRedisServer();
    const client = new Redis(server.url);
    clients.push(client);
    const { router, rec } = await listenUntilReconnect(client, () => {
      void client.publish('events', 'published from the gap');
    });
    await killSubscribers(client);
    await until(() => rec.gaps === 2, 10_000);
    await until(() => rec.messages.length === 1, 3000);
    expect(rec.messages).toEqual(['published from the gap']);
    await router.close();
  });

  it('closing as soon as the connection is back leaves no unhandled rejection', async () => {
    server = await startRedisServer();
    // Through a proxy that delays the replies, so that the SUBSCRIBE made again after the
    // reconnect is still waiting for its reply when the gap closes the router.
    const proxy = await startFaultProxy({ host: '127.0.0.1', port: server.port });
    const client = new Redis(proxy.port, '127.0.0.1');
    const direct = new Redis(server.url);
    clients.push(client, direct);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      let closing: Promise<void> | undefined;
      await listenUntilReconnect(client, (router) => {
        closing = router.close();
      });
      proxy.setFaults({ toDownstream: { latencyMs: 150 } });
      await killSubscribers(direct);
      await until(() => closing !== undefined, 10_000);
      await closing;
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(unhandled.map(String)).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await proxy.close();
    }
  });

  it('close() completes at once with the server refusing or hung, owned or not', async () => {
    server = await startRedisServer();
    const client = new Redis(server.url);
    const userSubscriber = new Redis(server.url);
    clients.push(client, userSubscriber);
    const owned = new PubSubRouter({ client, closeDeadlineMs: 200 });
    const users = new PubSubRouter({ client, subscriber: userSubscriber, closeDeadlineMs: 200 });
    const a = recorder();
    const b = recorder();
    owned.listen('x', a.listener);
    users.listen('y', b.listener);
    await until(() => a.gaps === 1 && b.gaps === 1);
    process.kill(server.pid, 'SIGSTOP');
    let started = performance.now();
    await owned.close();
    expect(performance.now() - started).toBeLessThan(50);
    started = performance.now();
    await users.close();
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(190);
    expect(waited).toBeLessThan(400);
  });
});

describeWithRedisCluster('PubSubRouter: a process exits once it closed what it built', () => {
  const script = fileURLToPath(new URL('./fixtures/owned-subscriber-exit.ts', import.meta.url));

  it.each(['refused', 'hung'] as const)('with Redis %s', async (fault) => {
    const server = await startRedisServer();
    try {
      await expectExitsByItself({
        script,
        env: { REDIS_URL: server.url },
        withinMs: 1000,
        drive: async (child) => {
          await child.waitForMessage('ready');
          if (fault === 'hung') process.kill(server.pid, 'SIGSTOP');
          else await server.kill();
          child.send('go');
        },
      });
    } finally {
      if (!server.exited) process.kill(server.pid, 'SIGCONT');
      await server.kill();
    }
  });
});

describe('settleWithin', () => {
  it('resolves when the promise settles or the time is up, never rejecting', async () => {
    await expect(settleWithin(Promise.reject(new Error('x')), 1000)).resolves.toBeUndefined();
    const started = performance.now();
    await settleWithin(new Promise(() => {}), 30);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
  });
});
