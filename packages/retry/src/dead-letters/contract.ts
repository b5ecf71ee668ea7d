/**
 * The dead-letter queue contract: what every {@link DeadLetterQueue} does, as plain async checks
 * (node:assert) that any test framework runs. Breakwater runs it on memory, Redis, Redis Cluster
 * and DynamoDB; a user runs it on their own queue.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { DeadLetterCodec, DeadLetterEntry } from '../dead-letter-entry.js';
import type { DeadLetterQueue } from '../dead-letter-queue.js';
import { isDeadLetterCodecError, isUnknownDeadLetterStreamError } from '../errors.js';
import type { RetryFailure } from '../events.js';

/** Options the contract asks a queue to be built with. */
export interface DeadLetterContractOptions {
  /** The codec to build the queue with (the default JSON codec when absent). */
  codec?: DeadLetterCodec | undefined;
}

/**
 * Builds a queue for the contract. Calls with the same `namespace` must give queues over the
 * same storage (two replicas of one service); queues of different namespaces must share nothing
 * (a key prefix, a table partition, a fresh in-process queue).
 */
export type MakeDeadLetterQueue = (
  namespace: string,
  options: DeadLetterContractOptions,
) => DeadLetterQueue | Promise<DeadLetterQueue>;

/** One check of the contract: give `name` and `run` to your framework (`it(c.name, c.run)`). */
export interface DeadLetterContractCase {
  /** What the check proves. */
  readonly name: string;
  /** Runs the check; rejects with an `AssertionError` when the queue breaks the contract. */
  readonly run: () => Promise<void>;
}

interface Payment {
  readonly order: number;
}

function failure(policyName: string, order: number, extra: Partial<RetryFailure> = {}) {
  return {
    policyName,
    reason: 'max-attempts',
    attempts: 3,
    elapsedMs: 120,
    startedAt: 1_700_000_000_000 + order,
    error: Object.assign(new Error(`gateway down for ${order}`), { code: 'ECONNRESET' }),
    result: undefined,
    ok: false,
    input: { order } satisfies Payment,
    budgetError: undefined,
    ...extra,
  } satisfies RetryFailure;
}

const orderOf = (entry: DeadLetterEntry) => (entry.input as Payment).order;

async function fill(queue: DeadLetterQueue, stream: string, orders: number[]): Promise<string[]> {
  const ids: string[] = [];
  // One at a time: the order of appends is the order the contract expects back.
  for (const order of orders) ids.push(await queue.append(failure(stream, order)));
  return ids;
}

async function listAll(
  queue: DeadLetterQueue,
  count: number,
  stream?: string,
): Promise<DeadLetterEntry[]> {
  const all: DeadLetterEntry[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await queue.list({ stream, count, after });
    assert.ok(page.length <= count, `a page of ${page.length} entries for count ${count}`);
    all.push(...page);
    if (page.length < count) return all;
    after = page[page.length - 1]!.id;
  }
}

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

/**
 * The contract's checks, each on a fresh namespace. Run every one:
 *
 * @example
 * import { deadLetterQueueContract } from '@breakwater/retry/testing';
 * describe('my SQS dead letters', () => {
 *   for (const check of deadLetterQueueContract((ns, opts) => sqsDeadLetters({ ...opts, queue: ns }))) {
 *     it(check.name, check.run);
 *   }
 * });
 */
