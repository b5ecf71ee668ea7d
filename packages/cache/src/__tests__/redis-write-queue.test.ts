/**
 * The Redis write-behind queue beyond the shared contract: its key layout, one round trip per
 * operation, recovery when the stream, the group or the script cache vanish, bounded idle
 * memory, and option validation.
 */
import { keySlot, type RedisClient } from '@breakwater/core/redis';
import {
  describeWithRedis,
  describeWithRedisCluster,
  type RedisServer,
  redisClusterFixture,
  redisFixture,
  startRedisServer,
} from '@breakwater/testkit';
import { type Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isWriteBehindBacklogError, writeBehind } from '../index.js';
import { redisWriteBehindQueue } from '../redis.js';
import type { WriteQueueScope } from '../write-behind/queue.js';

/** What core's adapter says for a client it does not accept. */
const ACCEPTED_CLIENTS =
  /^Expected `client` to be an ioredis or iovalkey `Redis` or `Cluster`, or a node-redis client from `createClient\(\)` or `createCluster\(\)`, got /;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const LOTS = 1_000_000;
const append = (ns: WriteQueueScope, key: string, payload: string, version?: number) =>
  ns.append(key, payload, { version, maxPending: LOTS });

const keysOf = (prefix: string, name: string) => {
  const head = `${prefix}:write-behind:{${name}:}:`;
  return {
    stream: `${head}stream`,
    versions: `${head}versions`,
    attempts: `${head}attempts`,
    dead: `${head}dead`,
    sweep: `${head}sweep`,
  };
};

/** Records the name of every command the client sends (the NOSCRIPT fallback included), in lower case. */
function countCommands(client: Redis | Cluster): { sent: string[] } {
  const sent: string[] = [];
  const target = client as unknown as { sendCommand: (command: { name: string }) => unknown };
  const original = target.sendCommand;
  target.sendCommand = function (this: unknown, command: { name: string }, ...rest: unknown[]) {
    sent.push(command.name.toLowerCase());
    return (original as (...args: unknown[]) => unknown).call(this, command, ...rest);
  };
  return { sent };
}

/** Runs every operation once and returns the commands each sent. */
async function commandsPerOperation(
  ns: WriteQueueScope,
  sent: string[],
): Promise<Record<string, string[]>> {
  const perOperation: Record<string, string[]> = {};
  const measure = async (operation: string, run: () => Promise<unknown>) => {
    sent.length = 0;
    await run();
    perOperation[operation] = [...sent];
  };
  await measure('append', () => append(ns, 'a', '1'));
  await append(ns, 'b', '2');
  let claimed: Awaited<ReturnType<WriteQueueScope['claim']>> = [];
  await measure('claim', async () => {
    claimed = await ns.claim('c1', 10, 60_000);
  });
  await measure('touch', () => ns.touch('c1', [claimed[0]!.id]));
  await measure('fail (retry)', () => ns.fail(claimed[1]!, 'Error: x', 2));
  await measure('fail (dead)', () => ns.fail(claimed[1]!, 'Error: x', 2));
  await measure('complete', () => ns.complete([claimed[0]!.id]));
  await measure('pending', () => ns.pending());
  await measure('backlog', () => ns.backlog());
  let letters: Awaited<ReturnType<WriteQueueScope['listDeadLetters']>> = [];
  await measure('listDeadLetters', async () => {
    letters = await ns.listDeadLetters(10);
  });
  await measure('deleteDeadLetters', () => ns.deleteDeadLetters(letters.map((l) => l.id)));
  await measure('probe', async () => {
    expect(await ns.probe!(AbortSignal.timeout(5_000))).toBe(1);
  });
  return perOperation;
}

const ONE_SCRIPT = ['evalsha'];
const EXPECTED_COMMANDS = {
  append: ONE_SCRIPT,
  claim: ONE_SCRIPT,
  touch: ONE_SCRIPT,
  'fail (retry)': ONE_SCRIPT,
  'fail (dead)': ONE_SCRIPT,
  complete: ONE_SCRIPT,
  pending: ['xlen'],
  backlog: ONE_SCRIPT,
  listDeadLetters: ['xrange'],
  deleteDeadLetters: ['xdel'],
  // core's redisProbe: a `return 1` script on the stream key, so the name's node answers it.
  probe: ONE_SCRIPT,
};

