/**
 * Order persistence, behind one interface so the service does not care how records reach the
 * database.
 *
 * Two layers:
 * - an {@link OrderDatabase} is where records end up (an in-memory table, or PostgreSQL when
 *   `DATABASE_URL` is set). Its `persist(batch)` takes `{ key, value, version }` rows and upserts
 *   each one only over an older version, so it is idempotent and tolerates reordering: exactly the
 *   `persist` callback write-behind (`@breakwater/cache`) calls.
 * - an {@link OrderStore} is what the service uses: `save`, `get`, and `backlog()` (writes accepted
 *   but not yet in the database, and the age of the oldest).
 *
 * The service uses write-behind ({@link writeBehindOrderStore}): `save` resolves once the order is
 * durable in a queue, and flushers persist it in batches. {@link directOrderStore} writes straight
 * through instead (the backlog is then always empty).
 */
import { cache, memoryWriteBehindQueue, writeBehind } from '@breakwater/cache';
import { redisStore, redisWriteBehindQueue } from '@breakwater/cache/redis';
import type { Redis } from 'ioredis';
import pg from 'pg';

export type OrderStatus = 'paid' | 'payment-queued' | 'payment-failed';

export interface Order {
  id: string;
  clientId: string;
  productId: string;
  amountCents: number;
  status: OrderStatus;
  paymentId?: string;
  createdAt: string;
  /** Grows with every change of the order; the database keeps the highest. */
  version: number;
}

/** One row to persist, in the shape write-behind hands to `persist`. */
export interface OrderWrite {
  key: string;
  value: Order;
  version: number;
}

/** Where order records end up. */
export interface OrderDatabase {
  readonly kind: 'memory' | 'postgres';
  /**
   * Upserts every row whose version is newer than the stored one; older or equal versions are
   * skipped. Several rows of one key in a batch are fine (the newest wins).
   */
  persist(batch: readonly OrderWrite[]): Promise<void>;
  get(id: string): Promise<Order | undefined>;
  close(): Promise<void>;
}

/** Writes accepted by the store that the database does not have yet. */
export interface OrderBacklog {
  pending: number;
  /** Age of the oldest pending write, in ms (0 when none). */
  lagMs: number;
}

/** What the service uses to keep order records. */
export interface OrderStore {
  /** For humans: where records go and how, e.g. `postgres (direct)`. */
  readonly description: string;
  /** Resolves once the order is accepted (durable per the store's guarantee). */
  save(order: Order): Promise<void>;
  get(id: string): Promise<Order | undefined>;
  backlog(): Promise<OrderBacklog>;
  close(): Promise<void>;
}

/** Keeps the newest row per key. */
function newestPerKey(batch: readonly OrderWrite[]): OrderWrite[] {
  const newest = new Map<string, OrderWrite>();
  for (const row of batch) {
    const seen = newest.get(row.key);
    if (seen === undefined || seen.version < row.version) newest.set(row.key, row);
  }
  return [...newest.values()];
}

/** An in-process table: lost when the process exits, and each replica has its own. */
export function memoryOrderDatabase(): OrderDatabase {
  const rows = new Map<string, { version: number; value: Order }>();
  return {
    kind: 'memory',
    async persist(batch) {
      for (const row of newestPerKey(batch)) {
        const stored = rows.get(row.key);
        if (stored === undefined || stored.version < row.version) {
          rows.set(row.key, { version: row.version, value: structuredClone(row.value) });
        }
      }
    },
    async get(id) {
      const stored = rows.get(id);
      return stored === undefined ? undefined : structuredClone(stored.value);
    },
    async close() {},
  };
}

const TABLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
/**
 * Another replica created the table (or its row type) at the same moment: PostgreSQL reports the
 * race as a unique violation on its catalog (23505), a duplicate table (42P07) or a duplicate
 * object — "type … already exists" (42710) — depending on where the two creations collide.
 */
const CONCURRENT_CREATE = new Set(['23505', '42P07', '42710']);

/**
 * Order records in PostgreSQL, one row per order: `id`, `version`, `body` (jsonb), `updated_at`.
 * The table is created if missing. A batch is one statement: an `INSERT … ON CONFLICT DO UPDATE …
 * WHERE <table>.version < EXCLUDED.version`, so replays and reordered writes never move a row back.
 */
