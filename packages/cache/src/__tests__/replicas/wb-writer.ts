/**
 * A write-behind replica: writes WB_WRITES values, half to one-off keys and half over WB_KEYS hot
 * keys, through the Redis queue under FLEET_PREFIX, persisting into the PostgreSQL table WB_TABLE
 * with a slow, versioned upsert.
 * Prints `ack <key> <version>` for every write that resolved (the test may SIGKILL it at any
 * moment), then drains and reports its counters.
 */
import { replicaIdentity, reportMessage, reportResult } from '@breakwater/testkit/replica';
import { Redis } from 'ioredis';
import pg from 'pg';
import { writeBehind } from '../../index.js';
import { redisWriteBehindQueue } from '../../redis.js';
import { versionedUpsert } from '../postgres-table.js';

const { index } = replicaIdentity();
const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const prefix = env('FLEET_PREFIX');
const table = env('WB_TABLE');
const writes = Number(env('WB_WRITES'));
const keys = Number(env('WB_KEYS'));

const client = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  max: 2,
});
const upsert = versionedUpsert<{ writer: number; i: number }>(pool, table);
const wb = writeBehind<{ writer: number; i: number }>({
  name: 'crash-test',
  queue: redisWriteBehindQueue({ client, prefix }),
  batchSize: 25,
  flushIntervalMs: 10,
  claimIdleMs: 500,
  retryDelayMs: 10,
  persist: async (batch) => {
    // Slow enough that kills land mid-persist, with some batches half-done when they do.
    await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20));
    await upsert(batch);
  },
});

await reportMessage('ready');
for (let i = 0; i < writes; i++) {
  // Half the writes hit hot keys shared by the fleet (ordering), half are one-off keys, whose
  // loss no later write could hide.
  const key = i % 2 === 0 ? `once-${index}-${i}` : `hot-${(i * 7 + index) % keys}`;
  const version = await wb.write(key, { writer: index, i });
  await reportMessage(`ack ${key} ${version}`);
}
await wb.close();
await reportResult(wb.stats());
client.disconnect();
await pool.end();