describeWithRedis('redisWriteBehindQueue on Redis', () => {
  const redis = redisFixture();

  const open = (prefix = redis.uniquePrefix(), name = 'orders', client: Redis = redis.client) =>
    redisWriteBehindQueue({ client, prefix }).scope(name);

  it('keeps every key of a name under one hash tag, in the documented layout', async () => {
    const prefix = redis.uniquePrefix();
    const ns = open(prefix);
    await append(ns, 'k1', 'v');
    await append(ns, 'k2', 'v');
    const [entry] = await ns.claim('c1', 1, 60_000);
    await ns.fail(entry!, 'Error: boom', 1);
    const [second] = await ns.claim('c1', 1, 60_000);
    await ns.fail(second!, 'Error: boom', 5);
    const keys = keysOf(prefix, 'orders');
    expect((await redis.client.keys(`${prefix}:*`)).sort()).toEqual(
      [keys.attempts, keys.dead, keys.stream, keys.sweep, keys.versions].sort(),
    );
    expect(new Set(Object.values(keys).map(keySlot)).size).toBe(1);
    expect(await redis.client.type(keys.stream)).toBe('stream');
    expect(await redis.client.type(keys.dead)).toBe('stream');
    const [[, fields]] = (await redis.client.xrange(keys.stream, '-', '+')) as [[string, string[]]];
    expect(fields.filter((_, i) => i % 2 === 0)).toEqual(['key', 'payload', 'version']);
    expect(await redis.client.hgetall(keys.attempts)).toEqual({ [second!.id]: '1' });
    const [[, letter]] = (await redis.client.xrange(keys.dead, '-', '+')) as [[string, string[]]];
    expect(letter).toEqual([
      'key',
      'k1',
      'payload',
      'v',
      'version',
      String(entry!.version),
      'attempts',
      '1',
      'error',
      'Error: boom',
      'entry',
      entry!.id,
    ]);
    const groups = (await redis.client.xinfo('GROUPS', keys.stream)) as unknown[][];
    expect(groups.map((group) => group[1])).toEqual(['breakwater']);
  });

  it('recovers when the consumer group is destroyed: held entries are delivered again', async () => {
    const prefix = redis.uniquePrefix();
    const ns = open(prefix);
    const keys = keysOf(prefix, 'orders');
    await append(ns, 'a', '1');
    await append(ns, 'b', '2');
    const held = await ns.claim('c1', 10, 60_000);
    expect(await ns.fail(held[0]!, 'Error: x', 5)).toEqual({ status: 'retry', attempts: 1 });
    await redis.client.xgroup('DESTROY', keys.stream, 'breakwater');
    // Without a group nothing is held: these change nothing and do not throw.
    await ns.touch('c1', [held[0]!.id]);
    await ns.complete(['0-1']);
    expect(await ns.pending()).toBe(2);
    const again = await ns.claim('c2', 10, 60_000);
    expect(again.map((e) => [e.key, e.attempts])).toEqual([
      ['a', 1],
      ['b', 0],
    ]);
    expect(await ns.claim('c3', 10, 60_000)).toEqual([]);
    await ns.complete(again.map((e) => e.id));
    expect(await ns.pending()).toBe(0);
  });

  it('recovers when the group is destroyed between a claim and its completion', async () => {
    const prefix = redis.uniquePrefix();
    const ns = open(prefix);
    await append(ns, 'a', '1');
    const [entry] = await ns.claim('c1', 10, 60_000);
    await redis.client.xgroup('DESTROY', keysOf(prefix, 'orders').stream, 'breakwater');
    await ns.complete([entry!.id]);
    expect(await ns.pending()).toBe(0);
    expect(await ns.claim('c1', 10, 0)).toEqual([]);
    await append(ns, 'b', '2');
    const [late] = await ns.claim('c1', 10, 0);
    expect(await ns.fail(late!, 'Error: x', 1)).toEqual({ status: 'dead', attempts: 1 });
    expect(await ns.pending()).toBe(0);
  });

  it('recovers when the stream is deleted or the database flushed', async () => {
    const prefix = redis.uniquePrefix();
    const ns = open(prefix);
    const keys = keysOf(prefix, 'orders');
    await append(ns, 'a', '1');
    const [entry] = await ns.claim('c1', 10, 60_000);
    await redis.client.del(keys.stream, keys.versions, keys.attempts, keys.sweep);
    expect(await ns.pending()).toBe(0);
    expect(await ns.claim('c1', 10, 0)).toEqual([]);
    await ns.touch('c1', [entry!.id]);
    await ns.complete([entry!.id]);
    expect(await ns.fail(entry!, 'Error: x', 1)).toEqual({ status: 'gone' });
    expect(await ns.listDeadLetters(10)).toEqual([]);
    const version = await append(ns, 'a', '2');
    expect(version).toBeGreaterThan(entry!.version);
    const [fresh] = await ns.claim('c2', 10, 60_000);
    expect(fresh).toMatchObject({ key: 'a', payload: '2', version, attempts: 0 });
  });

  it('drops an entry deleted behind its back from the group when re-claiming', async () => {
    const prefix = redis.uniquePrefix();
    const ns = open(prefix);
    const keys = keysOf(prefix, 'orders');
    await append(ns, 'a', '1');
    await append(ns, 'b', '2');
    const held = await ns.claim('c1', 10, 60_000);
    await ns.fail(held[0]!, 'Error: x', 5);
    await redis.client.xdel(keys.stream, held[0]!.id);
    await sleep(20);
    expect((await ns.claim('c2', 10, 10)).map((e) => e.key)).toEqual(['b']);
    expect(await redis.client.hlen(keys.attempts)).toBe(0);
    const pel = (await redis.client.xpending(keys.stream, 'breakwater')) as [number];
    expect(pel[0]).toBe(1);
  });

  it('empties its bookkeeping once everything is persisted or dead-lettered', async () => {
    const prefix = redis.uniquePrefix();
    const ns = open(prefix);
    const keys = keysOf(prefix, 'orders');
    for (let i = 0; i < 300; i++) await append(ns, `k${i % 50}`, String(i));
    expect(await redis.client.hlen(keys.versions)).toBe(50);
    let round = 0;
    for (;;) {
      const batch = await ns.claim(`c${round % 3}`, 64, 60_000);
      if (batch.length === 0) break;
      // Every third entry fails once before it is persisted; a few are dead-lettered.
      for (const [i, entry] of batch.entries()) {
        if (i % 3 === 0) await ns.fail(entry, 'Error: flaky', 8);
        if (i === 1) await ns.fail(entry, 'Error: poison', 1);
      }
      await ns.complete(batch.map((e) => e.id));
      round++;
    }
    expect(await ns.pending()).toBe(0);
    expect(await redis.client.xlen(keys.stream)).toBe(0);
    expect(await redis.client.hlen(keys.versions)).toBe(0);
    expect(await redis.client.hlen(keys.attempts)).toBe(0);
    const pel = (await redis.client.xpending(keys.stream, 'breakwater')) as [number];
    expect(pel[0]).toBe(0);
    expect((await ns.listDeadLetters(100)).length).toBe(round);
    // Versions keep growing after the queue forgot the keys.
    const version = await append(ns, 'k0', 'later');
    expect(version).toBeGreaterThan(Date.now() * 1000 - 60_000_000);
  });

  it('reports the oldest pending entry of the backlog, whatever was completed before it', async () => {
    const ns = open();
    for (let i = 0; i < 5; i++) {
      await append(ns, `k${i}`, String(i));
      await sleep(3);
    }
    const claimed = await ns.claim('c1', 5, 60_000);
    await ns.complete([claimed[0]!.id, claimed[1]!.id, claimed[3]!.id]);
    expect(await ns.backlog()).toEqual({ pending: 2, oldestEnqueuedAt: claimed[2]!.enqueuedAt });
    await ns.complete([claimed[2]!.id, claimed[4]!.id]);
    expect(await ns.backlog()).toEqual({ pending: 0, oldestEnqueuedAt: undefined });
  });

  it('keeps a version that is ahead of the clock until the clock passes it', async () => {
    const prefix = redis.uniquePrefix();
    const ns = open(prefix);
    const future = (Date.now() + 3_600_000) * 1000;
    await append(ns, 'k', 'v', future);
    const [entry] = await ns.claim('c1', 1, 60_000);
    await ns.complete([entry!.id]);
    expect(await redis.client.hget(keysOf(prefix, 'orders').versions, 'k')).toBe(String(future));
    expect(await append(ns, 'k', 'next')).toBe(future + 1);
  });

  it('removes consumers that hold nothing and stopped claiming, never ones holding entries', async () => {
    const prefix = redis.uniquePrefix();
    const ns = redisWriteBehindQueue({
      client: redis.client,
      prefix,
      idleConsumerMs: 300,
    }).scope('orders');
    const keys = keysOf(prefix, 'orders');
    const consumers = async () =>
      ((await redis.client.xinfo('CONSUMERS', keys.stream, 'breakwater')) as unknown[][])
        .map((info) => String(info[1]))
        .sort();
    await append(ns, 'a', '1');
    await append(ns, 'b', '2');
    const [first] = await ns.claim('gone-empty', 1, 60_000);
    await ns.complete([first!.id]);
    await ns.claim('gone-holding', 1, 60_000);
    expect(await consumers()).toEqual(['gone-empty', 'gone-holding']);
    await sleep(400);
    await append(ns, 'c', '3');
    expect((await ns.claim('alive', 10, 60_000)).map((e) => e.key)).toEqual(['c']);
    expect(await consumers()).toEqual(['alive', 'gone-holding']);
  });

  it('lets replicas share a name through separate queue objects', async () => {
    const prefix = redis.uniquePrefix();
    const a = open(prefix);
    const b = open(prefix);
    const version = await append(a, 'k', 'from a');
    const [entry] = await b.claim('b', 10, 60_000);
    expect(entry).toMatchObject({ key: 'k', payload: 'from a', version });
    expect(await a.pending()).toBe(1);
    await b.complete([entry!.id]);
    expect(await a.pending()).toBe(0);
  });

  it('isolates prefixes and groups', async () => {
    const prefix = redis.uniquePrefix();
    const ns = redisWriteBehindQueue({ client: redis.client, prefix, group: 'billing' }).scope(
      'orders',
    );
    await append(ns, 'k', 'v');
    await ns.claim('c1', 10, 60_000);
    const groups = (await redis.client.xinfo(
      'GROUPS',
      keysOf(prefix, 'orders').stream,
    )) as unknown[][];
    expect(groups.map((group) => group[1])).toEqual(['billing']);
    expect(await open(redis.uniquePrefix()).pending()).toBe(0);
  });

  it('names the write-behind in the backlog error', async () => {
    const ns = open(redis.uniquePrefix(), 'payments');
    await ns.append('k', 'v', { version: undefined, maxPending: 1 });
    const error = await ns
      .append('k', 'v', { version: undefined, maxPending: 1 })
      .catch((e: unknown) => e);
    expect(isWriteBehindBacklogError(error)).toBe(true);
    expect(error).toMatchObject({ policyName: 'payments', maxPending: 1 });
    // An unbounded queue takes anything.
    await expect(
      ns.append('k', 'v', { version: undefined, maxPending: Number.POSITIVE_INFINITY }),
    ).resolves.toBeGreaterThan(0);
  });

  it('treats malformed ids as unknown, and zero counts as nothing', async () => {
    const ns = open();
    await append(ns, 'k', 'v');
    expect(await ns.claim('c1', 0, 60_000)).toEqual([]);
    const [entry] = await ns.claim('c1', 1, 60_000);
    await ns.touch('c1', ['x', '']);
    await ns.complete(['x', '1-2-3']);
    expect(await ns.fail({ ...entry!, id: 'nope' }, 'Error: x', 1)).toEqual({ status: 'gone' });
    expect(await ns.deleteDeadLetters(['x'])).toBe(0);
    expect(await ns.listDeadLetters(0)).toEqual([]);
    await expect(ns.listDeadLetters(10, 'nope')).rejects.toThrow(/`after`.*"nope"/);
    expect(await ns.pending()).toBe(1);
  });

  it("answers a dead-letter id it cannot have given with the caller's error, not a store failure", async () => {
    const queue = redisWriteBehindQueue({ client: redis.client, prefix: redis.uniquePrefix() });
    const wb = writeBehind({
      name: 'orders',
      queue,
      persist: () => {},
      flusher: false,
      storeFailureThreshold: 1,
    });
    await expect(wb.deadLetters.list({ after: 'nope' })).rejects.toThrow(RangeError);
    await expect(wb.deadLetters.list({ after: 'nope' })).rejects.toThrow(/`after`.*"nope"/);
    expect(wb.storeStatus).toBe('healthy');
    await expect(wb.deadLetters.list()).resolves.toEqual([]);
    await wb.close();
    // The queue owns nothing: closing it changes nothing for its scopes.
    await queue.close();
    await queue[Symbol.asyncDispose]();
    await expect(append(queue.scope('orders'), 'k', 'v')).resolves.toBeGreaterThan(0);
  });

  it('stores payloads and keys byte for byte', async () => {
    const ns = open();
    const payload = `\u0000bin\r\n${'ü'.repeat(10_000)}`;
    const key = `{weird}:key\u0000${'x'.repeat(1_000)}`;
    const version = await append(ns, key, payload);
    const [entry] = await ns.claim('c1', 1, 60_000);
    expect(entry).toMatchObject({ key, payload, version });
  });
});

