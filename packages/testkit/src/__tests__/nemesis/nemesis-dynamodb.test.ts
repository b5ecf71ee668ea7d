// The nemesis on DynamoDB (issue #17): dynalite in a process of its own, paused, killed and
// restarted (empty, or from its LevelDB folder), each replica's client behind its fault proxy.
// First the dynalite process and the refusals, then short runs of the rate-limit and breaker
// scenarios, each deterministic about the fault it must see (`firstFault`).
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { expect, it } from 'vitest';
import { DYNALITE_CLIENT_CONFIG } from '../../default-clients.js';
import { startNemesisDynalite } from '../../nemesis/dynalite-process.js';
import { type HistoryEvent, readHistory } from '../../nemesis/history.js';
import { runScenario } from '../../nemesis/scenario.js';
import { breakerDynamoScenario } from '../../nemesis/scenarios/breaker-dynamodb.js';
import {
  DYNAMODB_CLOCK_JUMP_MS,
  rateLimitDynamoScenario,
} from '../../nemesis/scenarios/rate-limit-dynamodb.js';
import { describeWithDynamo } from '../../services.js';
import { result, summary } from './verdicts.js';

/** Seconds of nemesis per run: short, and enough for the first fault and its heal. */
const SECONDS = 4;

/** Writes an item and reads it back (strongly consistent) from the dynalite at `endpoint`. */
async function roundTrip(endpoint: string, tableName: string, write: boolean) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const client = new DynamoDBClient({ ...DYNALITE_CLIENT_CONFIG, endpoint, maxAttempts: 1 });
  try {
    const Key = { pk: { S: 'nemesis-dynamodb-test' } };
    if (write) await client.send(new PutItemCommand({ TableName: tableName, Item: Key }));
    const { Item } = await client.send(
      new GetItemCommand({ TableName: tableName, Key, ConsistentRead: true }),
    );
    return Item;
  } finally {
    client.destroy();
  }
}

/** The history files of a kept run. */
function keptHistory(dir: string, replicas: number): HistoryEvent[] {
  return readHistory([
    join(dir, 'nemesis.jsonl'),
    join(dir, 'resource.jsonl'),
    ...Array.from({ length: replicas }, (_, index) => join(dir, `replica-${index}.jsonl`)),
  ]);
}

