/**
 * Write-behind in `@breakwater/cache`, against the bare database or queue operation it wraps, on
 * the same machine, Redis (`REDIS_URL`, which `run.ts` points at a private server unless it is
 * given; see `placement.ts`) and PostgreSQL (`POSTGRES_URL`, default
 * `postgres://postgres@127.0.0.1:5432/test`). No maintained Node.js library does write-behind, so
 * there is no competitor: the baselines are the raw commands.
 *
 * - Durable writes, 64 concurrent writers: one call = 64 `write()`s in flight, each resolving once
 *   its entry is in the Redis Stream; baseline: 64 raw `XADD`s of the same payload on the same
 *   connection. Every row runs on an ioredis client and again, as its `(node-redis)` twin, on a
 *   node-redis one (its own queue and key prefix).
 * - End-to-end flush to PostgreSQL: one call = one `write()` into the memory queue, and every
 *   500th call flushes the 500 queued writes into a table with the versioned upsert that
 *   packages/cache/docs/write-behind.md recommends; batched (`batchSize: 500`, one multi-row statement) vs one row per statement vs
 *   one entry per flush cycle (`batchSize: 1`, the baseline). The memory queue keeps queue round
 *   trips out of it: the table shows what batching saves on the database side.
 */
import {
  defaultCodec,
  memoryWriteBehindQueue,
  type WriteBehind,
  writeBehind,
} from '@breakwater/cache';
import { redisWriteBehindQueue } from '@breakwater/cache/redis';
import pg from 'pg';
import type { BenchCase, Suite } from '../harness.js';
import {
  type BenchRedis,
  nodeRedisTwinOf,
  openRedis,
  type RedisClientLibrary,
  withNodeRedisTwin,
} from '../redis-clients.js';

const BREAKWATER = '@breakwater/cache';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const PREFIX = `bwbench:${process.pid}:wb`;
const CONCURRENCY = 64;
const KEYS = Array.from({ length: 1000 }, (_, i) => `user:${i}`);
/** Never reached: the benches measure writing, not the backlog bound. */
const HUGE = 1_000_000_000;
/** A small profile, the kind of value write-behind is for. */
const PROFILE = {
  name: 'Ada Lovelace',
  email: 'ada@example.com',
  plan: 'pro',
  seats: 12,
  tags: ['analytics', 'beta'],
};

let turn = 0;
/** The next key, round robin. */
const nextKey = (): string => KEYS[turn++ % KEYS.length]!;

// ------------------------------------------------------------------ durable writes to Redis

/** The writers of one client library. */
interface WriteFixture {
  client: BenchRedis;
  /** The key prefix of this library's queue and stream. */
  prefix: string;
  stream: string;
  payload: string;
  wb: WriteBehind<typeof PROFILE>;
  queue: ReturnType<ReturnType<typeof redisWriteBehindQueue>['scope']>;
}

let writes: Record<RedisClientLibrary, WriteFixture> | undefined;

/** The writers on `library`'s client. */
function w(library: RedisClientLibrary): WriteFixture {
  if (writes === undefined) throw new Error('write-behind bench fixture used before setup');
  return writes[library];
}

async function openWrites(library: RedisClientLibrary, prefix: string): Promise<WriteFixture> {
  const client = await openRedis(library, REDIS_URL);
  const queue = redisWriteBehindQueue({ client: client.client, prefix: `${prefix}:w` });
  const wb = writeBehind<typeof PROFILE>({
    name: 'profiles',
    queue,
    // Only the writing side is measured: nothing flushes, so the stream just grows.
    flusher: false,
    maxPending: HUGE,
    // Never called: teardown deletes the stream before close() could flush it.
    persist: () => {},
  });
  return {
    client,
    prefix,
    stream: `${prefix}:raw:stream`,
    // What write() puts in the stream for PROFILE: the codec's id, a newline, the encoding.
    payload: `${defaultCodec.id}\n${defaultCodec.encode(PROFILE)}`,
    wb,
    queue: queue.scope('profiles-unbatched'),
  };
}

async function closeWrites({ client, prefix, wb }: WriteFixture): Promise<void> {
  await client.deleteMatching(`${prefix}:*`);
  await wb.close();
  await client.close();
}

