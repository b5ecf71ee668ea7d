// The nemesis with Redis Sentinel: the failover itself (primary SIGKILLed, replica promoted by
// Sentinel, clients following through Sentinel), then a rate-limit fleet living through it.
import { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { runScenario } from '../../nemesis/scenario.js';
import { rateLimitScenario } from '../../nemesis/scenarios/rate-limit.js';
import { startNemesisSentinel } from '../../nemesis/sentinel-process.js';
import { describeWithRedisCluster } from '../../services.js';
import { result } from './verdicts.js';

// (redis-server on PATH is what the Cluster fixtures need too: the same condition.)
describeWithRedisCluster('nemesis with Redis Sentinel', () => {
  it('Sentinel promotes the replica of a killed primary; a Sentinel client follows; the old one comes back as a replica', async () => {
    const sentinel = await startNemesisSentinel();
    const client = new Redis({
      sentinels: [sentinel.sentinel],
      name: sentinel.name,
      retryStrategy: () => 50,
      sentinelRetryStrategy: () => 50,
    });
    client.on('error', () => {});
    try {
      await client.set('counter', '1');
      const before = await sentinel.primaryPort();
      // The replica has the write before the primary dies.
      expect(await client.wait(1, 1_000)).toBe(1);
      const promoted = await sentinel.killPrimary();
      expect(promoted).not.toBe(before);
      expect(await client.incr('counter')).toBe(2);
      await sentinel.restoreReplica();
      const direct = new Redis({ port: before, lazyConnect: true });
      try {
        expect(await direct.info('replication')).toContain(`master_port:${promoted}`);
      } finally {
        direct.disconnect();
      }
      // And again, the other way.
      expect(await sentinel.killPrimary()).toBe(before);
      expect(await client.incr('counter')).toBe(3);
    } finally {
      client.disconnect();
      await sentinel.stop();
    }
  }, 60_000);

  it('rate limit: the window bound (with its state-loss allowance) holds through Sentinel failovers', async () => {
    const report = await runScenario(rateLimitScenario(['sentinel-failover']), {
      durationMs: 4_000,
    });
    console.info(
      `nemesis/rate-limit-sentinel: ${report.operations} operations, faults ${JSON.stringify(report.faults)}`,
    );
    const window = result(report, 'rate-limit/window');
    expect(window.violations, report.details).toEqual([]);
    expect(report.faults['sentinel-failover']).toBeGreaterThan(0);
    // The fleet decided on the store before and after the failovers, not only locally.
    expect(window.checked).toBeGreaterThan(300);
  }, 60_000);
});
