import { randomUUID } from 'node:crypto';
import {
  closeRedisClient,
  connectRedisClient,
  connectRedisClusterClient,
  describeWithRedis,
  describeWithRedisCluster,
  REDIS_CLIENT_KINDS,
  REDIS_CLUSTER_CLIENT_KINDS,
  type RedisClientKind,
  redisClusterFixture,
  redisFixture,
} from '@breakwater/testkit';
import { Redis as Ioredis } from 'ioredis';
import { Redis as Valkey } from 'iovalkey';
import { createClient, createCluster } from 'redis';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import {
  defineScript,
  isRedisConnection,
  keySlot,
  type RedisClient,
  type RedisConnection,
  redisConnection,
  redisLibraryOf,
  runScript,
  type SubscriberEvents,
} from '../redis.js';

const ACCEPTED =
  'an ioredis or iovalkey `Redis` or `Cluster`, or a node-redis client from `createClient()` or ' +
  '`createCluster()`';

describe('redisConnection()', () => {
  it('names the option and lists the accepted clients for anything else', () => {
    expect(() => redisConnection({})).toThrow(`Expected \`client\` to be ${ACCEPTED}, got {}`);
    expect(() => redisConnection('redis://localhost:6379', 'subscriber')).toThrow(
      `Expected \`subscriber\` to be ${ACCEPTED}, got "redis://localhost:6379"`,
    );
    expect(() => redisConnection(null)).toThrow(TypeError);
    // Half a client is none: node-redis without duplicate(), ioredis without pipeline().
    expect(() => redisConnection({ sendCommand() {} })).toThrow(TypeError);
    expect(() => redisConnection({ evalsha() {}, duplicate() {} })).toThrow(TypeError);
  });

  it('tells the libraries apart by shape, without connecting', () => {
    const io = new Ioredis({ lazyConnect: true });
    const valkey = new Valkey({ lazyConnect: true });
    const node = createClient();
    const nodeCluster = createCluster({ rootNodes: [{ url: 'redis://127.0.0.1:1' }] });
    expect(redisLibraryOf(io)).toBe('ioredis');
    expect(redisLibraryOf(valkey)).toBe('ioredis');
    expect(redisLibraryOf(node)).toBe('node-redis');
    expect(redisLibraryOf(nodeCluster)).toBe('node-redis');
    expect(redisLibraryOf({})).toBeUndefined();
    expect(redisConnection(nodeCluster).isCluster).toBe(true);
    expect(redisConnection(node).isCluster).toBe(false);
    expect(redisConnection(io).isCluster).toBe(false);
    io.disconnect();
    valkey.disconnect();
  });

  it('makes one connection per client, and passes a connection through', () => {
    const io = new Ioredis({ lazyConnect: true, keyPrefix: 'app:' });
    const connection = redisConnection(io);
    expect(isRedisConnection(connection)).toBe(true);
    expect(isRedisConnection(io)).toBe(false);
    expect(redisConnection(io)).toBe(connection);
    expect(redisConnection(connection)).toBe(connection);
    expect(connection.keyPrefix).toBe('app:');
    expect(connection.client).toBe(io);
    io.disconnect();
  });

  it("accepts every library's client type where a store takes a `RedisClient`", () => {
    expectTypeOf<Ioredis>().toExtend<RedisClient>();
    expectTypeOf<Valkey>().toExtend<RedisClient>();
    expectTypeOf<ReturnType<typeof createClient>>().toExtend<RedisClient>();
    expectTypeOf<ReturnType<typeof createCluster>>().toExtend<RedisClient>();
    expectTypeOf<string>().not.toExtend<RedisClient>();
  });
});

describe('node-redis subscriber of the store', () => {
  it('caps its reconnect waits at the close deadline, keeping the rest of the socket options', () => {
    const seen: {
      socket?: Record<string, unknown>;
      defaults?: { socket?: Record<string, unknown> };
    }[] = [];
    const spy = <T extends { duplicate(overrides?: object): unknown }>(client: T): T => {
      const original = client.duplicate.bind(client);
      client.duplicate = (overrides?: object) => {
        seen.push(overrides as never);
        return original(overrides);
      };
      return client;
    };
    const cause = new Error('ECONNREFUSED');
    // Theirs: a 5 s wait, which would keep a closed process alive for up to 5 s.
    const client = spy(
      createClient({
        url: 'redis://127.0.0.1:1',
        socket: { connectTimeout: 1234, reconnectStrategy: () => 5_000 },
      }),
    );
    redisConnection(client).openSubscriber(150).closeNow();
    const socket = seen[0]!.socket!;
    expect(socket.connectTimeout).toBe(1234);
    expect((socket.reconnectStrategy as (n: number, e: Error) => number)(0, cause)).toBe(150);

    // The default strategy (no option): 50 ms doubling up to 2 s, capped the same way.
    const plain = spy(createClient({ url: 'redis://127.0.0.1:1' }));
    redisConnection(plain).openSubscriber(150).closeNow();
    const strategy = seen[1]!.socket!.reconnectStrategy as (n: number, e: Error) => number;
    expect(strategy(0, cause)).toBe(50);
    expect(strategy(10, cause)).toBe(150);

    // A Cluster's node clients take theirs from `defaults`.
    const cluster = spy(
      createCluster({
        rootNodes: [{ url: 'redis://127.0.0.1:1' }],
        defaults: { password: 'secret', socket: { reconnectStrategy: false } },
      }),
    );
    redisConnection(cluster).openSubscriber(150).closeNow();
    expect(seen[2]!.defaults).toMatchObject({ password: 'secret' });
    const clusterStrategy = seen[2]!.defaults!.socket!.reconnectStrategy as (
      n: number,
      e: Error,
    ) => unknown;
    expect(clusterStrategy(0, cause)).toBe(false);
  });
});

