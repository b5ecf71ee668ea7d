import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { runFleet, spawnReplica } from '../fleet.js';
import { uniquePrefix } from '../key-prefix.js';
import { describeWithRedis, services } from '../services.js';
import { PACKAGES_DIR } from '../workspace-sources.js';
import { isAlive } from './process-alive.js';

const script = (name: string) =>
  fileURLToPath(new URL(`./fleet-scripts/${name}.ts`, import.meta.url));
const sourceUrl = (relative: string) => pathToFileURL(`${PACKAGES_DIR}${relative}`).href;

interface ResolveReport {
  index: number;
  count: number;
  redisUrl: string | null;
  extra: string | null;
  args: string[];
  resolved: { core: string; coreDynamodb: string; replica: string };
  timeoutErrorType: string;
}

describe('runFleet', () => {
  it('runs N replicas of a TypeScript script with @breakwater/* resolved to source', async () => {
    const results = await runFleet({
      script: script('resolve-core'),
      replicas: 3,
      env: { FLEET_TEST_EXTRA: 'x', REDIS_URL: 'redis://127.0.0.1:1' },
      args: ['--flag', 'value'],
    });
    expect(results.map((r) => [r.index, r.exitCode, r.signal])).toEqual([
      [0, 0, null],
      [1, 0, null],
      [2, 0, null],
    ]);
    for (const { index, result, stderr } of results) {
      const report = result as ResolveReport;
      expect(report, stderr).toMatchObject({
        index,
        count: 3,
        extra: 'x',
        redisUrl: 'redis://127.0.0.1:1',
        args: ['--flag', 'value'],
      });
      // The source files, never dist/ (which would be Node's own answer through the exports map).
      expect(report.resolved).toEqual({
        core: sourceUrl('core/src/index.ts'),
        coreDynamodb: sourceUrl('core/src/dynamodb.ts'),
        replica: sourceUrl('testkit/src/replica.ts'),
      });
      if (existsSync(`${PACKAGES_DIR}core/src/index.ts`)) {
        expect(report.timeoutErrorType).toBe('function');
      } else {
        // Before core's index.ts exists, the import fails naming the source, not a stale build.
        expect(report.timeoutErrorType).toContain('core/src/index.ts');
      }
    }
  });

  it('reports crashes with exit code and stderr, and no result', async () => {
    const [crashed] = await runFleet({ script: script('crash'), replicas: 1 });
    expect(crashed?.exitCode).toBe(1);
    expect(crashed?.result).toBeUndefined();
    expect(crashed?.stderr).toContain('replica crashed on purpose');
  });

  it('kills a fleet that runs too long and rejects with the replicas stderr', async () => {
    const started = Date.now();
    // Long enough for both replicas to start (and write to stderr) on a busy machine.
    const error = await runFleet({ script: script('wait-forever'), replicas: 2, timeoutMs: 2_500 })
      .then(() => undefined)
      .catch((reason: unknown) => reason as Error);
    expect(error?.message).toMatch(/did not finish within 2500 ms; killed 2 replica/);
    expect(error?.message).toContain('replica 0 is stuck on purpose');
    expect(error?.message).toContain('replica 1 is stuck on purpose');
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('rejects a bad replica count', async () => {
    await expect(runFleet({ script: script('crash'), replicas: 0 })).rejects.toThrow(RangeError);
  });
});

describe('spawnReplica', () => {
  it('can be SIGKILLed mid-run', async () => {
    const replica = spawnReplica({ script: script('wait-forever'), index: 4, replicas: 5 });
    const lines: string[] = [];
    const unsubscribe = replica.onMessage((line) => lines.push(line));
    await replica.waitForMessage('ready');
    expect(isAlive(replica.pid)).toBe(true);
    replica.kill('SIGKILL');
    const outcome = await replica.result;
    unsubscribe();
    expect(outcome).toMatchObject({
      index: 4,
      exitCode: null,
      signal: 'SIGKILL',
      result: undefined,
    });
    expect(outcome.stderr).toContain('replica 4 is stuck on purpose');
    expect(lines).toEqual(['ready']);
    expect(isAlive(replica.pid)).toBe(false);
  });

  it('rejects waitForMessage when the replica exits first', async () => {
    const replica = spawnReplica({ script: script('crash') });
    await expect(replica.waitForMessage('never')).rejects.toThrow(/exited before/);
    await replica.result;
  });
});

describeWithRedis('a fleet sharing Redis', () => {
  const key = `${uniquePrefix()}:counter`;
  const redis = new Redis(services().redisUrl, { lazyConnect: true });
  afterAll(async () => {
    await redis.del(key);
    await redis.quit();
  });

  it('sees every increment of every replica exactly once', async () => {
    const results = await runFleet({
      script: script('redis-counter'),
      replicas: 3,
      env: { FLEET_COUNTER_KEY: key, REDIS_URL: services().redisUrl },
    });
    const seen = results.flatMap((r) => r.result as number[]);
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(await redis.get(key)).toBe('60');
  });
});