// Command counts need a Redis no other test file flushes scripts of (or loads ours into).
describeWithRedis('redisWriteBehindQueue on a Redis of its own', () => {
  let server: RedisServer | undefined;
  const clients: Redis[] = [];
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    for (const client of clients.splice(0)) client.disconnect();
    await server?.stop();
  });
  const connect = async () => {
    const client = new Redis(server!.url, { lazyConnect: true });
    clients.push(client);
    await client.connect();
    return client;
  };

  it('sends one command per operation', async () => {
    const client = await connect();
    const ns = redisWriteBehindQueue({ client, prefix: 'counted' }).scope('orders');
    await commandsPerOperation(ns, []); // loads the scripts
    const { sent } = countCommands(client);
    expect(await commandsPerOperation(ns, sent)).toEqual(EXPECTED_COMMANDS);
  });

  it('recovers from SCRIPT FLUSH with one extra EVAL per script', async () => {
    const client = await connect();
    const ns = redisWriteBehindQueue({ client, prefix: 'flushed' }).scope('orders');
    await append(ns, 'warm', 'up');
    await client.script('FLUSH');
    const { sent } = countCommands(client);
    const perOperation = await commandsPerOperation(ns, sent);
    expect(perOperation.append).toEqual(['evalsha', 'eval']);
    expect(perOperation.claim).toEqual(['evalsha', 'eval']);
    expect(perOperation.complete).toEqual(['evalsha', 'eval']);
    expect(await ns.pending()).toBe(1); // 'warm'
    // Back to EVALSHA alone.
    sent.length = 0;
    await append(ns, 'again', 'v');
    expect(sent).toEqual(['evalsha']);
  });
});