/** A script exercising every reply shape the stores read. */
const SHAPES = defineScript<unknown>({
  name: 'test.shapes',
  lua: `-- ${randomUUID()}
redis.call('SET', KEYS[1], ARGV[1])
return { 42, redis.call('GET', KEYS[1]), false, { 1, 'two' }, redis.call('INCRBY', KEYS[1], 1) }`,
  keys: 1,
});

function recorder(): SubscriberEvents & { messages: string[] } {
  const messages: string[] = [];
  return {
    messages,
    message: (channel, payload) => messages.push(`${channel}:${payload}`),
    lost: () => {},
    ready: () => {},
  };
}

async function eventually(check: () => boolean, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The same checks on every client kind, standalone or Cluster. */
function sameBehaviour(
  kind: RedisClientKind,
  connect: () => Promise<RedisClient>,
  prefix: () => string,
): void {
  let client: RedisClient;
  let redis: RedisConnection;
  beforeAll(async () => {
    client = await connect();
    redis = redisConnection(client);
  });
  afterAll(() => closeRedisClient(client));

  it(`sends commands and decodes replies as every other client does (${kind})`, async () => {
    const key = `${prefix()}:plain`;
    expect(await redis.send('SET', [key, 'v'], key)).toBe('OK');
    expect(await redis.send('GET', [key], key)).toBe('v');
    expect(await redis.send('INCRBY', [`${key}:n`, 5], `${key}:n`)).toBe(5);
    expect(await redis.send('GET', [`${key}:none`], `${key}:none`)).toBeNull();
    await expect(redis.send('INCR', [key], key)).rejects.toThrow(/not an integer/);
  });

  it(`runs scripts, falling back to EVAL after SCRIPT FLUSH, with the same replies (${kind})`, async () => {
    const key = `${prefix()}:shapes`;
    await redis.send('SCRIPT', ['FLUSH']);
    const reply = await runScript(redis, SHAPES, [key], [7]);
    expect(reply).toEqual([42, '7', null, [1, 'two'], 8]);
    // Cached now: the same again.
    expect(await runScript(redis, SHAPES, [key], ['9'])).toEqual([42, '9', null, [1, 'two'], 10]);
  });

  it(`sends a sequence on one connection, each reply or its error in order (${kind})`, async () => {
    const key = `${prefix()}:seq`;
    const replies = await redis.sequence(
      [
        ['SET', key, 'x'],
        ['INCR', key],
        ['WAIT', 0, 0],
      ],
      key,
    );
    expect(replies[0]).toBe('OK');
    expect(replies[1]).toBeInstanceOf(Error);
    expect(replies[2]).toBe(0);
  });

  it(`delivers messages to a subscriber of its own, and closes it at once (${kind})`, async () => {
    const channel = `${prefix()}:channel`;
    const subscriber = redis.openSubscriber(1000);
    const events = recorder();
    subscriber.attach(events);
    await subscriber.subscribe(channel);
    await redis.send('PUBLISH', [channel, 'hello']);
    await eventually(() => events.messages.length === 1);
    expect(events.messages).toEqual([`${channel}:hello`]);
    subscriber.detach();
    await redis.send('PUBLISH', [channel, 'unheard']);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(events.messages).toHaveLength(1);
    subscriber.closeNow();
  });

  it(`uses a subscriber of the user's, and leaves it open (${kind})`, async () => {
    const channel = `${prefix()}:user-channel`;
    const own = await connect();
    try {
      const subscriber = redis.adoptSubscriber(own);
      const events = recorder();
      subscriber.attach(events);
      await subscriber.subscribe(channel);
      await redis.send('PUBLISH', [channel, 'one']);
      await eventually(() => events.messages.length === 1);
      await subscriber.unsubscribe([channel]);
      subscriber.detach();
      subscriber.closeNow();
      // Still the user's, still open: it can subscribe again.
      const again = redis.adoptSubscriber(own);
      const more = recorder();
      again.attach(more);
      await again.subscribe(channel);
      await redis.send('PUBLISH', [channel, 'two']);
      await eventually(() => more.messages.length === 1);
    } finally {
      closeRedisClient(own);
    }
  });
}

for (const kind of REDIS_CLIENT_KINDS) {
  describeWithRedis(`RedisConnection on Redis (${kind})`, () => {
    const fixture = redisFixture();
    sameBehaviour(kind, () => connectRedisClient(kind, fixture.url), fixture.uniquePrefix);
  });
}

for (const kind of REDIS_CLUSTER_CLIENT_KINDS) {
  describeWithRedisCluster(`RedisConnection on a Redis Cluster (${kind})`, () => {
    const fixture = redisClusterFixture();
    // Keys of the checks spread over slots, so several masters answer.
    sameBehaviour(kind, () => connectRedisClusterClient(kind, fixture.nodes), fixture.uniquePrefix);

    it(`routes each command to the master of its key's slot (${kind})`, async () => {
      const client = await connectRedisClusterClient(kind, fixture.nodes);
      try {
        const redis = redisConnection(client);
        const keys = Array.from({ length: 12 }, (_, i) => `${fixture.prefix}:route:${i}`);
        expect(new Set(keys.map(keySlot)).size).toBeGreaterThan(1);
        for (const key of keys) await redis.send('SET', [key, key], key);
        for (const key of keys) expect(await redis.send('GET', [key], key)).toBe(key);
      } finally {
        closeRedisClient(client);
      }
    });
  });
}
