// What each dead-letter queue adds to the contract (dead-letters.contract.test.ts): the memory
// queue's bound, claims that expire with the lease, DynamoDB retention, and option validation.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { describeWithDynamo, dynamoFixture, fakeClock } from '@breakwater/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDeadLetterTable, dynamoDeadLetters } from '../dynamodb.js';
import {
  type DeadLetterQueue,
  isUnknownDeadLetterStreamError,
  memoryDeadLetters,
  type RetryFailure,
} from '../index.js';

const failure = (input: number, policyName = 'charge'): RetryFailure => ({
  policyName,
  reason: 'max-attempts',
  attempts: 3,
  elapsedMs: 10,
  startedAt: 0,
  error: new Error('down'),
  result: undefined,
  ok: false,
  input,
  budgetError: undefined,
});

const inputs = async (queue: DeadLetterQueue) => (await queue.list()).map((e) => e.input);

/** A replay that holds its claim until `release()`; `started` resolves once it runs (claimed). */
function heldReplay(): { run: () => Promise<void>; release: () => void; started: Promise<void> } {
  let release = () => {};
  let start = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const started = new Promise<void>((resolve) => {
    start = resolve;
  });
  return {
    run: () => {
      start();
      return released;
    },
    release,
    started,
  };
}

describe('memoryDeadLetters', () => {
  it('keeps at most maxEntries per stream, dropping the oldest', async () => {
    const queue = memoryDeadLetters({ maxEntries: 3 });
    for (let i = 1; i <= 5; i++) await queue.append(failure(i));
    await queue.append(failure(100, 'refund'));
    expect(await inputs(queue)).toEqual([3, 4, 5, 100]);
    expect(await queue.size('charge')).toBe(3);
  });

  it('puts every entry in the fixed stream when one is set', async () => {
    const queue = memoryDeadLetters({ stream: 'all' });
    await queue.append(failure(1, 'charge'));
    await queue.append(failure(2, 'refund'));
    expect(await queue.streams()).toEqual(['all']);
    expect((await queue.list()).map((e) => [e.stream, e.policyName])).toEqual([
      ['all', 'charge'],
      ['all', 'refund'],
    ]);
    await expect(queue.size('charge')).rejects.toSatisfy(isUnknownDeadLetterStreamError);
  });

  it('a claim held past claimMs (a replica that died mid-replay) is taken over', async () => {
    const clock = fakeClock(1_000);
    const queue = memoryDeadLetters({ clock, claimMs: 5_000 });
    const id = await queue.append(failure(1));
    const held = heldReplay();
    const first = queue.replay(id, held.run);
    await held.started;
    expect(await queue.replay(id, () => {})).toBe(false);
    await clock.advance(4_999);
    expect(await queue.replay(id, () => {})).toBe(false);
    await clock.advance(1);
    const replayed: unknown[] = [];
    expect(await queue.replay(id, (entry) => void replayed.push(entry.input))).toBe(true);
    expect(replayed).toEqual([1]);
    // The first replay finishes late: its claim is gone, so it removes nothing of anyone's.
    held.release();
    await expect(first).resolves.toBe(true);
    expect(await queue.size()).toBe(0);
  });

  it('rejects bad options, naming the option and the value', () => {
    expect(() => memoryDeadLetters({ maxEntries: 0 })).toThrow(
      'Expected `maxEntries` to be an integer >= 1, got 0',
    );
    expect(() => memoryDeadLetters({ claimMs: -1 })).toThrow(/`claimMs`.*-1/);
    expect(() => memoryDeadLetters({ stream: '' })).toThrow(/`stream`.*""/);
    expect(() => memoryDeadLetters({ codec: 'json' as never })).toThrow(
      'Expected `codec` to be an object, got "json"',
    );
    expect(() => memoryDeadLetters({ codec: { encode: JSON.stringify } as never })).toThrow(
      /`codec.decode`/,
    );
    expect(() => memoryDeadLetters({ clock: 5 as never })).toThrow(/`clock`/);
  });
});

describe('dynamoDeadLetters options', () => {
  const client = { send: async () => ({}) } as unknown as DynamoDBClient;
  it('rejects bad options, naming the option and the value', () => {
    expect(() => dynamoDeadLetters({ client: {} as never, tableName: 't' })).toThrow(
      'Expected `client` to be a DynamoDBClient, got {}',
    );
    expect(() => dynamoDeadLetters({ client, tableName: '' })).toThrow(/`tableName`/);
    expect(() => dynamoDeadLetters({ client, tableName: 't', retentionMs: 0 })).toThrow(
      /`retentionMs`.*0/,
    );
    expect(() => dynamoDeadLetters({ client, tableName: 't', storeDeadlineMs: 0 })).toThrow(
      /`storeDeadlineMs`/,
    );
  });
});

describeWithDynamo('dynamoDeadLetters on dynalite', () => {
  const dynamo = dynamoFixture();
  const table = () => `${dynamo.tableName}-dead-letters`;
  beforeAll(async () => {
    await createDeadLetterTable(dynamo.client, table());
  });

  it('an entry past retentionMs is neither listed, counted, read nor replayed', async () => {
    const clock = fakeClock(Date.UTC(2026, 0, 1));
    const queue = dynamoDeadLetters({
      client: dynamo.client,
      tableName: table(),
      prefix: dynamo.uniquePrefix(),
      clock,
      retentionMs: 60_000,
    });
    const old = await queue.append(failure(1));
    await clock.advance(30_000);
    await queue.append(failure(2));
    expect(await inputs(queue)).toEqual([1, 2]);
    // dynalite never deletes expired items (nor does DynamoDB at once): the queue must skip them.
    await clock.advance(31_000);
    expect(await inputs(queue)).toEqual([2]);
    expect(await queue.size()).toBe(1);
    expect(await queue.get(old)).toBeUndefined();
    expect(await queue.replay(old, () => {})).toBe(false);
  });

  it('a claim held past claimMs is taken over by another replica', async () => {
    const clock = fakeClock(Date.UTC(2026, 0, 1));
    const options = {
      client: dynamo.client,
      tableName: table(),
      prefix: dynamo.uniquePrefix(),
      clock,
      claimMs: 5_000,
    };
    const [a, b] = [dynamoDeadLetters(options), dynamoDeadLetters(options)];
    const id = await a.append(failure(1));
    const held = heldReplay();
    const first = a.replay(id, held.run);
    await held.started;
    expect(await b.replay(id, () => {})).toBe(false);
    await clock.advance(5_001);
    expect(await b.replay(id, () => {})).toBe(true);
    held.release();
    // The first replica's removal finds its claim gone: nothing to remove, no error.
    await expect(first).resolves.toBe(true);
    expect(await a.size()).toBe(0);
  });
});
