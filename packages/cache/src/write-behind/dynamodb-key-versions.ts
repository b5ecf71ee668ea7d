/**
 * The version items of the DynamoDB write-behind queue (`<ns>:v:<key>`): the last version handed
 * out per key, through two single-item atomic updates, so concurrent appends of one key never
 * race. An item expires (`ttl`) `versionRetentionMs` after its last write.
 */
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { KeyBuilder } from '@breakwater/core/dynamodb';
import {
  type Item,
  isConditionFailure,
  n,
  num,
  type QueueConfig,
  type QueueRequests,
  SINGLE,
  s,
} from './dynamodb-queue-requests.js';

/** The per-key versions of one scope of the queue. */
export class KeyVersionItems {
  constructor(
    private readonly keys: KeyBuilder,
    private readonly config: QueueConfig,
    private readonly requests: QueueRequests,
  ) {}

  /** `max(last + 1, now in µs)`, without a read-modify-write race. */
  async next(key: string, signal: AbortSignal | undefined): Promise<number> {
    const versionKey = this.itemKey(key);
    const nowMicros = Math.floor(this.config.clock.now() * 1000);
    const values = { ':now': n(nowMicros), ':ttl': n(this.ttl()) };
    try {
      await this.requests.send('append', () =>
        this.config.client.send(
          new UpdateItemCommand({
            TableName: this.config.tableName,
            Key: versionKey,
            UpdateExpression: 'SET v = :now, #ttl = :ttl',
            ConditionExpression: 'attribute_not_exists(v) OR v < :now',
            ExpressionAttributeNames: { '#ttl': 'ttl' },
            ExpressionAttributeValues: values,
          }),
          { abortSignal: signal },
        ),
      );
      return nowMicros;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    // The key's last version is at or past the clock: the next one is last + 1, atomically.
    const answer = await this.requests.send('append', () =>
      this.config.client.send(
        new UpdateItemCommand({
          TableName: this.config.tableName,
          Key: versionKey,
          UpdateExpression: 'SET v = v + :one, #ttl = :ttl',
          ExpressionAttributeNames: { '#ttl': 'ttl' },
          ExpressionAttributeValues: { ':one': n(1), ':ttl': n(this.ttl()) },
          ReturnValues: 'UPDATED_NEW',
        }),
        { abortSignal: signal },
      ),
    );
    return num(answer.Attributes?.v);
  }

  /** Remembers a version the caller chose, so generated versions of the key stay above it. */
  async raise(key: string, version: number, signal: AbortSignal | undefined): Promise<number> {
    try {
      await this.requests.send('append', () =>
        this.config.client.send(
          new UpdateItemCommand({
            TableName: this.config.tableName,
            Key: this.itemKey(key),
            UpdateExpression: 'SET v = :v, #ttl = :ttl',
            ConditionExpression: 'attribute_not_exists(v) OR v < :v',
            ExpressionAttributeNames: { '#ttl': 'ttl' },
            ExpressionAttributeValues: { ':v': n(version), ':ttl': n(this.ttl()) },
          }),
          { abortSignal: signal },
        ),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    return version;
  }

  private itemKey(key: string): Item {
    return { pk: s(this.keys.dynamoPk(key, 'v')), sk: s(SINGLE) };
  }

  private ttl(): number {
    return Math.ceil((this.config.clock.now() + this.config.versionRetentionMs) / 1000);
  }
}
