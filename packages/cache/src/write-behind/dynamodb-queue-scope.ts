/**
 * The operations of one write-behind name in the DynamoDB queue table. The item shapes, the
 * atomicity and the clock are described in `dynamodb-queue.ts`. Every request honours the signal
 * it is given (the scope is `abortable`), so a request still on its way when the store deadline
 * passes is aborted rather than left running.
 */
import {
  DeleteItemCommand,
  QueryCommand,
  type TransactWriteItem,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { dynamoProbe, type KeyBuilder, QUEUE_INDEX } from '@breakwater/core/dynamodb';
import { KeyVersionItems } from './dynamodb-key-versions.js';
import {
  type Item,
  isConditionFailure,
  mapLimited,
  n,
  newId,
  num,
  pad,
  type QueueConfig,
  QueueRequests,
  SINGLE,
  s,
} from './dynamodb-queue-requests.js';
import { WriteBehindBacklogError } from './errors.js';
import type {
  AppendOptions,
  Backlog,
  DeadLetter,
  FailOutcome,
  QueuedWrite,
  WriteQueueScope,
} from './queue.js';

/** TransactWriteItems takes at most 100 actions; one is the counter. */
const MAX_DELETES_PER_TRANSACTION = 99;

/** One write-behind name's queue in the table (see `dynamodb-queue.ts` for the item shapes). */
export class DynamoWriteQueue implements WriteQueueScope {
  /** Requests honour their signal: the write-behind aborts them at the store deadline. */
  readonly abortable = true;
  private readonly queuePk: string;
  private readonly counterKey: Item;
  private readonly deadPk: string;

  private readonly requests: QueueRequests;
  private readonly versions: KeyVersionItems;
  /** A GetItem of the pending counter (which need not exist): proves the table answers. */
  readonly probe: (signal: AbortSignal) => Promise<unknown>;

  constructor(
    private readonly name: string,
    keys: KeyBuilder,
    private readonly config: QueueConfig,
  ) {
    this.requests = new QueueRequests(config);
    this.versions = new KeyVersionItems(keys, config, this.requests);
    this.queuePk = keys.dynamoPk('', 'q');
    this.counterKey = { pk: s(keys.dynamoPk('', 'n')), sk: s(SINGLE) };
    this.deadPk = keys.dynamoPk('', 'd');
    this.probe = dynamoProbe(config.client, config.tableName, this.counterKey);
  }

  async append(
    key: string,
    payload: string,
    options: AppendOptions,
    signal?: AbortSignal | undefined,
  ): Promise<number> {
    const maxPending = options.maxPending;
    const version =
      options.version === undefined
        ? await this.versions.next(key, signal)
        : await this.versions.raise(key, options.version, signal);
    const now = this.config.clock.now();
    const id = newId(now);
    const outcome = await this.requests.transact(
      'append',
      () => [
        // The counter first: its condition is the one that fails in normal operation.
        {
          Update: {
            TableName: this.config.tableName,
            Key: this.counterKey,
            UpdateExpression: 'ADD n :one',
            ConditionExpression: 'attribute_not_exists(n) OR n < :max',
            ExpressionAttributeValues: { ':one': n(1), ':max': n(maxPending) },
          },
        },
        {
          Put: {
            TableName: this.config.tableName,
            Item: {
              pk: s(this.queuePk),
              sk: s(id),
              lsk: s(`f${id}`),
              k: s(key),
              p: s(payload),
              v: n(version),
              t: n(now),
            },
            ConditionExpression: 'attribute_not_exists(sk)',
          },
        },
      ],
      signal,
    );
    if (outcome !== undefined) {
      if (outcome[0]?.code === 'ConditionalCheckFailed') {
        throw new WriteBehindBacklogError({ policyName: this.name, maxPending });
      }
      throw this.requests.unexpected('append', outcome);
    }
    return version;
  }

  async claim(
    consumer: string,
    max: number,
    claimIdleMs: number,
    signal?: AbortSignal | undefined,
  ): Promise<QueuedWrite[]> {
    const now = this.config.clock.now();
    const claimed: QueuedWrite[] = [];
    const seen = new Set<string>();
    // Stamped when each entry is taken, not when the claim started: a slow claim must not hand
    // out entries that already look idle.
    const lease = (id: string) => `h${pad(this.config.clock.now())}${id}`;
    // Entries left idle by their holder first, oldest delivery first; then never-delivered ones.
    const ranges = [
      {
        condition: 'pk = :pk AND lsk BETWEEN :lo AND :hi',
        lo: 'h',
        hi: `h${pad(now - claimIdleMs)}~`,
      },
      { condition: 'pk = :pk AND begins_with(lsk, :lo)', lo: 'f', hi: undefined },
    ];
    for (const range of ranges) {
      let start: Item | undefined;
      while (claimed.length < max) {
        const values: Item = { ':pk': s(this.queuePk), ':lo': s(range.lo) };
        if (range.hi !== undefined) values[':hi'] = s(range.hi);
        const page = await this.requests.send('claim', () =>
          this.config.client.send(
            new QueryCommand({
              TableName: this.config.tableName,
              IndexName: QUEUE_INDEX,
              KeyConditionExpression: range.condition,
              ExpressionAttributeValues: values,
              ConsistentRead: true,
              Limit: max - claimed.length,
              ExclusiveStartKey: start,
            }),
            { abortSignal: signal },
          ),
        );
        const candidates = (page.Items ?? []).filter((item) => {
          const id = item.sk?.S;
          return id !== undefined && !seen.has(id);
        });
        const taken = await mapLimited(candidates, signal, (item) =>
          this.take(item.sk!.S!, item.lsk!.S!, consumer, lease(item.sk!.S!), signal),
        );
        for (const entry of taken) {
          if (entry === undefined || claimed.length >= max) continue;
          seen.add(entry.id);
          claimed.push(entry);
        }
        start = page.LastEvaluatedKey;
        if (start === undefined) break;
      }
    }
    return claimed;
  }

  async touch(
    consumer: string,
    ids: readonly string[],
    signal?: AbortSignal | undefined,
  ): Promise<void> {
    await mapLimited([...new Set(ids)], signal, async (id) => {
      try {
        await this.requests.send('touch', () =>
          this.config.client.send(
            new UpdateItemCommand({
              TableName: this.config.tableName,
              Key: this.entryKey(id),
              UpdateExpression: 'SET lsk = :lsk',
              ConditionExpression: 'c = :c AND begins_with(lsk, :held)',
              ExpressionAttributeValues: {
                ':lsk': s(`h${pad(this.config.clock.now())}${id}`),
                ':c': s(consumer),
                ':held': s('h'),
              },
            }),
            { abortSignal: signal },
          ),
        );
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
    });
  }

  async complete(ids: readonly string[], signal?: AbortSignal | undefined): Promise<void> {
    const unique = [...new Set(ids)];
    for (let start = 0; start < unique.length; start += MAX_DELETES_PER_TRANSACTION) {
      let batch = unique.slice(start, start + MAX_DELETES_PER_TRANSACTION);
      // Each round drops the ids whose entries are already gone; bounded by the batch size.
      while (batch.length > 0) {
        const current = batch;
        const outcome = await this.requests.transact(
          'complete',
          () => [
            ...current.map(
              (id): TransactWriteItem => ({
                Delete: {
                  TableName: this.config.tableName,
                  Key: this.entryKey(id),
                  ConditionExpression: 'attribute_exists(sk)',
                },
              }),
            ),
            {
              Update: {
                TableName: this.config.tableName,
                Key: this.counterKey,
                UpdateExpression: 'ADD n :minus',
                ExpressionAttributeValues: { ':minus': n(-current.length) },
              },
            },
          ],
          signal,
        );
        if (outcome === undefined) break;
        const gone = new Set(
          current.filter((_, index) => outcome[index]?.code === 'ConditionalCheckFailed'),
        );
        if (gone.size === 0) throw this.requests.unexpected('complete', outcome);
        batch = current.filter((id) => !gone.has(id));
      }
    }
  }

  /**
   * Counts the attempt with one conditional increment while it stays below `maxAttempts`. The
   * last attempt moves the entry to the dead letters in one transaction, conditional only on the
   * entry still being there: whoever completes or dead-letters it first wins, the other sees
   * `gone`. The dead letter copies the entry's fields from `entry` (they never change), so nothing
   * is read first and nothing needs a compare-and-set loop.
   */
  async fail(
    entry: QueuedWrite,
    error: string,
    maxAttempts: number,
    signal?: AbortSignal | undefined,
  ): Promise<FailOutcome> {
    const key = this.entryKey(entry.id);
    let known = entry.attempts;
    // Fast path: one conditional update counts the attempt while it stays below maxAttempts
    // (an absent `a` is 0 attempts, so the path needs maxAttempts > 1).
    if (maxAttempts > 1) {
      try {
        const answer = await this.requests.send('fail', () =>
          this.config.client.send(
            new UpdateItemCommand({
              TableName: this.config.tableName,
              Key: key,
              UpdateExpression: 'ADD a :one',
              ConditionExpression:
                'attribute_exists(sk) AND (attribute_not_exists(a) OR a < :last)',
              ExpressionAttributeValues: { ':one': n(1), ':last': n(maxAttempts - 1) },
              ReturnValues: 'UPDATED_NEW',
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            }),
            { abortSignal: signal },
          ),
        );
        return { status: 'retry', attempts: num(answer.Attributes?.a) };
      } catch (failure) {
        if (!isConditionFailure(failure)) throw failure;
        // Gone, or this attempt is the last. DynamoDB returns the item as it was (dynalite
        // does not): its attempts, when another consumer counted some since `entry` was claimed.
        const item = (failure as { Item?: Item }).Item;
        if (item !== undefined) known = Math.max(known, num(item.a));
      }
    }
    const attempts = Math.max(known + 1, maxAttempts);
    const outcome = await this.requests.transact(
      'fail',
      () => {
        const failedAt = this.config.clock.now();
        return [
          {
            Delete: {
              TableName: this.config.tableName,
              Key: key,
              // The entry must still be there: a consumer that completed it meanwhile wins.
              ConditionExpression: 'attribute_exists(sk)',
            },
          },
          {
            Put: {
              TableName: this.config.tableName,
              Item: {
                pk: s(this.deadPk),
                sk: s(newId(failedAt)),
                k: s(entry.key),
                p: s(entry.payload),
                v: n(entry.version),
                a: n(attempts),
                e: s(error),
                t: n(failedAt),
              },
            },
          },
          {
            Update: {
              TableName: this.config.tableName,
              Key: this.counterKey,
              UpdateExpression: 'ADD n :minus',
              ExpressionAttributeValues: { ':minus': n(-1) },
            },
          },
        ];
      },
      signal,
    );
    if (outcome === undefined) return { status: 'dead', attempts };
    if (outcome[0]?.code === 'ConditionalCheckFailed') return { status: 'gone' };
    throw this.requests.unexpected('fail', outcome);
  }

  async pending(signal?: AbortSignal | undefined): Promise<number> {
    return Math.max(0, num((await this.requests.read('pending', this.counterKey, signal))?.n));
  }

  /** The pending count, and the oldest entry's append time: the first entry id sorts oldest. */
  async backlog(signal?: AbortSignal | undefined): Promise<Backlog> {
    const [pending, oldest] = await Promise.all([
      this.pending(signal),
      this.requests.send('backlog', () =>
        this.config.client.send(
          new QueryCommand({
            TableName: this.config.tableName,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': s(this.queuePk) },
            ProjectionExpression: 't',
            ConsistentRead: true,
            Limit: 1,
          }),
          { abortSignal: signal },
        ),
      ),
    ]);
    const first = oldest.Items?.[0];
    return { pending, oldestEnqueuedAt: first === undefined ? undefined : num(first.t) };
  }

  async listDeadLetters(
    limit: number,
    after?: string | undefined,
    signal?: AbortSignal | undefined,
  ): Promise<DeadLetter[]> {
    const letters: DeadLetter[] = [];
    let start: Item | undefined;
    while (letters.length < limit) {
      const values: Item = { ':pk': s(this.deadPk) };
      if (after !== undefined) values[':after'] = s(after);
      const page = await this.requests.send('listDeadLetters', () =>
        this.config.client.send(
          new QueryCommand({
            TableName: this.config.tableName,
            KeyConditionExpression: after === undefined ? 'pk = :pk' : 'pk = :pk AND sk > :after',
            ExpressionAttributeValues: values,
            ConsistentRead: true,
            Limit: limit - letters.length,
            ExclusiveStartKey: start,
          }),
          { abortSignal: signal },
        ),
      );
      for (const item of page.Items ?? []) {
        letters.push({
          id: item.sk?.S ?? '',
          key: item.k?.S ?? '',
          payload: item.p?.S ?? '',
          version: num(item.v),
          attempts: num(item.a),
          error: item.e?.S ?? '',
          failedAt: num(item.t),
        });
      }
      start = page.LastEvaluatedKey;
      if (start === undefined) break;
    }
    return letters.slice(0, limit);
  }

  async deleteDeadLetters(
    ids: readonly string[],
    signal?: AbortSignal | undefined,
  ): Promise<number> {
    const existed = await mapLimited([...new Set(ids)], signal, async (id) => {
      const answer = await this.requests.send('deleteDeadLetters', () =>
        this.config.client.send(
          new DeleteItemCommand({
            TableName: this.config.tableName,
            Key: { pk: s(this.deadPk), sk: s(id) },
            ReturnValues: 'ALL_OLD',
          }),
          { abortSignal: signal },
        ),
      );
      return answer.Attributes !== undefined;
    });
    return existed.filter(Boolean).length;
  }

  /** Delivers the entry to `consumer` if it is still where the Query saw it. */
  private async take(
    id: string,
    seenLsk: string,
    consumer: string,
    lsk: string,
    signal: AbortSignal | undefined,
  ): Promise<QueuedWrite | undefined> {
    try {
      const answer = await this.requests.send('claim', () =>
        this.config.client.send(
          new UpdateItemCommand({
            TableName: this.config.tableName,
            Key: this.entryKey(id),
            UpdateExpression: 'SET lsk = :lsk, c = :c',
            ConditionExpression: 'lsk = :seen',
            ExpressionAttributeValues: { ':lsk': s(lsk), ':c': s(consumer), ':seen': s(seenLsk) },
            ReturnValues: 'ALL_NEW',
          }),
          { abortSignal: signal },
        ),
      );
      const item = answer.Attributes ?? {};
      return {
        id,
        key: item.k?.S ?? '',
        payload: item.p?.S ?? '',
        version: num(item.v),
        attempts: num(item.a),
        enqueuedAt: num(item.t),
      };
    } catch (error) {
      // Another consumer took it (or it completed) since the Query.
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }

  private entryKey(id: string): Item {
    return { pk: s(this.queuePk), sk: s(id) };
  }
}
