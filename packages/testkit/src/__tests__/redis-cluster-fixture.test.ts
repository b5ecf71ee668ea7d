import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { redisClusterFixture } from '../redis-cluster-fixture.js';
import { describeWithRedisCluster } from '../services.js';
import { isAlive } from './process-alive.js';

describeWithRedisCluster('redisClusterFixture', () => {
  let pids: number[] = [];
  let dirs: string[] = [];

  describe('a suite using the fixture', () => {
    const redis = redisClusterFixture();

    it('runs three masters that all report cluster_state:ok', async () => {
      expect(redis.nodes).toHaveLength(3);
      pids = redis.cluster.servers.map((server) => server.pid);
      dirs = redis.cluster.servers.map((server) => server.dir);
      for (const node of redis.nodes) {
        const direct = new Redis({ host: node.host, port: node.port });
        try {
          expect(await direct.cluster('INFO')).toContain('cluster_state:ok');
          expect(await direct.cluster('INFO')).toContain('cluster_slots_assigned:16384');
        } finally {
          direct.disconnect();
        }
      }
    });

    it('stores keys that live in different slots on different nodes', async () => {
      const keys = ['a', 'b', 'c', 'd', 'e', 'f'].map((k) => `${redis.prefix}:${k}`);
      for (const key of keys) await redis.client.set(key, key.toUpperCase());
      for (const key of keys) expect(await redis.client.get(key)).toBe(key.toUpperCase());

      const slots = await Promise.all(keys.map((key) => redis.client.cluster('KEYSLOT', key)));
      expect(new Set(slots).size).toBeGreaterThan(1);
      const perNode = await Promise.all(redis.client.nodes('master').map((node) => node.dbsize()));
      expect(perNode.filter((count) => count > 0).length).toBeGreaterThan(1);
    });

    it('runs multi-key commands on hash-tagged keys in one slot', async () => {
      const a = `${redis.prefix}:{tag}:a`;
      const b = `${redis.prefix}:{tag}:b`;
      await redis.client.mset(a, '1', b, '2');
      expect(await redis.client.mget(a, b)).toEqual(['1', '2']);
    });
  });

  it('stopped every node and removed their dirs after the suite', () => {
    expect(pids).toHaveLength(3);
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
    for (const dir of dirs) expect(existsSync(dir)).toBe(false);
  });
});