describeWithRedisCluster('redisWriteBehindQueue on a Redis Cluster', () => {
  const cluster = redisClusterFixture();

  it('sends one command per operation, to the slot of the name', async () => {
    const client = cluster.newClient();
    await new Promise<void>((resolve) => client.once('ready', () => resolve()));
    const ns = redisWriteBehindQueue({ client, prefix: cluster.uniquePrefix() }).scope('orders');
    await commandsPerOperation(ns, []);
    const { sent } = countCommands(client);
    expect(await commandsPerOperation(ns, sent)).toEqual(EXPECTED_COMMANDS);
  });

  it('recovers from SCRIPT FLUSH on every master', async () => {
    const ns = redisWriteBehindQueue({
      client: cluster.client,
      prefix: cluster.uniquePrefix(),
    }).scope('orders');
    await append(ns, 'a', '1');
    await Promise.all(cluster.client.nodes('master').map((node) => node.script('FLUSH')));
    await append(ns, 'b', '2');
    const claimed = await ns.claim('c1', 10, 60_000);
    expect(claimed.map((e) => e.key)).toEqual(['a', 'b']);
    await ns.touch('c1', [claimed[0]!.id]);
    expect(await ns.fail(claimed[1]!, 'Error: x', 1)).toEqual({ status: 'dead', attempts: 1 });
    await ns.complete([claimed[0]!.id]);
    expect(await ns.pending()).toBe(0);
  });

  it('spreads names over slots and keeps each name in one', async () => {
    const prefix = cluster.uniquePrefix();
    const queue = redisWriteBehindQueue({ client: cluster.client, prefix });
    const slots = new Set<number>();
    for (const name of ['orders', 'profiles', 'payments', 'carts', 'sessions']) {
      const keys = Object.values(keysOf(prefix, name));
      expect(new Set(keys.map(keySlot)).size).toBe(1);
      slots.add(keySlot(keys[0]!));
      const ns = queue.scope(name);
      await append(ns, 'k', name);
      expect((await ns.claim('c1', 10, 60_000)).map((e) => e.payload)).toEqual([name]);
    }
    expect(slots.size).toBeGreaterThan(1);
  });
});