async function setupWrites(): Promise<void> {
  const ioredis = await openWrites('ioredis', PREFIX);
  const nodeRedis = await openWrites('node-redis', `${PREFIX}:nr`).catch(async (error) => {
    await closeWrites(ioredis);
    throw error;
  });
  writes = { ioredis, 'node-redis': nodeRedis };
}

async function teardownWrites(): Promise<void> {
  if (writes === undefined) return;
  const sides = Object.values(writes);
  writes = undefined;
  for (const side of sides) await closeWrites(side);
}

function concurrently(write: () => Promise<unknown>): () => Promise<unknown> {
  return () => Promise.all(Array.from({ length: CONCURRENCY }, write));
}

/** 64 raw XADDs of the same entry on `library`'s client. */
const rawXadds = (library: RedisClientLibrary): BenchCase => ({
  name: `${CONCURRENCY} × XADD (raw)`,
  library: 'ioredis',
  fn: concurrently(() => {
    const side = w(library);
    return side.client.xadd(side.stream, [
      'key',
      nextKey(),
      'payload',
      side.payload,
      'version',
      '1',
    ]);
  }),
});

/** 64 durable writes in flight at once. */
export const writeBehindRedisWrites: Suite = {
  id: 'write-behind/redis-64',
  title: `Durable write throughput to Redis with ${CONCURRENCY} concurrent writers`,
  description:
    `One call = ${CONCURRENCY} writes in flight at once on one connection, each resolving once ` +
    'its entry is durable in the Redis Stream; writes/s = ' +
    `${CONCURRENCY} × ops/s. Baseline: ${CONCURRENCY} raw XADDs of the same payload (pipelined ` +
    'by ioredis; the `(node-redis)` rows run the same on a node-redis client). Issue 8 sets an absolute goal, ≥ 50,000 writes/s on the 2-core bench machine ' +
    `(≥ ${Math.ceil(50_000 / CONCURRENCY)} ops/s here); the comparison framework only checks ` +
    'ratios between cases, so that goal is read off the table, not checked.',
  setup: setupWrites,
  teardown: teardownWrites,
  baseline: rawXadds('ioredis'),
  cases: [
    nodeRedisTwinOf(rawXadds),
    ...withNodeRedisTwin((library) => ({
      name: `${CONCURRENCY} × write()`,
      library: BREAKWATER,
      fn: concurrently(() => w(library).wb.write(nextKey(), PROFILE)),
      role: 'ours',
      note: `writes/s = ${CONCURRENCY} × ops/s; issue 8's goal: ≥ 50,000 writes/s`,
    })),
    ...withNodeRedisTwin((library) => ({
      name: `${CONCURRENCY} × queue append() (one EVALSHA each)`,
      library: BREAKWATER,
      fn: concurrently(() =>
        w(library).queue.append(nextKey(), w(library).payload, {
          version: undefined,
          maxPending: HUGE,
        }),
      ),
      note: 'the queue alone, one script call per write: what write() costs without batching',
    })),
  ],
};

// ------------------------------------------------------------------ end to end into PostgreSQL

type PgPool = pg.Pool;

async function openPool(): Promise<PgPool> {
  return new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });
}

/** Queued writes per flush: one flush per sample (the suite fixes `batch` to this). */
const FLUSH_EVERY = 500;

interface FlushFixture {
  pool: PgPool;
  table: string;
  batched: WriteBehind<typeof PROFILE>;
  rowByRow: WriteBehind<typeof PROFILE>;
  oneEntry: WriteBehind<typeof PROFILE>;
}

let flushes: FlushFixture | undefined;

function fl(): FlushFixture {
  if (flushes === undefined) throw new Error('write-behind flush fixture used before setup');
  return flushes;
}

type Row = { readonly key: string; readonly value: unknown; readonly version: number };

/** One statement for the whole batch, only over a lower version (the docs' upsert). */
function upsertAll(pool: PgPool, table: string) {
  return async (batch: readonly Row[]): Promise<void> => {
    const params: unknown[] = [];
    const rows = batch.map(({ key, value, version }, i) => {
      params.push(key, JSON.stringify(value), version);
      return `($${3 * i + 1}, $${3 * i + 2}::jsonb, $${3 * i + 3}::bigint)`;
    });
    await pool.query(
      `INSERT INTO ${table} (key, value, version) VALUES ${rows.join(', ')}
       ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, version = EXCLUDED.version
       WHERE ${table}.version < EXCLUDED.version`,
      params,
    );
  };
}

