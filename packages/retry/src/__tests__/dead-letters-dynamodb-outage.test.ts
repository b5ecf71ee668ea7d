/**
 * A DynamoDB dead-letter queue while DynamoDB (dynalite behind a fault proxy) refuses connections
 * or hangs: every queue operation rejects with a StoreError naming it within the deadline (at once
 * once degraded), close() completes within the deadline, and the probe brings the queue back with
 * nothing lost. The Redis queue's counterpart is dead-letters-outage.test.ts.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { isStoreError, type StoreStatusChange } from '@breakwater/core';
import { describeWithDynamo, type FaultyDynamo, startFaultyStore } from '@breakwater/testkit';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createDeadLetterTable, dynamoDeadLetters } from '../dynamodb.js';
import type { RetryFailure } from '../index.js';
import { SLACK_MS, timed } from './outage.js';

const DEADLINE_MS = 200;

const failure = (input: unknown): RetryFailure => ({
  policyName: 'outage',
  reason: 'max-attempts',
  attempts: 1,
  elapsedMs: 0,
  startedAt: 0,
  error: new Error('x'),
  result: undefined,
  ok: false,
  input,
  budgetError: undefined,
});

describeWithDynamo('dynamoDeadLetters() in a DynamoDB outage', () => {
  let store: FaultyDynamo;
  let client: DynamoDBClient;
  const tableName = () => `${store.tableName}-dead-letters`;
  beforeEach(async () => {
    store = await startFaultyStore('dynamodb');
    client = store.newClient();
    await createDeadLetterTable(client, tableName());
  });
  afterEach(async () => {
    await store.stop();
  });

  const queueOn = () => {
    const queue = dynamoDeadLetters({
      client,
      tableName: tableName(),
      storeDeadlineMs: DEADLINE_MS,
      storeFailureThreshold: 2,
      storeProbeIntervalMs: 50,
    });
    const changes: StoreStatusChange[] = [];
    queue.onStoreStatusChange((change) => changes.push(change));
    return { queue, changes };
  };

  for (const fault of ['refuse', 'hang'] as const) {
    it(`${fault}: every queue operation rejects with a StoreError naming it, within the deadline`, async () => {
      const { queue, changes } = queueOn();
      const id = await queue.append(failure(1));
      await store.inject(fault);

      // Each names the first store operation it makes (see dead-letters-outage.test.ts).
      const operations: [string, () => Promise<unknown>][] = [
        ['append', () => queue.append(failure(2))],
        ['streams', () => queue.list()],
        ['hasStream', () => queue.list({ stream: 'outage' })],
        ['get', () => queue.get(id)],
        ['hasStream', () => queue.size('outage')],
        ['claim', () => queue.replay(id, () => {})],
        ['hasStream', () => queue.replayAll(() => {}, { stream: 'outage' })],
        ['remove', () => queue.remove(id)],
        ['streams', () => queue.trim({ maxEntries: 0 })],
      ];
      for (const [operation, run] of operations) {
        const { ms, error } = await timed(run());
        expect(isStoreError(error), operation).toBe(true);
        expect(error, operation).toMatchObject({ store: 'dynamodb', operation });
        expect(ms, operation).toBeLessThan(DEADLINE_MS + SLACK_MS);
      }
      expect(changes.map((c) => c.status)).toEqual(['degraded']);
      expect(changes[0]).toMatchObject({ pattern: 'retry', store: 'dynamodb' });
      const closing = await timed(queue.close());
      expect(closing.error).toBeUndefined();
      expect(closing.ms).toBeLessThan(DEADLINE_MS + SLACK_MS);
    });

    it(`${fault}: close() with an append in flight completes within the deadline`, async () => {
      const { queue } = queueOn();
      await store.inject(fault);
      const append = timed(queue.append(failure(1)));
      const closing = await timed(queue[Symbol.asyncDispose]());
      expect(closing.error).toBeUndefined();
      expect(closing.ms).toBeLessThan(DEADLINE_MS + SLACK_MS);
      expect(isStoreError((await append).error)).toBe(true);
    });
  }

  it('the probe notices DynamoDB is back; the entries written before the outage are kept', async () => {
    const { queue, changes } = queueOn();
    await queue.append(failure(1));
    await store.hang();
    await queue.append(failure(2)).catch(() => {});
    await queue.append(failure(3)).catch(() => {});
    expect(queue.storeStatus).toBe('degraded');
    await store.restore();
    await expect.poll(() => queue.storeStatus, { timeout: 5_000, interval: 20 }).toBe('healthy');
    expect(changes.map((c) => c.status)).toEqual(['degraded', 'healthy']);
    await queue.append(failure(4));
    const inputs = (await queue.list()).map((e) => e.input);
    expect(inputs[0]).toBe(1);
    expect(inputs.at(-1)).toBe(4);
    await queue.close();
  });
});
