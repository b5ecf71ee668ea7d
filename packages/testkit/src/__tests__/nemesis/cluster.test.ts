// The nemesis on a Redis Cluster with replicas: the topology changes themselves (a slot moved
// with its keys, ASK then MOVED; a replica promoted), then a rate-limit fleet living through them.
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type NemesisCluster, startNemesisCluster } from '../../nemesis/cluster-process.js';
import { runScenario } from '../../nemesis/scenario.js';
import { rateLimitScenario } from '../../nemesis/scenarios/rate-limit.js';
import { describeWithRedisCluster } from '../../services.js';
import { result, summary } from './verdicts.js';

/** The error a plain (non-Cluster) client gets for `key` from the node on `port`, if any. */
async function redirection(port: number, key: string): Promise<string> {
  const direct = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0 });
  try {
    return String(await direct.get(key));
  } catch (error) {
    return String(error);
  } finally {
    direct.disconnect();
  }
}

describeWithRedisCluster('nemesis on a Redis Cluster', () => {
  let cluster: NemesisCluster;
  let client: Cluster;

  beforeAll(async () => {
    cluster = await startNemesisCluster();
    client = new Cluster(cluster.nodes);
  }, 60_000);
  afterAll(async () => {
    client?.disconnect();
    await cluster?.stop();
  });

  it('moves a slot with its keys: ASK while it moves, MOVED once it has; the value survives', async () => {
    const key = 'nemesis-cluster:{moved}:counter';
    await client.set(key, '41');
    const slot = Number(await client.cluster('KEYSLOT', key));
    expect(await cluster.slotsInUse()).toContain(slot);
    const migration = await cluster.migrateSlot(slot);
    expect(migration.keys).toBe(1);
    expect(migration.to).not.toBe(migration.from);
    expect(await redirection(migration.from, key)).toMatch(new RegExp(`ASK ${slot} `));
    // The Cluster client follows ASK: it reads and writes the moved key meanwhile.
    expect(await client.incr(key)).toBe(42);
    await migration.finish();
    expect(await redirection(migration.from, key)).toMatch(new RegExp(`MOVED ${slot} `));
    expect(await redirection(migration.to, key)).toBe('42');
    expect(await client.incr(key)).toBe(43);
  }, 30_000);

  it('fails a master over to its replica, which keeps every write', async () => {
    const key = 'nemesis-cluster:{failover}:counter';
    await client.set(key, '7');
    const slot = Number(await client.cluster('KEYSLOT', key));
    const promoted = await cluster.failover(slot);
    expect(await redirection(promoted, key)).toBe('7');
    expect(await client.incr(key)).toBe(8);
    // And back: the demoted master is the new one's replica, ready for the next failover.
    const back = await cluster.failover(slot);
    expect(back).not.toBe(promoted);
    expect(await redirection(back, key)).toBe('8');
  }, 30_000);

  it('forces a failover with the replica cut off: writes acknowledged meanwhile are lost, and the old master serves replicas again', async () => {
    const slot = Number(await client.cluster('KEYSLOT', 'nemesis-cluster:{forced}:0'));
    await client.set('nemesis-cluster:{forced}:0', '1');
    // Writes of distinct keys, one after the other, from the moment the replica is cut off.
    const acknowledged: string[] = [];
    let writing = true;
    let writes: Promise<void> | undefined;
    const forced = await cluster.forceFailover(slot, {
      beforeStop: () => {
        writes = (async () => {
          for (let i = 1; writing; i++) {
            const key = `nemesis-cluster:{forced}:${i}`;
            if ((await client.set(key, '1').catch(() => null)) === 'OK') acknowledged.push(key);
          }
        })();
      },
    });
    writing = false;
    await forced.resume();
    await writes;
    expect(forced.replicaOffset).toBeLessThan(forced.masterOffset);
    const kept = await Promise.all(acknowledged.map((key) => client.exists(key)));
    const lost = kept.filter((found) => found === 0).length;
    console.info(
      `nemesis/cluster forced failover: ${lost} of ${acknowledged.length} acknowledged writes lost, replica ${forced.masterOffset - forced.replicaOffset} bytes behind`,
    );
    expect(lost).toBeGreaterThan(0);
    // What was acknowledged before the cut is kept.
    expect(await client.get('nemesis-cluster:{forced}:0')).toBe('1');
    // The old master lets a replica sync from it again (it may be promoted back one day).
    const old = new Redis({ host: '127.0.0.1', port: forced.stopped, lazyConnect: true });
    try {
      expect(await old.call('ACL', 'DRYRUN', 'default', 'PSYNC', '?', '-1')).toBe('OK');
    } finally {
      old.disconnect();
    }
  }, 30_000);
});

describeWithRedisCluster('nemesis (short) on a Redis Cluster', () => {
  it('rate limit: the window bound holds while the limit key’s slot moves between masters', async () => {
    const report = await runScenario(rateLimitScenario(['cluster-slot-migration']), {
      durationMs: 4_000,
    });
    console.info(
      `nemesis/rate-limit-cluster: ${report.operations} operations, faults ${JSON.stringify(report.faults)}`,
    );
    const window = result(report, 'rate-limit/window');
    expect(window.violations, summary(report)).toEqual([]);
    expect(result(report, 'rate-limit/no-silent-fail-open').violations).toEqual([]);
    expect(report.faults['cluster-slot-migration']).toBeGreaterThan(0);
    // The fleet kept deciding on the store through the moves (a script that met the slot half
    // moved was a store error: a degraded decision, within the degraded allowance).
    expect(window.checked).toBeGreaterThan(300);
  }, 90_000);
});