export function deadLetterQueueContract(makeQueue: MakeDeadLetterQueue): DeadLetterContractCase[] {
  if (typeof makeQueue !== 'function') {
    throw new TypeError(`Expected \`makeQueue\` to be a function, got ${typeof makeQueue}`);
  }
  /** Runs `body` with `replicas` queues over one fresh namespace, closing them all after. */
  const withQueues =
    (replicas: number, body: (...queues: DeadLetterQueue[]) => Promise<void>, options = {}) =>
    async () => {
      const namespace = `dl-${randomUUID().slice(0, 8)}`;
      const queues: DeadLetterQueue[] = [];
      try {
        for (let i = 0; i < replicas; i++) queues.push(await makeQueue(namespace, options));
        await body(...queues);
      } finally {
        await Promise.all(queues.map((queue) => queue.close()));
      }
    };
  const check = (name: string, run: () => Promise<void>): DeadLetterContractCase => ({ name, run });

  return [
    check(
      'append keeps the whole failure, in the stream named by its policy',
      withQueues(1, async (queue) => {
        const id = await queue.append(failure('charge', 1));
        assert.equal(typeof id, 'string');
        const [entry] = await queue.list();
        assert.ok(entry, 'the appended entry is listed');
        assert.equal(entry.id, id);
        assert.equal(entry.stream, 'charge');
        assert.ok(id.startsWith('charge/'), `the id ${id} names its stream`);
        assert.equal(entry.policyName, 'charge');
        assert.equal(entry.reason, 'max-attempts');
        assert.equal(entry.attempts, 3);
        assert.equal(entry.elapsedMs, 120);
        assert.equal(entry.startedAt, 1_700_000_000_001);
        assert.equal(entry.ok, false);
        assert.deepEqual(entry.input, { order: 1 });
        assert.equal(entry.result, undefined);
        assert.equal(entry.error?.message, 'gateway down for 1');
        assert.equal(entry.error?.code, 'ECONNRESET');
        assert.equal(entry.replays, 0);
        assert.equal(entry.lastReplayError, undefined);
        assert.deepEqual(await queue.get(id), entry);
        assert.deepEqual(await queue.streams(), ['charge']);
        assert.equal(await queue.size(), 1);
        assert.equal(await queue.size('charge'), 1);
      }),
    ),
    check(
      'a result the policy retried is kept decoded, with no error',
      withQueues(1, async (queue) => {
        await queue.append(
          failure('poll', 1, { ok: true, error: undefined, result: { status: 'pending' } }),
        );
        const [entry] = await queue.list({ stream: 'poll' });
        assert.equal(entry?.ok, true);
        assert.deepEqual(entry?.result, { status: 'pending' });
        assert.equal(entry?.error, undefined);
      }),
    ),
    check(
      'pages list every entry once, oldest first, stream by stream',
      withQueues(1, async (queue) => {
        await fill(queue, 'b-refund', range(101, 104));
        await fill(queue, 'a-charge', range(1, 7));
        for (const count of [1, 3, 100]) {
          const all = await listAll(queue, count);
          assert.deepEqual(
            all.map(orderOf),
            [...range(1, 7), ...range(101, 104)],
            `count ${count}`,
          );
        }
        const refunds = await listAll(queue, 2, 'b-refund');
        assert.deepEqual(refunds.map(orderOf), range(101, 104));
        assert.equal(await queue.size('a-charge'), 7);
        assert.equal(await queue.size(), 11);
        assert.deepEqual(await queue.streams(), ['a-charge', 'b-refund']);
      }),
    ),
    check(
      'paging while another replica appends lists every earlier entry once, in order',
      withQueues(2, async (reader, writer) => {
        await fill(writer, 'charge', range(1, 12));
        const appending = fill(writer, 'charge', range(13, 30));
        const seen = await listAll(reader, 2, 'charge');
        await appending;
        const orders = seen.map(orderOf);
        assert.deepEqual(orders.slice(0, 12), range(1, 12), 'entries there before paging began');
        assert.deepEqual(
          orders,
          [...orders].sort((a, b) => a - b),
          'listed in append order',
        );
        assert.equal(new Set(orders).size, orders.length, 'no entry listed twice');
        assert.deepEqual((await listAll(reader, 7, 'charge')).map(orderOf), range(1, 30));
      }),
    ),
    check(
      'a successful replay removes the entry; replaying it again resolves false',
      withQueues(1, async (queue) => {
        const [first, second] = await fill(queue, 'charge', [1, 2]);
        const replayed: number[] = [];
        const ok = await queue.replay(first!, (entry) => {
          replayed.push(orderOf(entry));
        });
        assert.equal(ok, true);
        assert.deepEqual(replayed, [1]);
        assert.equal(await queue.get(first!), undefined);
        assert.equal(await queue.replay(first!, () => {}), false);
        assert.deepEqual(replayed, [1]);
        assert.deepEqual(
          (await queue.list()).map((e) => e.id),
          [second],
        );
      }),
    ),
    check(
      'a replay that fails keeps the entry, counts the attempt and keeps the error',
      withQueues(1, async (queue) => {
        const [id] = await fill(queue, 'charge', [1]);
        const still = new Error('still down');
        await assert.rejects(
          queue.replay(id!, () => Promise.reject(still)),
          (error) => error === still,
        );
        let entry = await queue.get(id!);
        assert.equal(entry?.replays, 1);
        assert.equal(entry?.lastReplayError?.message, 'still down');
        await assert.rejects(
          queue.replay(id!, () => {
            throw new TypeError('bad gateway');
          }),
          TypeError,
        );
        entry = await queue.get(id!);
        assert.equal(entry?.replays, 2);
        assert.equal(entry?.lastReplayError?.name, 'TypeError');
        // The claim was released: the entry replays at once.
        assert.equal(await queue.replay(id!, () => {}), true);
        assert.equal(await queue.size(), 0);
      }),
    ),
    check(
      'two replicas replaying one entry at once run it once',
      withQueues(2, async (a, b) => {
        const [id] = await fill(a, 'charge', [1]);
        let runs = 0;
        const slow = async () => {
          runs++;
          await new Promise((resolve) => setTimeout(resolve, 50));
        };
        const results = await Promise.all([a.replay(id!, slow), b.replay(id!, slow)]);
        assert.equal(runs, 1, 'the entry ran once');
        assert.deepEqual([...results].sort(), [false, true]);
        assert.equal(await a.size(), 0);
      }),
    ),
    check(
      'two replicas running replayAll at once replay each entry exactly once',
      withQueues(2, async (a, b) => {
        await fill(a, 'charge', range(1, 15));
        await fill(a, 'refund', range(101, 105));
        const runs = new Map<number, number>();
        const replay = async (entry: DeadLetterEntry) => {
          runs.set(orderOf(entry), (runs.get(orderOf(entry)) ?? 0) + 1);
          await new Promise((resolve) => setTimeout(resolve, 2));
        };
        const [ra, rb] = await Promise.all([
          a.replayAll(replay, { concurrency: 3 }),
          b.replayAll(replay, { concurrency: 2 }),
        ]);
        assert.equal(ra.replayed + rb.replayed, 20, 'every entry replayed');
        assert.deepEqual(
          [...runs.keys()].sort((x, y) => x - y),
          [...range(1, 15), ...range(101, 105)],
        );
        for (const [order, count] of runs) assert.equal(count, 1, `entry ${order} ran ${count}×`);
        assert.deepEqual([...ra.failed, ...rb.failed], []);
        assert.equal(await a.size(), 0);
      }),
    ),
    check(
      'replayAll keeps the entries whose replay failed, with their error and count',
      withQueues(1, async (queue) => {
        const ids = await fill(queue, 'charge', range(1, 6));
        const result = await queue.replayAll(
          (entry) => {
            if (orderOf(entry) % 2 === 0) throw new Error(`declined ${orderOf(entry)}`);
          },
          { stream: 'charge', concurrency: 2 },
        );
        assert.equal(result.replayed, 3);
        assert.deepEqual(result.failed.map((f) => f.id).sort(), [ids[1], ids[3], ids[5]].sort());
        for (const { error } of result.failed) assert.match((error as Error).message, /^declined/);
        const left = await queue.list();
        assert.deepEqual(left.map(orderOf), [2, 4, 6]);
        for (const entry of left) {
          assert.equal(entry.replays, 1);
          assert.equal(entry.lastReplayError?.message, `declined ${orderOf(entry)}`);
        }
        const stopped = await queue.replayAll(
          () => {
            throw new Error('down');
          },
          { stopOnError: true },
        );
        assert.equal(stopped.failed.length, 1, 'stopOnError stops at the first failure');
      }),
    ),
    check(
      'replayAll leaves entries appended during the run for the next run',
      withQueues(1, async (queue) => {
        await fill(queue, 'charge', [1, 2, 3]);
        let appended = 0;
        const result = await queue.replayAll(async (entry) => {
          // A replay that fails again and is dead-lettered again: a new entry each time.
          await queue.append(failure('charge', orderOf(entry) + 10));
          appended++;
        });
        assert.equal(result.replayed, 3);
        assert.equal(appended, 3);
        assert.deepEqual((await queue.list()).map(orderOf), [11, 12, 13]);
      }),
    ),
    check(
      'remove and trim drop entries without replaying them',
      withQueues(1, async (queue) => {
        const ids = await fill(queue, 'charge', range(1, 8));
        await fill(queue, 'refund', range(101, 103));
        assert.equal(await queue.remove(ids[0]!), true);
        assert.equal(await queue.remove(ids[0]!), false);
        assert.equal(await queue.trim({ stream: 'charge', maxEntries: 4 }), 3);
        assert.deepEqual((await queue.list({ stream: 'charge' })).map(orderOf), [5, 6, 7, 8]);
        assert.equal(await queue.trim({ maxEntries: 1 }), 5);
        assert.deepEqual((await queue.list()).map(orderOf), [8, 103]);
        assert.equal(await queue.trim({ maxEntries: 0 }), 2);
        assert.equal(await queue.size(), 0);
        assert.deepEqual(await queue.streams(), ['charge', 'refund'], 'empty streams stay known');
        assert.deepEqual(await queue.list({ stream: 'charge' }), []);
      }),
    ),
    check(
      'an unknown stream is a named error, not an empty stream',
      withQueues(1, async (queue) => {
        const [id] = await fill(queue, 'charge', [1]);
        const unknown = (error: unknown) =>
          isUnknownDeadLetterStreamError(error) && error.stream === 'chrage';
        await assert.rejects(
          queue.replayAll(() => {}, { stream: 'chrage' }),
          unknown,
        );
        await assert.rejects(
          queue.replay(id!.replace(/^charge\//, 'chrage/'), () => {}),
          (error) => isUnknownDeadLetterStreamError(error),
        );
        await assert.rejects(queue.list({ stream: 'chrage' }), unknown);
        await assert.rejects(queue.size('chrage'), unknown);
        await assert.rejects(queue.trim({ stream: 'chrage', maxEntries: 0 }), unknown);
        assert.equal(await queue.size(), 1, 'nothing touched');
      }),
    ),
    check(
      'bad arguments are named errors that say what was received',
      withQueues(1, async (queue) => {
        const [id] = await fill(queue, 'charge', [1]);
        for (const count of [0, -1, 1.5, Number.NaN, '10']) {
          await assert.rejects(queue.list({ count: count as number }), (error: Error) => {
            assert.match(error.message, /`count`/);
            assert.match(error.message, new RegExp(String(count).replace('.', '\\.')));
            return error instanceof RangeError || error instanceof TypeError;
          });
        }
        for (const concurrency of [0, 2.5]) {
          await assert.rejects(
            queue.replayAll(() => {}, { concurrency }),
            /`concurrency`/,
          );
        }
        await assert.rejects(
          queue.replay('no-slash', () => {}),
          /`id`.*no-slash/,
        );
        await assert.rejects(queue.replay(id!, 'nope' as never), /`fn`/);
        await assert.rejects(queue.trim({ maxEntries: -1 }), /`maxEntries`/);
        assert.equal(await queue.size(), 1, 'nothing replayed or dropped');
      }),
    ),
    check(
      'a value the codec cannot encode is rejected at append and nothing is written',
      withQueues(
        1,
        async (queue) => {
          await assert.rejects(queue.append(failure('charge', 13)), (error: unknown) => {
            assert.ok(isDeadLetterCodecError(error), `a DeadLetterCodecError, got ${error}`);
            assert.equal(error.field, 'input');
            assert.equal(error.direction, 'encode');
            assert.match(error.message, /unlucky/);
            return true;
          });
          assert.equal(await queue.size(), 0);
          assert.deepEqual(await queue.list(), []);
          await queue.append(failure('charge', 1));
          assert.deepEqual((await queue.list()).map(orderOf), [1]);
        },
        {
          codec: {
            encode(value: unknown) {
              if ((value as Payment | undefined)?.order === 13) throw new Error('unlucky order');
              return JSON.stringify(value) ?? '';
            },
            decode: (text: string) => (text === '' ? undefined : JSON.parse(text)),
          },
        },
      ),
    ),
    check(
      'close() resolves, and so does asyncDispose',
      withQueues(1, async (queue) => {
        await fill(queue, 'charge', [1]);
        await queue.close();
        await queue[Symbol.asyncDispose]();
      }),
    ),
  ];
}
