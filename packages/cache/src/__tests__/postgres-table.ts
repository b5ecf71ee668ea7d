/**
 * A PostgreSQL table for the write-behind tests and the `persist` that docs/write-behind.md
 * recommends: one multi-row upsert that only replaces a row holding a lower version, so retried,
 * duplicated or reordered batches leave each row at its highest version.
 */
import type { Pool } from 'pg';
import type { PersistEntry } from '../index.js';

/** Creates `table (key text primary key, value jsonb, version bigint)`. */
export async function createVersionedTable(pool: Pool, table: string): Promise<void> {
  await pool.query(
    `CREATE TABLE IF NOT EXISTS ${table} (key text PRIMARY KEY, value jsonb NOT NULL, version bigint NOT NULL)`,
  );
}

/** A `persist` writing a batch into `table` in one statement, conditional on the version. */
export function versionedUpsert<T>(pool: Pool, table: string) {
  return async (batch: readonly PersistEntry<T>[]): Promise<void> => {
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

/** Every row of `table`, by key. */
export async function readTable(
  pool: Pool,
  table: string,
): Promise<Map<string, { value: unknown; version: number }>> {
  const { rows } = await pool.query<{ key: string; value: unknown; version: string }>(
    `SELECT key, value, version FROM ${table}`,
  );
  return new Map(rows.map((row) => [row.key, { value: row.value, version: Number(row.version) }]));
}