describe('redisWriteBehindQueue options', () => {
  // The shape core's adapter tells a node-redis client by; no command is sent in these tests.
  const client = { sendCommand() {}, duplicate() {} } as unknown as RedisClient;

  it('rejects a client it does not accept, naming `client` and listing the accepted clients', () => {
    for (const [given, shown] of [
      [undefined, 'got undefined'],
      [{}, 'got {}'],
      ['redis://127.0.0.1:6379', 'got "redis://127.0.0.1:6379"'],
      [{ evalsha() {}, xlen() {} }, 'got {}'],
    ] as const) {
      const build = () => redisWriteBehindQueue({ client: given as never });
      expect(build).toThrow(TypeError);
      expect(build).toThrow(ACCEPTED_CLIENTS);
      expect(build).toThrow(shown);
    }
  });

  it('rejects bad options, naming the option and the value', () => {
    expect(() => redisWriteBehindQueue(null as never)).toThrow(
      /Expected `options` to be an object, got null/,
    );
    expect(() => redisWriteBehindQueue({ client, prefix: '' })).toThrow(
      /Expected `prefix` to be a non-empty string, got ""/,
    );
    expect(() => redisWriteBehindQueue({ client, prefix: 'a{b}' })).toThrow(/`prefix`.*"a\{b\}"/);
    expect(() => redisWriteBehindQueue({ client, group: '' })).toThrow(
      /Expected `group` to be a non-empty string, got ""/,
    );
    expect(() => redisWriteBehindQueue({ client, idleConsumerMs: 0 })).toThrow(
      /Expected `idleConsumerMs` to be an integer >= 1, got 0/,
    );
    expect(() => redisWriteBehindQueue({ client, idleConsumerMs: 1.5 })).toThrow(
      /`idleConsumerMs`.*1\.5/,
    );
    expect(() => redisWriteBehindQueue({ client }).scope('')).toThrow(
      /Expected `name` to be a non-empty string/,
    );
  });

  it('rejects a version that is not a non-negative integer', async () => {
    const ns = redisWriteBehindQueue({ client }).scope('orders');
    await expect(ns.append('k', 'v', { version: 1.5, maxPending: 1 })).rejects.toThrow(
      /Expected `version` to be an integer >= 0, got 1.5/,
    );
    await expect(ns.append('k', 'v', { version: -1, maxPending: 1 })).rejects.toThrow(/`version`/);
  });
});