it('runScenario refuses the Redis-only faults for a DynamoDB scenario, naming them', async () => {
  await expect(
    runScenario(rateLimitDynamoScenario(['store-pause', 'store-failover']), { durationMs: 1_000 }),
  ).rejects.toThrow(
    /rate-limit-dynamodb runs on DynamoDB, which has no store-failover \(Redis-only faults: store-failover, sentinel-failover, cluster-/,
  );
  await expect(
    runScenario(breakerDynamoScenario(['cluster-failover']), { durationMs: 1_000 }),
  ).rejects.toThrow(/which has no cluster-failover/);
  await expect(
    runScenario(
      { ...breakerDynamoScenario(['store-pause']), store: 'mongodb' as 'dynamodb' },
      { durationMs: 1_000 },
    ),
  ).rejects.toThrow(/scenario\.store must be 'redis' or 'dynamodb'; received "mongodb"/);
  await expect(
    runScenario(
      { ...rateLimitDynamoScenario(['clock-jump']), clockJumpMs: -5 },
      { durationMs: 1_000 },
    ),
  ).rejects.toThrow(/scenario\.clockJumpMs must be a number of ms > 0; received -5/);
});

describeWithDynamo('nemesis on DynamoDB (short)', () => {
  it('dynalite in its own process: a crash loses every item in memory, none on its --path folder', async () => {
    const memory = await startNemesisDynalite();
    try {
      expect(await roundTrip(memory.endpoint, memory.tableName, true)).toBeDefined();
      await memory.crash();
      await memory.restart();
      // The table is back (recreated), empty.
      expect(await roundTrip(memory.endpoint, memory.tableName, false)).toBeUndefined();
    } finally {
      await memory.stop();
    }
    const persistent = await startNemesisDynalite({ persistent: true });
    try {
      expect(await roundTrip(persistent.endpoint, persistent.tableName, true)).toBeDefined();
      persistent.pause();
      // A paused process is killed too, and comes back on the same port with what it had.
      await persistent.crash();
      await persistent.restart();
      expect(await roundTrip(persistent.endpoint, persistent.tableName, false)).toBeDefined();
      // Unless its folder is lost with it.
      await persistent.crash();
      await persistent.restart({ empty: true });
      expect(await roundTrip(persistent.endpoint, persistent.tableName, false)).toBeUndefined();
    } finally {
      await persistent.stop();
    }
  }, 60_000);

  it('rate limit: the window bound and no silent fail-open, with dynalite paused and crashed and a clock jumped', async () => {
    // Short faults and gaps: all three faults fit in the run (the worst case leaves ~3 s for the
    // crashed dynalite's restart).
    const scenario = {
      ...rateLimitDynamoScenario(['store-crash', 'store-pause', 'clock-jump']),
      faultMs: [300, 400] as [number, number],
      healthyMs: [200, 300] as [number, number],
    };
    const report = await runScenario(scenario, {
      durationMs: (SECONDS + 1) * 1_000,
      firstFault: 'store-crash',
      keepHistory: true,
    });
    const dir = report.historyDir!;
    try {
      console.info(
        `nemesis/rate-limit-dynamodb: ${report.operations} operations, faults ${JSON.stringify(report.faults)}`,
      );
      const window = result(report, 'rate-limit/window');
      const failOpen = result(report, 'rate-limit/no-silent-fail-open');
      expect(window.violations, summary(report)).toEqual([]);
      expect(failOpen.violations, summary(report)).toEqual([]);
      expect(report.faults).toMatchObject({
        'store-crash': expect.any(Number),
        'store-pause': expect.any(Number),
        'clock-jump': expect.any(Number),
      });
      const history = keptHistory(dir, 3);
      // Decisions were made while dynalite was down, and DynamoDB decided the others: the
      // replicas talked to it (their Redis client is a lazy one that never connects).
      expect(failOpen.checked).toBeGreaterThan(0);
      const sources = history
        .filter((event) => event.f === 'limit' && event.type === 'ok')
        .map((event) => (event.value as { allowed: boolean; source: string }).source);
      expect(sources.filter((source) => source === 'store').length).toBeGreaterThan(20);
      expect(sources).toContain('degraded');
      // The jump is the DynamoDB scenario's (1 s: an allowance of 40 units, not 1,200), and it
      // reached the replica's clock.
      const offsets = history
        .filter((event) => event.f === 'clock')
        .map((event) => Math.abs((event.value as { offsetMs: number }).offsetMs));
      expect(offsets).toContain(DYNAMODB_CLOCK_JUMP_MS);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  it('breaker: half-open probes fleet-wide ≤ halfOpen.maxCalls, with dynalite killed and restarted from its folder', async () => {
    const report = await runScenario(breakerDynamoScenario(['store-crash-aof', 'proxy-reset']), {
      durationMs: SECONDS * 1_000,
      firstFault: 'store-crash-aof',
      keepHistory: true,
    });
    const dir = report.historyDir!;
    try {
      console.info(
        `nemesis/breaker-dynamodb: ${report.operations} operations, faults ${JSON.stringify(report.faults)}`,
      );
      const probes = result(report, 'breaker/half-open-probes');
      expect(probes.violations, summary(report)).toEqual([]);
      expect(report.faults['store-crash-aof']).toBeGreaterThan(0);
      // The fleet probed again and again, on leases DynamoDB granted.
      expect(probes.checked).toBeGreaterThan(3);
      const leases = keptHistory(dir, 3)
        .filter((event) => (event.value as { kind?: string } | undefined)?.kind === 'probe-start')
        .map((event) => (event.value as { lease: string }).lease);
      expect(leases).toContain('store');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
