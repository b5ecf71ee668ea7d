import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Redis } from 'ioredis';
import { expect, it, vi } from 'vitest';
import { findFreePort } from '../free-port.js';
import { killLeftoverServers } from '../leftover-servers.js';
import { startRedisServer } from '../redis-server.js';
import { RUN_DIR_ENV } from '../scratch-dir.js';
import { describeWithRedisCluster } from '../services.js';
import { isAlive } from './process-alive.js';

describeWithRedisCluster('startRedisServer', () => {
  it('starts a throwaway server that can be killed and brought back on the same port', async () => {
    const server = await startRedisServer({ args: ['--maxmemory', '16mb'] });
    const client = new Redis(server.url, { maxRetriesPerRequest: 0, retryStrategy: () => 50 });
    client.on('error', () => {});
    try {
      expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
      await client.set('k', 'v');
      expect(await client.config('GET', 'maxmemory')).toEqual([
        'maxmemory',
        String(16 * 1024 * 1024),
      ]);

      await server.kill();
      expect(server.exited).toBe(true);
      expect(isAlive(server.pid)).toBe(false);
      expect(existsSync(server.dir)).toBe(false);
      await expect(client.get('k')).rejects.toThrow();

      const again = await startRedisServer({ port: server.port });
      try {
        // Persistence is off: the data died with the first process.
        await expect.poll(() => client.get('k').catch(() => 'unreachable')).toBeNull();
      } finally {
        await again.stop();
      }
      expect(isAlive(again.pid)).toBe(false);
    } finally {
      client.disconnect();
      await server.stop();
    }
  });

  it('fails clearly when the port is taken', async () => {
    const server = await startRedisServer();
    try {
      await expect(startRedisServer({ port: server.port })).rejects.toThrow(
        /Address already in use/,
      );
    } finally {
      await server.stop();
    }
  });

  it('findFreePort can require a free cluster bus port', async () => {
    const port = await findFreePort({ withClusterBus: true });
    expect(port + 10_000).toBeLessThanOrEqual(65_535);
  });

  it('leaves a pid file from which the global teardown can kill a leftover server', async () => {
    const runDir = mkdtempSync(join(tmpdir(), 'breakwater-testkit-leftover-test-'));
    vi.stubEnv(RUN_DIR_ENV, runDir);
    try {
      const server = await startRedisServer();
      expect(dirname(server.dir)).toBe(runDir);
      expect(killLeftoverServers(runDir)).toEqual([server.pid]);
      await expect.poll(() => server.exited).toBe(true);
      await server.stop();
      expect(killLeftoverServers(runDir)).toEqual([]);
    } finally {
      vi.unstubAllEnvs();
      rmSync(runDir, { recursive: true, force: true });
    }
  });
});