/** The same upsert, one statement per row. */
function upsertEach(pool: PgPool, table: string) {
  const one = upsertAll(pool, table);
  return async (batch: readonly Row[]): Promise<void> => {
    for (const row of batch) await one([row]);
  };
}

async function setupFlushes(): Promise<void> {
  const pool = await openPool();
  const table = `bwbench_wb_${process.pid}_${Date.now().toString(36)}`;
  try {
    await pool.query(
      `CREATE TABLE ${table} (key text PRIMARY KEY, value jsonb NOT NULL, version bigint NOT NULL)`,
    );
  } catch (error) {
    await pool.end();
    throw error;
  }
  // The memory queue, so that the table compares what persisting costs, not queue round trips.
  const queue = memoryWriteBehindQueue();
  const make = (name: string, batchSize: number, persist: (batch: readonly Row[]) => unknown) =>
    writeBehind<typeof PROFILE>({
      name,
      queue,
      batchSize,
      persist,
      maxPending: HUGE,
      // flush() does the flushing, inside the measured call.
      flusher: false,
    });
  flushes = {
    pool,
    table,
    batched: make('batched', 500, upsertAll(pool, table)),
    rowByRow: make('row-by-row', 500, upsertEach(pool, table)),
    oneEntry: make('one-entry', 1, upsertAll(pool, table)),
  };
}

async function teardownFlushes(): Promise<void> {
  if (flushes === undefined) return;
  const { pool, table, batched, rowByRow, oneEntry } = flushes;
  flushes = undefined;
  try {
    await Promise.all([batched.close(), rowByRow.close(), oneEntry.close()]);
    await pool.query(`DROP TABLE IF EXISTS ${table}`);
  } finally {
    await pool.end();
  }
}

/** Rows written: distinct keys within a flush, so nothing coalesces. */
const ROWS = 100_000;

/** One write; every {@link FLUSH_EVERY}th call also flushes what was queued. */
function writeThenFlushEvery(pick: () => WriteBehind<typeof PROFILE>): () => Promise<unknown> {
  let calls = 0;
  let row = 0;
  return async () => {
    const wb = pick();
    const version = await wb.write(`row:${row++ % ROWS}`, PROFILE);
    if (++calls % FLUSH_EVERY === 0) await wb.flush();
    return version;
  };
}

/** Writes persisted end to end, batched vs one row at a time. */
export const writeBehindPostgresFlush: Suite = {
  id: 'write-behind/postgres-flush',
  title: 'End-to-end flush throughput to PostgreSQL: batching vs one-row-per-write',
  description:
    'One call = one write() into the memory queue (awaited) plus 1/500 of a flush() that claims ' +
    'the queued writes, upserts them into a PostgreSQL table (only over a lower version) and ' +
    `completes them: each sample is ${FLUSH_EVERY} writes and one flush, so the numbers are per ` +
    'write persisted. Baseline: batchSize 1, one claim, one single-row upsert and one complete ' +
    'per write.',
  setup: setupFlushes,
  teardown: teardownFlushes,
  batch: FLUSH_EVERY,
  // A sample of the baseline is 500 database round trips (a second or more on a busy 2-core
  // machine) and tinybench takes at least 16 samples per round: one round keeps the suite within
  // about a minute there.
  rounds: 1,
  timeMs: 3_000,
  warmupMs: 300,
  baseline: {
    name: 'batchSize 1 (one row per flush cycle)',
    library: BREAKWATER,
    fn: writeThenFlushEvery(() => fl().oneEntry),
  },
  cases: [
    {
      name: 'batchSize 500, one multi-row upsert',
      library: BREAKWATER,
      fn: writeThenFlushEvery(() => fl().batched),
      role: 'ours',
    },
    {
      name: 'batchSize 500, persist upserts row by row',
      library: BREAKWATER,
      fn: writeThenFlushEvery(() => fl().rowByRow),
    },
  ],
};

/** The write-behind suites, in the order they run. */
export const writeBehindSuites: readonly Suite[] = [
  writeBehindRedisWrites,
  writeBehindPostgresFlush,
];
