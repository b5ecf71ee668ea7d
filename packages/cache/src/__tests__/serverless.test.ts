/**
 * Serverless: write-behind on a DynamoDB queue across frozen invocations — no write is lost when
 * the container that accepted it is frozen forever right after the invocation returns, nor when it
 * is frozen in the middle of persisting — and what an invocation costs in DynamoDB requests
 * (docs/SERVERLESS.md states these numbers). (dynalite has no TransactWriteItems: the stand-in of
 * dynalite-transactions.ts serves it; the counts below see each transaction as one request, as
 * DynamoDB bills it.)
 */
import { serverless } from '@breakwater/core';
import {
  describeWithDynamo,
  dynamoFixture,
  type FreezeThaw,
  freezeThaw,
} from '@breakwater/testkit';
import { afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { createWriteQueueTable, dynamoWriteBehindQueue } from '../dynamodb.js';
import { type PersistEntry, writeBehind } from '../index.js';
import { emulateTransactions } from './dynalite-transactions.js';

describeWithDynamo('write-behind across frozen invocations (DynamoDB queue)', () => {
  const dynamo = dynamoFixture();
  let env: FreezeThaw;
  let queueTable: string;
  beforeAll(async () => {
    queueTable = `${dynamo.tableName}-sls`;
    emulateTransactions(dynamo.client);
    await createWriteQueueTable(dynamo.client, queueTable);
  });
  beforeEach(() => {
    env = freezeThaw();
  });
  afterEach(() => env.close());

  /** The database: the newest version of each key that was persisted. */
  const database = () => new Map<string, PersistEntry<string>>();

  /**
   * A container: a write-behind without a background flusher (`flusher: false`), settled by
   * `serverless()`; `persist` writes to `db`, or never finishes when `hang` is set.
   */
  const boot = (
    name: string,
    prefix: string,
    db: Map<string, PersistEntry<string>>,
    options: { settle: boolean; hang?: boolean },
  ) =>
    env.container(name, (container) => {
      let persisting = 0;
      const writes = writeBehind<string>({
        name: 'profiles',
        queue: dynamoWriteBehindQueue({
          client: container.client(dynamo.client),
          tableName: queueTable,
          prefix,
          clock: env.clock,
        }),
        persist: async (batch) => {
          persisting++;
          if (options.hang) await new Promise(() => {});
          for (const entry of batch) {
            const stored = db.get(entry.key);
            if (stored === undefined || stored.version < entry.version) db.set(entry.key, entry);
          }
        },
        flusher: false,
        claimIdleMs: 30_000,
        clock: env.clock,
        // Far above dynalite's answers on a loaded machine: a request that missed a short deadline
        // would change the request counts below.
        storeDeadlineMs: 5_000,
      });
      const handler = async (event: { writes: Record<string, string> }) => {
        for (const [key, value] of Object.entries(event.writes)) await writes.write(key, value);
        return Object.keys(event.writes).length;
      };
      return {
        writes,
        persisting: () => persisting,
        handler: options.settle ? serverless(handler, { settle: [writes] }) : handler,
      };
    });

  const values = (db: Map<string, PersistEntry<string>>) =>
    Object.fromEntries([...db].map(([key, entry]) => [key, entry.value]));

  it('a write accepted by a container frozen forever is persisted by the next one', async () => {
    const prefix = dynamo.uniquePrefix();
    const db = database();
    const a = await boot('a', prefix, db, { settle: false });
    expect(await a.invoke(a.app.handler, { writes: { 'user:1': 'ann', 'user:2': 'bob' } })).toBe(2);
    a.discard();
    expect(db.size).toBe(0);
    const b = await boot('b', prefix, db, { settle: true });
    await b.invoke(b.app.handler, { writes: { 'user:3': 'cy' } });
    expect(values(db)).toEqual({ 'user:1': 'ann', 'user:2': 'bob', 'user:3': 'cy' });
  });

  it('with settle, the invocation persists its own writes before it returns', async () => {
    const prefix = dynamo.uniquePrefix();
    const db = database();
    const a = await boot('a', prefix, db, { settle: true });
    await a.invoke(a.app.handler, { writes: { 'user:1': 'ann' } });
    expect(values(db)).toEqual({ 'user:1': 'ann' });
    a.discard();
    const b = await boot('b', prefix, db, { settle: true });
    expect(await b.invoke(() => b.app.writes.pending(), {})).toBe(0);
  });

  it('writes claimed by a container frozen mid-persist are taken over after claimIdleMs', async () => {
    const prefix = dynamo.uniquePrefix();
    const db = database();
    const a = await boot('a', prefix, db, { settle: false, hang: true });
    await a.invoke(async () => {
      await a.app.writes.write('user:1', 'ann');
      // The invocation ends (as a timed-out one would) while its flush is persisting.
      void a.app.writes.flush().catch(() => {});
      while (a.app.persisting() === 0) await new Promise((resolve) => setTimeout(resolve, 2));
    }, {});
    a.discard();
    const b = await boot('b', prefix, db, { settle: true });
    await b.invoke(b.app.handler, { writes: {} });
    // Still held by the frozen container.
    expect(db.size).toBe(0);
    env.clock.jump(30_001);
    await b.invoke(b.app.handler, { writes: {} });
    expect(values(db)).toEqual({ 'user:1': 'ann' });
  });

  it('what an invocation costs: writes, then the settle flush', async () => {
    const prefix = dynamo.uniquePrefix();
    const db = database();
    const warm = await boot('warm', prefix, db, { settle: true });
    for (let i = 0; i < 2; i++) {
      env.clock.jump(60_000);
      await warm.invoke(warm.app.handler, { writes: { [`user:${i}`]: 'x', [`team:${i}`]: 'y' } });
      expect(warm.requests).toEqual([
        // Each write: its version, then the append (entry + pending counter) in one transaction.
        'UpdateItemCommand',
        'TransactWriteItemsCommand',
        'UpdateItemCommand',
        'TransactWriteItemsCommand',
        // settle = flush(): the pending count that bounds it, the two claim queries (idle
        // entries, never-delivered ones), a conditional claim per entry, the backlog reading of
        // the stats and gauges (at most once a second: count + oldest entry), then the batch's
        // completion (deletes + counter) in one transaction.
        'GetItemCommand',
        'QueryCommand',
        'QueryCommand',
        'UpdateItemCommand',
        'UpdateItemCommand',
        'GetItemCommand',
        'QueryCommand',
        'TransactWriteItemsCommand',
      ]);
    }
  });
});
