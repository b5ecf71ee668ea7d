import {
  describeWithDynamo,
  describeWithRedisCluster,
  dynamoFixture,
  redisClusterFixture,
} from '@breakwater/testkit';
import { expect, it } from 'vitest';
import { dynamoProbe } from '../dynamodb.js';
import { redisProbe } from '../redis.js';

describeWithRedisCluster('redisProbe on a Redis Cluster', () => {
  const cluster = redisClusterFixture();

  it('runs on the node owning the key, writing nothing', async () => {
    const key = `${cluster.prefix}:rate-limit:{payments:probe}:x`;
    expect(await redisProbe(cluster.client, key)()).toBe(1);
    expect(await cluster.client.exists(key)).toBe(0);
  });
});

describeWithDynamo('dynamoProbe on DynamoDB', () => {
  const dynamo = dynamoFixture();

  it('answers for a missing item, and fails for a missing table', async () => {
    await expect(
      dynamoProbe(
        dynamo.client,
        dynamo.tableName,
        `${dynamo.prefix}:probe`,
      )(new AbortController().signal),
    ).resolves.toBeDefined();
    await expect(
      dynamoProbe(dynamo.client, 'no-such-table', 'x')(new AbortController().signal),
    ).rejects.toThrow();
  });
});
