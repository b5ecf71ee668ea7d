/**
 * The order databases keep the newest version of every order, whatever order the writes arrive in
 * and however often they are replayed: what write-behind's `persist` needs.
 */
import { randomUUID } from 'node:crypto';
import { describeWithPostgres, services } from '@breakwater/testkit';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import {
  directOrderStore,
  memoryOrderDatabase,
  type Order,
  type OrderDatabase,
  type OrderWrite,
  postgresOrderDatabase,
} from '../orders.js';

function order(id: string, version: number, status: Order['status']): OrderWrite {
  return {
    key: id,
    version,
    value: {
      id,
      clientId: 'client-1',
      productId: '7',
      amountCents: 1234,
      status,
      createdAt: '2026-11-22T12:00:00.000Z',
      version,
    },
  };
}

function versionedUpsertContract(makeDatabase: () => Promise<OrderDatabase>): void {
  it('keeps the newest version, whatever the arrival order, and ignores replays', async () => {
    const db = await makeDatabase();
    await db.persist([order('a', 2, 'paid')]);
    await db.persist([order('a', 1, 'payment-queued')]); // late and older: ignored
    await db.persist([order('a', 2, 'payment-failed')]); // replay of version 2: ignored
    expect(await db.get('a')).toMatchObject({ status: 'paid', version: 2 });
    await db.persist([order('a', 3, 'payment-failed')]);
    expect(await db.get('a')).toMatchObject({ status: 'payment-failed', version: 3 });
  });

  it('takes the newest row of a key that a batch holds several times', async () => {
    const db = await makeDatabase();
    await db.persist([
      order('b', 1, 'payment-queued'),
      order('b', 3, 'paid'),
      order('b', 2, 'payment-failed'),
      order('c', 1, 'paid'),
    ]);
    expect(await db.get('b')).toMatchObject({ status: 'paid', version: 3 });
    expect(await db.get('c')).toMatchObject({ status: 'paid', version: 1 });
    expect(await db.get('missing')).toBeUndefined();
  });

  it('behind the direct store: save writes through and nothing is pending', async () => {
    const store = directOrderStore(await makeDatabase());
    await store.save(order('d', 1, 'paid').value);
    expect(await store.get('d')).toMatchObject({ id: 'd', status: 'paid' });
    expect(await store.backlog()).toEqual({ pending: 0, lagMs: 0 });
  });
}

describe('memory order database', () => {
  versionedUpsertContract(async () => memoryOrderDatabase());
});

describeWithPostgres('PostgreSQL order database', () => {
  const table = `checkout_orders_test_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const opened: OrderDatabase[] = [];
  let made = 0;

  afterAll(async () => {
    await Promise.all(opened.map((db) => db.close()));
    const client = new pg.Client({ connectionString: services().postgresUrl });
    await client.connect();
    try {
      for (let i = 0; i < made; i++) await client.query(`DROP TABLE IF EXISTS ${table}_${i}`);
    } finally {
      await client.end();
    }
  });

  versionedUpsertContract(async () => {
    const db = await postgresOrderDatabase({
      connectionString: services().postgresUrl,
      table: `${table}_${made++}`,
    });
    opened.push(db);
    return db;
  });

  it('creates its table once even when replicas start together', async () => {
    const name = `${table}_${made++}`;
    const dbs = await Promise.all(
      Array.from({ length: 3 }, () =>
        postgresOrderDatabase({ connectionString: services().postgresUrl, table: name }),
      ),
    );
    opened.push(...dbs);
    await dbs[0]!.persist([order('e', 1, 'paid')]);
    expect(await dbs[2]!.get('e')).toMatchObject({ status: 'paid' });
  });

  it('refuses a table name that is not a plain identifier', async () => {
    await expect(
      postgresOrderDatabase({ connectionString: services().postgresUrl, table: 'orders; DROP' }),
    ).rejects.toThrow(RangeError);
  });
});
