/**
 * dynalite does not implement TransactWriteItems, so these tests script the client's answers: the
 * faults (a concurrent transaction cancelling ours, a condition failing) are what DynamoDB sends.
 */
import type { DynamoDBClient, TransactWriteItem } from '@aws-sdk/client-dynamodb';
import { fakeClock } from '@breakwater/testkit';
import { describe, expect, it, vi } from 'vitest';
import { isStoreConflictError, transactWrite } from '../dynamodb.js';
import { isStoreError } from '../errors.js';

function awsError(name: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(name), { name, ...extra });
}

const cancelled = (...codes: string[]) =>
  awsError('TransactionCanceledException', {
    CancellationReasons: codes.map((Code) => ({ Code })),
  });

/** A client whose `send` answers from `answers`, one per call. */
function scripted(answers: (Error | 'ok')[]): {
  client: DynamoDBClient;
  sent: TransactWriteItem[][];
  signals: (AbortSignal | undefined)[];
} {
  const sent: TransactWriteItem[][] = [];
  const signals: (AbortSignal | undefined)[] = [];
  const client = {
    send: vi.fn(async (command: { input: { TransactItems: TransactWriteItem[] } }, options) => {
      sent.push(command.input.TransactItems);
      signals.push((options as { abortSignal?: AbortSignal } | undefined)?.abortSignal);
      const answer = answers.shift() ?? 'ok';
      if (answer !== 'ok') throw answer;
      return {};
    }),
  } as unknown as DynamoDBClient;
  return { client, sent, signals };
}

const ITEMS: TransactWriteItem[] = [
  { Put: { TableName: 't', Item: { pk: { S: 'a' } } } },
  { Update: { TableName: 't', Key: { pk: { S: 'n' } }, UpdateExpression: 'ADD c :one' } },
];

describe('transactWrite', () => {
  it('commits in one request when nothing conflicts', async () => {
    const { client, sent } = scripted(['ok']);
    const result = await transactWrite({
      client,
      tableName: 't',
      operation: 'wb.append',
      build: () => ITEMS,
    });
    expect(result).toEqual({ committed: true, attempts: 1 });
    expect(sent).toEqual([ITEMS]);
  });

  it('retries a transaction cancelled by a concurrent one, rebuilding it each time', async () => {
    const { client, sent } = scripted([
      cancelled('TransactionConflict', 'None'),
      awsError('TransactionConflictException'),
      'ok',
    ]);
    const clock = fakeClock();
    let builds = 0;
    const pending = transactWrite({
      client,
      tableName: 't',
      operation: 'wb.complete',
      build: () => {
        builds++;
        return ITEMS;
      },
      clock,
    });
    await clock.advance(1000);
    expect(await pending).toEqual({ committed: true, attempts: 3 });
    expect(builds).toBe(3);
    expect(sent).toHaveLength(3);
  });

  it('answers the reasons when a condition failed, without retrying', async () => {
    const { client, sent } = scripted([cancelled('ConditionalCheckFailed', 'TransactionConflict')]);
    const result = await transactWrite({
      client,
      tableName: 't',
      operation: 'wb.claim',
      build: () => ITEMS,
    });
    expect(result).toEqual({
      committed: false,
      reasons: [{ code: 'ConditionalCheckFailed' }, { code: 'TransactionConflict' }],
      attempts: 1,
    });
    expect(sent).toHaveLength(1);
  });

  it('gives up after maxAttempts with a StoreConflictError naming the table and operation', async () => {
    const { client } = scripted(
      Array.from({ length: 3 }, () => awsError('TransactionConflictException')),
    );
    const clock = fakeClock();
    const pending = transactWrite({
      client,
      tableName: 'breakwater',
      operation: 'wb.complete',
      build: () => ITEMS,
      maxAttempts: 3,
      clock,
    }).catch((error: unknown) => error);
    await clock.advance(1000);
    const error = await pending;
    expect(isStoreConflictError(error)).toBe(true);
    expect(error).toMatchObject({ tableName: 'breakwater', operation: 'wb.complete', attempts: 3 });
    expect((error as Error).message).toBe(
      'dynamodb wb.complete on table "breakwater" gave up after 3 attempts: concurrent transactions kept cancelling it',
    );
  });

  it('turns any other failure into a StoreError with the cause', async () => {
    const cause = awsError('ProvisionedThroughputExceededException');
    const { client } = scripted([cause]);
    const error = await transactWrite({
      client,
      tableName: 't',
      operation: 'wb.append',
      build: () => ITEMS,
    }).catch((e: unknown) => e);
    expect(isStoreError(error)).toBe(true);
    expect(error).toMatchObject({ operation: 'wb.append', cause });
  });

  it('passes the signal to the request and rejects with its reason', async () => {
    const controller = new AbortController();
    const reason = new Error('deadline');
    const { client, signals } = scripted([awsError('TransactionConflictException')]);
    const clock = fakeClock();
    const pending = transactWrite({
      client,
      tableName: 't',
      operation: 'wb.append',
      build: () => ITEMS,
      signal: controller.signal,
      clock,
    }).catch((e: unknown) => e);
    await Promise.resolve();
    controller.abort(reason);
    await clock.advance(1000);
    expect(await pending).toBe(reason);
    expect(signals[0]).toBe(controller.signal);
  });

  it('names a bad option', async () => {
    const { client } = scripted([]);
    await expect(
      transactWrite({ client, tableName: 't', operation: 'x', build: () => ITEMS, maxAttempts: 0 }),
    ).rejects.toThrow('Expected `maxAttempts` to be an integer >= 1, got 0');
  });
});
