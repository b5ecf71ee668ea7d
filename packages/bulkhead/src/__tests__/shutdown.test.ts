import { fileURLToPath } from 'node:url';
import {
  describeWithRedisCluster,
  type RedisServer,
  spawnReplica,
  startRedisServer,
  uniquePrefix,
} from '@breakwater/testkit';
import { afterEach, expect, it } from 'vitest';

const script = fileURLToPath(new URL('./fleet-scripts/shutdown.ts', import.meta.url));

interface ShutdownReport {
  outcome: string;
  closeMs: number;
}

// A Redis of the test's own, to break (needs the redis-server binary, like clusters).
describeWithRedisCluster('a process using a fleet bulkhead exits by itself after close()', () => {
  let server: RedisServer | undefined;
  let paused = false;
  afterEach(async () => {
    if (paused && server !== undefined) process.kill(server.pid, 'SIGCONT');
    paused = false;
    await server?.stop();
    server = undefined;
  });

  const cases = [
    // With the ioredis defaults, as a new user would.
    { fault: 'none', env: {}, outcome: 'ran' },
    // ioredis destroys a socket the server does not close only after `disconnectTimeout` (2 s by
    // default), for the user's client and the store's subscriber alike (it inherits the
    // client's options): with a short one, only what Breakwater holds could keep the process.
    // The default `onStoreError: 'local'` runs the call without a permit, and its replica
    // registry (heartbeat timer, goodbye on close) must not keep the process either.
    { fault: 'refused', env: { DISCONNECT_TIMEOUT_MS: '100' }, outcome: 'ran' },
    { fault: 'hung', env: { DISCONNECT_TIMEOUT_MS: '100' }, outcome: 'ran' },
  ] as const;

  for (const { fault, env, outcome } of cases) {
    it(`with Redis ${fault === 'none' ? 'up' : fault}`, async () => {
      server = await startRedisServer();
      const replica = spawnReplica({
        script,
        env: { ...env, REDIS_URL: server.url, PREFIX: uniquePrefix() },
        stdin: true,
        timeoutMs: 30_000,
      });
      await replica.waitForMessage('ready', 20_000);
      if (fault === 'refused') await server.kill();
      if (fault === 'hung') {
        process.kill(server.pid, 'SIGSTOP');
        paused = true;
      }
      const closed = replica.waitForMessage('closed', 20_000);
      replica.endInput();
      await closed;
      const closedAt = performance.now();
      const result = await replica.result;
      // Exited by itself, promptly: nothing of the bulkhead or the store kept it alive.
      expect(performance.now() - closedAt).toBeLessThan(2_000);
      expect(result.exitCode, result.stderr).toBe(0);
      const report = result.result as ShutdownReport;
      expect(report.outcome).toBe(outcome);
      // close() waits on the store at most one deadline (200 ms), with some scheduling slack.
      expect(report.closeMs).toBeLessThan(200 + 150);
    }, 40_000);
  }
});
