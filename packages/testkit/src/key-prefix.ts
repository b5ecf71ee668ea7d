import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';

/** The prefix every test key prefix starts with, so stray test keys are recognisable. */
export const TEST_PREFIX_ROOT = 'bwtest';

/**
 * A fresh key prefix, `<base>:<16 hex chars>` (`bwtest:3f9c…`). Unique across processes, so tests
 * and files can share one Redis or one DynamoDB table without seeing each other's keys.
 */
export function uniquePrefix(base: string = TEST_PREFIX_ROOT): string {
  return `${base}:${randomBytes(8).toString('hex')}`;
}

const SCAN_BATCH = 500;

/** Escapes the glob characters of a Redis MATCH pattern. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

async function deleteOnNode(node: Redis, prefix: string): Promise<number> {
  const pattern = `${escapeGlob(prefix)}*`;
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_BATCH);
    cursor = next;
    if (keys.length > 0) {
      // One UNLINK per key: on a cluster node a multi-key UNLINK fails unless all keys share a slot.
      const pipeline = node.pipeline();
      for (const key of keys) pipeline.unlink(key);
      await pipeline.exec();
      deleted += keys.length;
    }
  } while (cursor !== '0');
  return deleted;
}

/**
 * Deletes every key that starts with `prefix` (SCAN + UNLINK; on a Cluster, on every master).
 * Resolves the number of keys deleted.
 */
export async function deleteKeysWithPrefix(
  client: Redis | Cluster,
  prefix: string,
): Promise<number> {
  if (prefix.length === 0) throw new RangeError('Refusing to delete keys with an empty prefix');
  const nodes = client.isCluster ? (client as Cluster).nodes('master') : [client as Redis];
  const counts = await Promise.all(nodes.map((node) => deleteOnNode(node, prefix)));
  return counts.reduce((sum, count) => sum + count, 0);
}