export async function postgresOrderDatabase(options: {
  connectionString: string;
  table: string;
  poolSize?: number;
}): Promise<OrderDatabase> {
  const { table } = options;
  if (!TABLE_NAME.test(table)) {
    throw new RangeError(`Expected \`table\` to be a plain lower-case identifier, got ${table}`);
  }
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.poolSize ?? 8,
  });
  // An idle client losing its connection must not crash the service; the next query reconnects.
  pool.on('error', () => {});
  try {
    await pool.query(
      `CREATE TABLE IF NOT EXISTS ${table} (
         id text PRIMARY KEY,
         version bigint NOT NULL,
         body jsonb NOT NULL,
         updated_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === undefined || !CONCURRENT_CREATE.has(code)) {
      await pool.end();
      throw error;
    }
  }
  const upsert = `
    INSERT INTO ${table} AS t (id, version, body)
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::jsonb[])
    ON CONFLICT (id) DO UPDATE
      SET version = EXCLUDED.version, body = EXCLUDED.body, updated_at = now()
      WHERE t.version < EXCLUDED.version`;

  return {
    kind: 'postgres',
    async persist(batch) {
      const rows = newestPerKey(batch);
      if (rows.length === 0) return;
      await pool.query(upsert, [
        rows.map((r) => r.key),
        rows.map((r) => r.version),
        rows.map((r) => JSON.stringify(r.value)),
      ]);
    },
    async get(id) {
      const result = await pool.query<{ body: Order }>(`SELECT body FROM ${table} WHERE id = $1`, [
        id,
      ]);
      return result.rows[0]?.body;
    },
    close: () => pool.end(),
  };
}

/** Writes each order to the database before `save` resolves. Nothing is ever pending. */
export function directOrderStore(database: OrderDatabase): OrderStore {
  return {
    description: `${database.kind} (direct writes)`,
    save: (order) => database.persist([{ key: order.id, value: order, version: order.version }]),
    get: (id) => database.get(id),
    backlog: async () => ({ pending: 0, lagMs: 0 }),
    close: () => database.close(),
  };
}

/**
 * Write-behind: `save` resolves once the order is durable in the queue and cached (pinned until
 * persisted, so `get` sees it at once); a flusher in every replica upserts batches into the
 * database. The queue is a Redis stream when the replicas share Redis and a database, so any
 * replica can persist any replica's writes; otherwise an in-process queue (lost on a crash).
 */
export function writeBehindOrderStore(
  database: OrderDatabase,
  options: { redis?: Redis | undefined; prefix?: string | undefined } = {},
): OrderStore {
  const shared =
    options.redis !== undefined && database.kind === 'postgres' ? options.redis : undefined;
  const records = cache({
    name: 'orders',
    l1: { maxEntries: 10_000 },
    ...(shared && { store: redisStore({ client: shared, prefix: options.prefix }) }),
    ttlMs: 60_000,
  });
  const wb = writeBehind<Order>({
    name: 'orders',
    cache: records,
    queue:
      shared === undefined
        ? memoryWriteBehindQueue()
        : redisWriteBehindQueue({ client: shared, prefix: options.prefix }),
    persist: (batch) => database.persist(batch),
    batchSize: 200,
    flushIntervalMs: 100,
  });
  return {
    description: `${database.kind} (write-behind, ${shared === undefined ? 'in-process' : 'Redis'} queue)`,
    async save(order) {
      await wb.write(order.id, order);
    },
    get: (id) => records.getOrLoad(id, () => database.get(id)),
    async backlog() {
      const stats = wb.stats();
      return { pending: stats.pending ?? 0, lagMs: stats.oldestPendingAgeMs ?? 0 };
    },
    async close() {
      // Drain first: everything accepted reaches the database before it closes.
      await wb.close();
      await records.close();
      await database.close();
    },
  };
}

export interface OrderStoreOptions {
  /** PostgreSQL connection string; an in-memory table when absent. */
  databaseUrl?: string | undefined;
  /** PostgreSQL table of the order records. */
  table: string;
  /** The service's Redis client when `REDIS_URL` is set (for a Redis write-behind queue). */
  redis?: Redis | undefined;
  /** Key prefix in Redis. */
  redisPrefix?: string | undefined;
  /** `direct`: write each order before answering; `write-behind` (default): queue it. */
  mode?: 'direct' | 'write-behind' | undefined;
}

/** The order store the service uses. */
export async function createOrderStore(options: OrderStoreOptions): Promise<OrderStore> {
  const database =
    options.databaseUrl === undefined
      ? memoryOrderDatabase()
      : await postgresOrderDatabase({
          connectionString: options.databaseUrl,
          table: options.table,
        });
  if (options.mode === 'direct') return directOrderStore(database);
  return writeBehindOrderStore(database, { redis: options.redis, prefix: options.redisPrefix });
}
