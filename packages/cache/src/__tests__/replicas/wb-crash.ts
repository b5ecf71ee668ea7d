/**
 * The crash-test process. WB_MODE=write: writes WB_WRITES values over WB_KEYS keys (32 at a time)
 * through the Redis queue under FLEET_PREFIX, printing `ack <key> <version> <i>` for every write
 * that resolved; its flusher persists them into the PostgreSQL table WB_TABLE meanwhile. Mode
 * `write-then-flush`: no flusher while writing; once every write resolved it prints `written` and
 * flushes. Both print `persisted <n>` after each successful persist, so the test can SIGKILL them
 * at any of those points. WB_MODE=drain: only flushes, until the queue is empty, then reports.
 */
import { reportMessage, reportResult } from '@breakwater/testkit/replica';
import { Redis } from 'ioredis';
import pg from 'pg';
import { writeBehind } from '../../index.js';
import { redisWriteBehindQueue } from '../../redis.js';
import { versionedUpsert } from '../postgres-table.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const mode = env('WB_MODE');
const table = env('WB_TABLE');

const client = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  max: 2,
});
const upsert = versionedUpsert<{ i: number }>(pool, table);
let persisted = 0;
const wb = writeBehind<{ i: number }>({
  name: 'crash-test',
  queue: redisWriteBehindQueue({ client, prefix: env('FLEET_PREFIX') }),
  batchSize: 500,
  flushIntervalMs: 5,
  claimIdleMs: 500,
  retryDelayMs: 10,
  flusher: mode !== 'write-then-flush',
  persist: async (batch) => {
    await upsert(batch);
    // Not awaited: a kill may swallow the line, never reorder it before the persist.
    process.stdout.write(`persisted ${++persisted}\n`);
  },
});

if (mode === 'write' || mode === 'write-then-flush') {
  const writes = Number(env('WB_WRITES'));
  const keys = Number(env('WB_KEYS'));
  let next = 0;
  const writer = async () => {
    for (let i = next++; i < writes; i = next++) {
      const key = `k${(i * 7919) % keys}`;
      const version = await wb.write(key, { i });
      process.stdout.write(`ack ${key} ${version} ${i}\n`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, writer));
  await reportMessage('written');
  if (mode === 'write-then-flush') await wb.flush();
  // Stay alive until the test kills this process.
  await new Promise(() => {});
} else {
  while ((await wb.pending()) > 0) await new Promise((resolve) => setTimeout(resolve, 20));
  await wb.close();
  await reportResult(wb.stats());
  client.disconnect();
  await pool.end();
}
