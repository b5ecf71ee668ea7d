/**
 * Nemesis replica: writes `(key, version)` through a write-behind on a Redis queue (through this
 * replica's fault proxy). Its `persist` is the "database": every row of a batch is sent to the
 * shared resource, which records it (`kind: 'persist'`, key, version) on its own clock before
 * `persist` returns. Every acknowledged write is recorded with the version `write()` resolved with.
 * After the run the replica drains for a bounded time, so the checker can judge what reached the
 * database.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { reportMessage, reportResult } from '../../replica.js';
import { loadWriteBehind, type NemesisPersistEntry } from '../patterns.js';
import { replicaRun } from '../replica-run.js';
import { connectSharedResource } from '../resource.js';

/** Parameters of the write-behind scenario. */
export interface WriteBehindParams {
  /**
   * How many keys each writer cycles through: many, so that most writes are their key's last for a
   * while and a lost write is not covered by a newer one of its key.
   */
  keys: number;
  /** The Redis queue's `durability`. */
  durability: 'primary' | 'wait';
  storeDeadlineMs: number;
  flushIntervalMs: number;
  claimIdleMs: number;
  /** How long the database takes per batch, in ms (the queue holds a backlog meanwhile). */
  persistMs: number;
  batchSize: number;
  /** Concurrent writers per replica, and the pause between two writes of one writer, in ms. */
  loops: number;
  pauseMs: number;
  /** How long a replica drains after the run before it closes, at most, in ms. */
  drainMs: number;
}

const run = replicaRun<WriteBehindParams>();
const { writeBehind, redisWriteBehindQueue } = await loadWriteBehind();
const { params } = run;
const resource = await connectSharedResource();
const queue = redisWriteBehindQueue({
  client: run.client,
  prefix: run.prefix,
  durability: params.durability,
});
let persisted = 0;
const wb = writeBehind({
  name: 'nemesis',
  queue,
  // The database: the resource records each row before persist resolves (replies come in order
  // on the one connection, so the rows of a batch go out together).
  persist: async (batch: readonly NemesisPersistEntry[]) => {
    await sleep(params.persistMs);
    await Promise.all(
      batch.map((entry) =>
        resource.act({
          replica: run.index,
          pid: process.pid,
          call: -1,
          token: undefined,
          kind: 'persist',
          key: entry.key,
          version: entry.version,
        }),
      ),
    );
    persisted += batch.length;
  },
  batchSize: params.batchSize,
  flushIntervalMs: params.flushIntervalMs,
  // Entries whose completion a fault swallowed come back to a flusher after this long.
  claimIdleMs: params.claimIdleMs,
  maxAttempts: 100,
  retryDelayMs: 50,
  maxRetryDelayMs: 500,
  // Explicit, whatever the package's defaults become.
  maxPending: 100_000,
  onBacklog: 'reject',
  storeDeadlineMs: params.storeDeadlineMs,
  storeFailureThreshold: 3,
  storeProbeIntervalMs: 100,
});

await reportMessage('ready');
await run.waitForStart();
let acknowledged = 0;
let refused = 0;
await Promise.all(
  Array.from({ length: params.loops }, async (_, loop) => {
    let n = 0;
    while (run.running()) {
      const key = `r${run.index}-w${loop}-k${n++ % params.keys}`;
      const id = run.history.invoke('write', { key });
      try {
        const version = await wb.write(key, { replica: run.index, n });
        acknowledged++;
        run.history.complete(id, 'ok', 'write', { key, version });
      } catch (error) {
        refused++;
        run.history.complete(id, 'fail', 'write', {
          key,
          error: (error as { name?: string }).name ?? String(error),
        });
        await sleep(20);
      }
      await sleep(params.pauseMs);
    }
  }),
);

// The drain, bounded: flush until the queue is empty (entries other replicas left idle come back
// after `claimIdleMs`), or until the time is up. What is left is reported, and judged lost.
const drainEnd = Date.now() + params.drainMs;
let left = -1;
let drainError: string | undefined;
while (Date.now() < drainEnd) {
  await wb.flush().catch(() => {});
  try {
    left = await wb.pending();
    drainError = undefined;
  } catch (error) {
    left = -1;
    drainError = `${(error as Error).name}: ${(error as Error).message}`;
  }
  if (left === 0) break;
  await sleep(100);
}
run.history.info('drained', { left, error: drainError, storeStatus: wb.storeStatus });
await wb.close({ timeoutMs: 1_000 });
await queue.close();
resource.close();
await run.close();
await reportResult({ acknowledged, refused, persisted, left });
