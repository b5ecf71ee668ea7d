/**
 * Serverless: a cache with a DynamoDB L2 across frozen invocations — a value one container loaded
 * is served to a fresh container from the L2 (settle lets the load's unawaited write land before
 * the freeze), and an L1 entry a frozen container kept is re-checked after a jump longer than
 * `l1.maxStaleMs` — and what an invocation costs in DynamoDB requests (docs/SERVERLESS.md).
 */
import { serverless } from '@breakwater/core';
import {
  describeWithDynamo,
  dynamoFixture,
  type FreezeThaw,
  freezeThaw,
} from '@breakwater/testkit';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { dynamoStore } from '../dynamodb.js';
import { cache } from '../index.js';

describeWithDynamo('cache across frozen invocations (DynamoDB L2)', () => {
  const dynamo = dynamoFixture();
  let env: FreezeThaw;
  beforeEach(() => {
    env = freezeThaw();
  });
  afterEach(() => env.close());

  /** A container: a cache built at init; the handler reads `key`, loading `source[key]` on a miss. */
  const boot = (name: string, prefix: string, source: Map<string, string>, loads: string[]) =>
    env.container(name, (container) => {
      const profiles = cache({
        name: 'profiles',
        store: dynamoStore({
          client: container.client(dynamo.client),
          tableName: dynamo.tableName,
          prefix,
          clock: env.clock,
        }),
        ttlMs: 600_000,
        l1: { maxStaleMs: 10_000 },
        clock: env.clock,
        // Far above dynalite's answers on a loaded machine: a request that missed a short deadline
        // would change the request counts below.
        storeDeadlineMs: 5_000,
      });
      const handler = serverless(
        (event: { key: string }) =>
          profiles.getOrLoad(event.key, async () => {
            loads.push(`${name}:${event.key}`);
            return source.get(event.key);
          }),
        { settle: [profiles] },
      );
      return { profiles, handler };
    });

  it('a fresh container is served from the L2 what an earlier invocation loaded', async () => {
    const prefix = dynamo.uniquePrefix();
    const source = new Map([['user:1', 'ann']]);
    const loads: string[] = [];
    const a = await boot('a', prefix, source, loads);
    expect(await a.invoke(a.app.handler, { key: 'user:1' })).toBe('ann');
    // The L2 miss and its stampede lease, then the load's write of the value and the lease's
    // release, which nobody awaits and settle lets land before the freeze: 4 requests.
    expect(a.requests).toEqual([
      'GetItemCommand',
      'UpdateItemCommand',
      'GetItemCommand',
      'UpdateItemCommand',
    ]);
    a.discard();
    const b = await boot('b', prefix, source, loads);
    expect(await b.invoke(b.app.handler, { key: 'user:1' })).toBe('ann');
    expect(b.requests).toEqual(['GetItemCommand']);
    expect(loads).toEqual(['a:user:1']);
  });

  it('an L1 entry kept through a long freeze is checked against the L2 again', async () => {
    const prefix = dynamo.uniquePrefix();
    const source = new Map([['user:1', 'ann']]);
    const loads: string[] = [];
    const a = await boot('a', prefix, source, loads);
    expect(await a.invoke(a.app.handler, { key: 'user:1' })).toBe('ann');
    // Warm and within maxStaleMs: the L1 answers, no request.
    expect(await a.invoke(a.app.handler, { key: 'user:1' })).toBe('ann');
    expect(a.requests).toEqual([]);
    // Another container changes the value (its invalidation never reaches a frozen container).
    const b = await boot('b', prefix, source, loads);
    await b.invoke(() => b.app.profiles.set('user:1', 'anne'), {});
    env.clock.jump(10_000);
    expect(await a.invoke(a.app.handler, { key: 'user:1' })).toBe('anne');
    expect(a.requests).toEqual(['GetItemCommand']);
  });
});
