/**
 * The limits `setLimits(limits, { fleet: true })` publishes, in DynamoDB: one item per limiter
 * name, `pk` = `<prefix>:rate-limit:<name>:limits:`, with `version` (N) and `limits` (S, JSON). A
 * write is one UpdateItem (`ADD version 1`, `SET limits`), atomic on its own: concurrent writers
 * get distinct versions, and the item never holds a version with another writer's limits. A read
 * is one strongly consistent GetItem (one read unit). The item has no `ttl`: it lasts until the
 * next write.
 */
import { type DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { keyBuilder } from '@breakwater/core/dynamodb';
import type { RateLimitStore } from '../store.js';

/** The key part of the published limits' item (no algorithm has this name). */
export const LIMITS_KEY_PART = 'limits';

/** The operations `dynamoStore()` adds to its store for published limits. */
export type DynamoLimitsRecord = Required<Pick<RateLimitStore, 'readLimits' | 'writeLimits'>>;

/** The published-limits operations of a DynamoDB store on `tableName`, with key `prefix`. */
export function dynamoLimitsRecord(
  client: DynamoDBClient,
  tableName: string,
  prefix: string | undefined,
): DynamoLimitsRecord {
  const keyOf = (name: string) => ({
    pk: { S: keyBuilder({ prefix, pattern: 'rate-limit', name }).dynamoPk('', LIMITS_KEY_PART) },
  });
  return {
    async writeLimits(name, limits, signal) {
      const output = await client.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: keyOf(name),
          UpdateExpression: 'SET #limits = :limits ADD #version :one',
          ExpressionAttributeNames: { '#limits': 'limits', '#version': 'version' },
          ExpressionAttributeValues: { ':limits': { S: limits }, ':one': { N: '1' } },
          ReturnValues: 'UPDATED_NEW',
        }),
        { abortSignal: signal },
      );
      return Number(output.Attributes?.version?.N);
    },
    async readLimits(name, signal) {
      const output = await client.send(
        new GetItemCommand({ TableName: tableName, Key: keyOf(name), ConsistentRead: true }),
        { abortSignal: signal },
      );
      const version = output.Item?.version?.N;
      const limits = output.Item?.limits?.S;
      if (version === undefined || limits === undefined) return undefined;
      return { version: Number(version), limits };
    },
  };
}
