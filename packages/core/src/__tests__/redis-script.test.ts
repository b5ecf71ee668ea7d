import { randomUUID } from 'node:crypto';
import {
  describeWithRedis,
  describeWithRedisCluster,
  redisClusterFixture,
  redisFixture,
} from '@breakwater/testkit';
import { describe, expect, it } from 'vitest';
import {
  defineScript,
  isNoScriptError,
  isRedisCluster,
  keyBuilder,
  keySlot,
  type RedisConnection,
  type RedisScript,
  redisConnection,
  runScript,
  type ScriptClient,
} from '../redis.js';

/** Adds `by` to a counter and records the server time of the write; returns both. */
function counterScript(options: { checkSlots?: boolean } = {}): RedisScript<[number, number]> {
  return defineScript<[number, number]>({
    name: 'test.counter',
    // A unique comment makes the SHA1 unique, so no earlier run has cached this script.
    lua: `-- ${randomUUID()}
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
local now = redis.call('TIME')
redis.call('SET', KEYS[2], now[1])
return { count, tonumber(now[1]) }`,
    keys: 2,
    ...options,
  });
}

/** Wraps a client to record which commands the runner sends. */
function recording(client: ScriptClient): { client: ScriptClient; calls: string[] } {
  const calls: string[] = [];
  const inner = redisConnection(client);
  const wrapped: RedisConnection = {
    ...inner,
    evalsha: (...args) => {
      calls.push('evalsha');
      return inner.evalsha(...args);
    },
    eval: (...args) => {
      calls.push('eval');
      return inner.eval(...args);
    },
  };
  return { calls, client: wrapped };
}

describe('defineScript()', () => {
  it('computes the SHA1 once and validates the definition', () => {
    const script = defineScript({ name: 's', lua: 'return 1', keys: 0 });
    expect(script.sha1).toBe('e0e1f9fabfc9d4800c877a703b823ac0578ff8db');
    expect(Object.isFrozen(script)).toBe(true);
    expect(() => defineScript({ name: '', lua: 'return 1', keys: 0 })).toThrow(/`name`/);
    expect(() => defineScript({ name: 's', lua: '', keys: 0 })).toThrow(/`lua`/);
    expect(() => defineScript({ name: 's', lua: 'return 1', keys: -1 })).toThrow(
      'Expected `keys` to be an integer >= 0, got -1',
    );
  });

  it('recognises NOSCRIPT replies', () => {
    expect(isNoScriptError(new Error('NOSCRIPT No matching script.'))).toBe(true);
    expect(isNoScriptError(new Error('ERR boom'))).toBe(false);
    expect(isNoScriptError('NOSCRIPT')).toBe(false);
  });
});

