/**
 * Write-behind as the degradation suite's subject, in two shapes. No vitest here: the suite's
 * child processes import this module too.
 *
 * - {@link build}: one `write()` as a user makes it — through a cache on the same store, so the
 *   value is readable through the cache — followed by that read. A write's first store operation
 *   is then the cache's pin, so in an outage it is the cache's L2 that fails and degrades first;
 *   the write-behind reports it (see `WritePathStatus`), and the cache's probe brings both back.
 *   The cache has no L1, so the read goes to the L2 store, where the value was pinned.
 * - {@link buildQueueOnly}: one `write()` without a cache: the queue is the only store, so the
 *   write-behind's own store call path (deadline, degraded mode, the queue's probe) is what the
 *   suite sees.
 *
 * Both writers run no flusher (`flusher: false`, a replica that only writes): a flusher's
 * background claims would fail on their own schedule during the fault, and the suite counts the
 * store failures its calls cause. `close()` still drains what the replica can claim.
 *
 * DynamoDB: dynalite has no TransactWriteItems, which the queue needs; the subject installs the
 * tests' stand-in (`dynalite-transactions.ts`) on the client it is given, in the test process and
 * in the child process alike. The queue needs a table of its own layout: one next to the suite's
 * table, created by the first subject (the helper is idempotent).
 */
import type { BuildSubject, DegradationBuildContext } from '@breakwater/testkit/degradation-child';
import { createWriteQueueTable, dynamoStore, dynamoWriteBehindQueue } from '../../dynamodb.js';
import {
  type Cache,
  type CacheStore,
  cache,
  type WriteBehindQueue,
  writeBehind,
} from '../../index.js';
import { redisStore, redisWriteBehindQueue } from '../../redis.js';
import { emulateTransactions } from '../dynalite-transactions.js';

/** What a call answers when the write was acknowledged. */
export interface WrittenAndRead {
  /** The version `write()` resolved with. */
  readonly version: number;
  /** The value written. */
  readonly written: { readonly n: number };
  /** What the cache answered for the key right after (only with a cache). */
  readonly read?: unknown;
}

/** The queue (and, with a cache, the cache's store) on the subject's client. */
async function storesOf(
  ctx: DegradationBuildContext,
  withCache: boolean,
): Promise<{ queue: WriteBehindQueue; store: CacheStore | undefined }> {
  if (ctx.backend === 'dynamodb') {
    emulateTransactions(ctx.client);
    const queueTable = `${ctx.tableName}-queue`;
    await createWriteQueueTable(ctx.client, queueTable);
    return {
      queue: dynamoWriteBehindQueue({
        client: ctx.client,
        tableName: queueTable,
        prefix: ctx.prefix,
      }),
      store: withCache
        ? dynamoStore({ client: ctx.client, tableName: ctx.tableName, prefix: ctx.prefix })
        : undefined,
    };
  }
  return {
    queue: redisWriteBehindQueue({ client: ctx.client, prefix: ctx.prefix }),
    store: withCache ? redisStore({ client: ctx.client, prefix: ctx.prefix }) : undefined,
  };
}

function subjectBuilder(withCache: boolean): BuildSubject {
  return async (ctx) => {
    const settings = {
      storeDeadlineMs: ctx.deadlineMs,
      storeFailureThreshold: ctx.failureThreshold,
      storeProbeIntervalMs: ctx.probeIntervalMs,
    };
    const { queue, store } = await storesOf(ctx, withCache);
    const profiles: Cache | undefined =
      store === undefined
        ? undefined
        : cache({
            name: ctx.policyName,
            store,
            l1: false,
            ttlMs: 60_000,
            // Reads answer from the L2 or reject: no fallback answer can pass for a healthy one.
            onStoreError: 'fail-closed',
            ...settings,
          });
    // Write-behind has no `onStoreError` to pass `ctx.mode` to: a write always rejects when it
    // could not be queued (see write-behind.degradation.test.ts).
    const writer = writeBehind<{ n: number }>({
      name: ctx.policyName,
      cache: profiles,
      queue,
      flusher: false,
      persist: () => {},
      ...settings,
    });
    let calls = 0;

    return {
      async call(): Promise<WrittenAndRead> {
        const written = { n: ++calls };
        const key = `profile:${written.n}`;
        const version = await writer.write(key, written);
        if (profiles === undefined) return { version, written };
        return { version, written, read: await profiles.get(key) };
      },
      onStoreStatusChange: (listener) => writer.onStoreStatusChange(listener),
      get storeStatus() {
        return writer.storeStatus;
      },
      async close() {
        await writer.close();
        await profiles?.close();
        await store?.close();
        await queue.close();
      },
    };
  };
}

/** A write through a cache on the same store, and a read of it through the cache. */
export const build: BuildSubject = subjectBuilder(true);

/** A write without a cache: the queue is the only store. */
export const buildQueueOnly: BuildSubject = subjectBuilder(false);
