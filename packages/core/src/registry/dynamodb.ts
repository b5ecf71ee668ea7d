/**
 * The DynamoDB replica backend: one item per policy (partition key given by the store, so it falls
 * under the store's IAM leading-key condition), with one numeric attribute per replica holding the
 * epoch millisecond its heartbeat runs out. A heartbeat is one UpdateItem that sets this replica's
 * attribute, removes the ones it saw expired last time, refreshes the item's `ttl`, and returns the
 * item: the count is read from it. Expiry uses the replica's clock; replicas whose clocks differ
 * by less than `ttlMs − renewIntervalMs` still count each other.
 */
import { type DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { PARTITION_KEY, TTL_ATTRIBUTE } from '../dynamodb/create-table.js';
import type { ReplicaBackend } from './backend.js';

/** The prefix of a replica's attribute name. */
const REPLICA_ATTRIBUTE_PREFIX = 'r_';
/** The most expired attributes one heartbeat removes (an UpdateItem expression stays small). */
const MAX_REMOVALS = 50;

/**
 * Creates a {@link ReplicaBackend} on one DynamoDB item.
 * @param client Your DynamoDB client (never destroyed here).
 * @param tableName The store's table.
 * @param pk The item's partition key value, e.g. the store's key for the policy and `replicas`.
 */
export function dynamoReplicaBackend(
  client: DynamoDBClient,
  tableName: string,
  pk: string,
): ReplicaBackend {
  const Key = { [PARTITION_KEY]: { S: pk } };
  /** Attributes seen expired by the last heartbeat: the next one removes them. */
  let expired: string[] = [];
  return {
    abortable: true,
    async heartbeat(replicaId, ttlMs, signal) {
      const now = Date.now();
      const me = REPLICA_ATTRIBUTE_PREFIX + replicaId;
      const names: Record<string, string> = { '#me': me, '#ttl': TTL_ATTRIBUTE };
      const removals = expired.filter((name) => name !== me).slice(0, MAX_REMOVALS);
      removals.forEach((name, i) => {
        names[`#x${i}`] = name;
      });
      const remove =
        removals.length === 0 ? '' : ` REMOVE ${removals.map((_, i) => `#x${i}`).join(', ')}`;
      const output = await client.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key,
          UpdateExpression: `SET #me = :expiresAt, #ttl = :ttl${remove}`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: {
            ':expiresAt': { N: String(now + ttlMs) },
            // The item outlives its last replica by a second at least (TTL is in epoch seconds).
            ':ttl': { N: String(Math.ceil((now + ttlMs) / 1000) + 1) },
          },
          ReturnValues: 'ALL_NEW',
        }),
        signal === undefined ? undefined : { abortSignal: signal },
      );
      let alive = 0;
      const seenExpired: string[] = [];
      for (const [name, value] of Object.entries(output.Attributes ?? {})) {
        if (!name.startsWith(REPLICA_ATTRIBUTE_PREFIX) || value.N === undefined) continue;
        if (Number(value.N) > now) alive++;
        else seenExpired.push(name);
      }
      expired = seenExpired;
      return Math.max(1, alive);
    },
    async leave(replicaId, signal) {
      await client.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key,
          UpdateExpression: 'REMOVE #me',
          ExpressionAttributeNames: { '#me': REPLICA_ATTRIBUTE_PREFIX + replicaId },
        }),
        signal === undefined ? undefined : { abortSignal: signal },
      );
    },
  };
}