describeWithRedis('runScript() on Redis', () => {
  const redis = redisFixture();
  const keys = keyBuilder({ prefix: redis.prefix, pattern: 'script-test', name: 'counter' });

  it('runs with EVALSHA, loading the script with EVAL on the first NOSCRIPT only', async () => {
    const script = counterScript();
    const { client, calls } = recording(redis.client);
    const decision = keys.redisKeys('user-1', ['count', 'ts']);
    const [first, time] = await runScript(client, script, decision, [2]);
    expect(first).toBe(2);
    expect(Math.abs(time - Date.now() / 1000)).toBeLessThan(60);
    expect(calls).toEqual(['evalsha', 'eval']);
    calls.length = 0;
    await expect(script.run(client, decision, ['3'])).resolves.toEqual([5, expect.any(Number)]);
    expect(calls).toEqual(['evalsha']);
    expect(await redis.client.get(decision[0]!)).toBe('5');
    expect(isRedisCluster(redis.client)).toBe(false);
  });

  it('survives SCRIPT FLUSH transparently, with one extra round trip', async () => {
    const script = counterScript();
    const { client, calls } = recording(redis.client);
    const decision = keys.redisKeys('user-2', ['count', 'ts']);
    await runScript(client, script, decision, [1]);
    await redis.client.script('FLUSH');
    calls.length = 0;
    await expect(runScript(client, script, decision, [1])).resolves.toEqual([
      2,
      expect.any(Number),
    ]);
    expect(calls).toEqual(['evalsha', 'eval']);
    calls.length = 0;
    await runScript(client, script, decision, [1]);
    expect(calls).toEqual(['evalsha']);
  });

  it('rejects script errors as Redis reports them, without retrying', async () => {
    const script = defineScript({
      name: 'boom',
      lua: "return redis.error_reply('ERR boom')",
      keys: 0,
    });
    const { client, calls } = recording(redis.client);
    await runScript(client, script, []).catch(() => {});
    calls.length = 0;
    await expect(runScript(client, script, [])).rejects.toThrow('ERR boom');
    expect(calls).toEqual(['evalsha']);
  });

  it('checks the number of keys', async () => {
    const script = counterScript();
    await expect(runScript(redis.client, script, ['only-one'])).rejects.toThrow(
      'Expected 2 keys for script `test.counter`, got 1',
    );
  });

  it("takes any number of keys with keys: 'any', each call passing its own", async () => {
    const script = defineScript<number>({
      name: 'test.count-keys',
      lua: 'return #KEYS * 100 + #ARGV',
      keys: 'any',
    });
    expect(script.keys).toBe('any');
    const tagged = keys.redisKeys('user-any', ['a', 'b', 'c']);
    await expect(runScript(redis.client, script, tagged, [1, 2])).resolves.toBe(302);
    await expect(runScript(redis.client, script, tagged.slice(0, 1), [])).resolves.toBe(100);
    await expect(runScript(redis.client, script, [], [7])).resolves.toBe(1);
  });

  it('refuses keys from different Cluster slots even on a single node, unless disabled', async () => {
    const spread = [keys.redisKey('a', 'count'), keys.redisKey('b', 'ts')];
    expect(keySlot(spread[0]!)).not.toBe(keySlot(spread[1]!));
    await expect(runScript(redis.client, counterScript(), spread, [1])).rejects.toThrow(
      /^Expected all keys of script `test\.counter` in one Redis Cluster slot, got .* in slot \d+ and .* in slot \d+$/,
    );
    const unchecked = counterScript({ checkSlots: false });
    expect(unchecked.checkSlots).toBe(false);
    await expect(runScript(redis.client, unchecked, spread, [1])).resolves.toEqual([
      1,
      expect.any(Number),
    ]);
  });

  it("honours the client's keyPrefix, in the keys and in the slot check", async () => {
    const prefixed = redis.newClient({ keyPrefix: `${redis.prefix}:kp:` });
    const bare = keyBuilder({ pattern: 'script-test', name: 'counter' });
    const decision = bare.redisKeys('user-3', ['count', 'ts']);
    await runScript(prefixed, counterScript(), decision, [7]);
    expect(await redis.client.get(`${redis.prefix}:kp:${decision[0]}`)).toBe('7');
  });
});

describeWithRedisCluster('runScript() on a 3-master Redis Cluster', () => {
  const cluster = redisClusterFixture();

  it('runs on every master and survives SCRIPT FLUSH on all of them', async () => {
    const keys = keyBuilder({ prefix: cluster.prefix, pattern: 'script-test', name: 'counter' });
    const script = counterScript();
    expect(isRedisCluster(cluster.client)).toBe(true);

    // Enough decisions that every master owns some of them.
    const decisions = Array.from({ length: 24 }, (_, i) =>
      keys.redisKeys(`user-${i}`, ['count', 'ts']),
    );
    const masters = cluster.client.nodes('master');
    expect(masters).toHaveLength(3);
    const ownerPorts = new Set<number>();
    for (const decision of decisions) {
      const slot = keySlot(decision[0]!);
      expect(await cluster.client.cluster('KEYSLOT', decision[0]!)).toBe(slot);
      const owner = cluster.client.slots[slot]?.[0];
      if (owner) ownerPorts.add(Number(owner.split(':')[1]));
    }
    expect(ownerPorts.size).toBe(3);

    for (const decision of decisions) {
      await expect(runScript(cluster.client, script, decision, [1])).resolves.toEqual([
        1,
        expect.any(Number),
      ]);
    }

    await Promise.all(masters.map((node) => node.script('FLUSH')));
    const exists = await Promise.all(masters.map((node) => node.script('EXISTS', script.sha1)));
    expect(exists).toEqual([[0], [0], [0]]);

    const { client, calls } = recording(cluster.client);
    for (const decision of decisions) {
      await expect(runScript(client, script, decision, [1])).resolves.toEqual([
        2,
        expect.any(Number),
      ]);
    }
    // Each master answered NOSCRIPT once, then had the script again.
    expect(calls.filter((call) => call === 'eval')).toHaveLength(3);
    expect(calls.filter((call) => call === 'evalsha')).toHaveLength(24);
  });

  it('would get CROSSSLOT from the Cluster for keys the development check refuses', async () => {
    const keys = keyBuilder({ prefix: cluster.prefix, pattern: 'script-test', name: 'counter' });
    const spread = [keys.redisKey('a', 'count'), keys.redisKey('b', 'ts')];
    await expect(
      runScript(cluster.client, counterScript({ checkSlots: false }), spread, [1]),
    ).rejects.toThrow(/CROSSSLOT/);
  });
});
