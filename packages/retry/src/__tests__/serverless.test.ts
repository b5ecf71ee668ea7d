/**
 * Serverless: a fleet retry budget on DynamoDB across frozen invocations — retries spent by
 * earlier invocations are spent for every container, and the calls an invocation earns retries
 * with count once it settled — and what an invocation costs in DynamoDB requests
 * (docs/SERVERLESS.md states these numbers).
 */
import { serverless } from '@breakwater/core';
import {
  describeWithDynamo,
  dynamoFixture,
  type FreezeThaw,
  freezeThaw,
} from '@breakwater/testkit';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { dynamoBudgetStore } from '../dynamodb.js';
import { constant, type RetryBudgetOptions, retry, retryBudget } from '../index.js';

describeWithDynamo('retry budget across frozen invocations (DynamoDB)', () => {
  const dynamo = dynamoFixture();
  let env: FreezeThaw;
  beforeEach(() => {
    env = freezeThaw();
  });
  afterEach(() => env.close());

  /**
   * A container: a budget and a retry policy built at init; the handler makes `ok` successful
   * calls, then `failing` calls to a dependency that is down, and answers the attempts made.
   */
  const boot = (name: string, prefix: string, options: RetryBudgetOptions, settle: boolean) =>
    env.container(name, (container) => {
      const budget = retryBudget({
        name: 'partner',
        store: dynamoBudgetStore({
          client: container.client(dynamo.client),
          tableName: dynamo.tableName,
          prefix,
          clock: env.clock,
        }),
        windowMs: 60_000,
        clock: env.clock,
        // Far above dynalite's answers on a loaded machine: a request that missed a short deadline
        // would change the request counts below.
        storeDeadlineMs: 5_000,
        ...options,
      });
      const policy = retry({ maxAttempts: 4, backoff: constant({ delayMs: 0 }), budget });
      const handler = async (event: { ok: number; failing: number }) => {
        let attempts = 0;
        for (let i = 0; i < event.ok; i++) await policy.execute(() => 'ok');
        for (let i = 0; i < event.failing; i++) {
          await policy
            .execute(() => {
              attempts++;
              throw new Error('partner down');
            })
            .catch(() => {});
        }
        return attempts;
      };
      return { budget, handler: settle ? serverless(handler, { settle: [budget] }) : handler };
    });

  it('retries spent in one container are spent for a fresh one', async () => {
    const prefix = dynamo.uniquePrefix();
    // Reserve only: 0.05 retries per second over a minute, 3 in all.
    const options = { ratio: 0, minPerSecond: 0.05 };
    const a = await boot('a', prefix, options, true);
    expect(await a.invoke(a.app.handler, { ok: 0, failing: 1 })).toBe(4);
    a.discard();
    env.clock.jump(1_000);
    const b = await boot('b', prefix, options, true);
    // The budget is spent: the call is not retried.
    expect(await b.invoke(b.app.handler, { ok: 0, failing: 1 })).toBe(1);
    env.clock.jump(60_000);
    // A window later the reserve is back.
    expect(await b.invoke(b.app.handler, { ok: 0, failing: 1 })).toBe(4);
  });

  it('with settle, the calls an invocation counted earn retries for the next container', async () => {
    const prefix = dynamo.uniquePrefix();
    const options = { ratio: 0.5, minPerSecond: 0 };
    const a = await boot('a', prefix, options, true);
    expect(await a.invoke(a.app.handler, { ok: 4, failing: 0 })).toBe(0);
    // The first call reports at once (a consistent read first: nothing known yet); settle waits
    // for it, then reports the other three.
    expect(a.requests).toEqual(['GetItemCommand', 'UpdateItemCommand', 'UpdateItemCommand']);
    a.discard();
    const b = await boot('b', prefix, options, true);
    // 4 calls + this one, × 0.5: two retries.
    expect(await b.invoke(b.app.handler, { ok: 0, failing: 1 })).toBe(3);
  });

  it('control: without settle, reports in flight or held for later are lost with the container', async () => {
    const prefix = dynamo.uniquePrefix();
    const options = { ratio: 0.5, minPerSecond: 0 };
    const a = await boot('a', prefix, options, false);
    expect(await a.invoke(a.app.handler, { ok: 4, failing: 0 })).toBe(0);
    // The first call's report had only begun (its read) when the invocation returned.
    expect(a.requests).toEqual(['GetItemCommand']);
    a.discard();
    const b = await boot('b', prefix, options, false);
    // None of a's calls counts: 1 call × 0.5, no retry.
    expect(await b.invoke(b.app.handler, { ok: 0, failing: 1 })).toBe(1);
  });

  it('flushIntervalMs 0 is no substitute for settle: every report runs in the background', async () => {
    const prefix = dynamo.uniquePrefix();
    const options = { ratio: 0.5, minPerSecond: 0, flushIntervalMs: 0 };
    const a = await boot('a', prefix, options, false);
    expect(await a.invoke(a.app.handler, { ok: 4, failing: 0 })).toBe(0);
    a.discard();
    const b = await boot('b', prefix, options, false);
    expect(await b.invoke(b.app.handler, { ok: 0, failing: 1 })).toBe(1);
  });

  it('what a warm invocation costs with settle', async () => {
    const prefix = dynamo.uniquePrefix();
    const warm = await boot('warm', prefix, { ratio: 0.5, minPerSecond: 1 }, true);
    await warm.invoke(warm.app.handler, { ok: 1, failing: 0 });
    for (let i = 0; i < 3; i++) {
      env.clock.jump(60_000);
      expect(await warm.invoke(warm.app.handler, { ok: 10, failing: 0 })).toBe(0);
      // One report at the first call (the interval has passed), one at settle for the other nine.
      expect(warm.requests).toEqual(['UpdateItemCommand', 'UpdateItemCommand']);
      expect(await warm.invoke(warm.app.handler, { ok: 0, failing: 1 })).toBe(4);
      // One withdrawal per retry (carrying the call's count): nothing left for settle.
      expect(warm.requests).toEqual([
        'UpdateItemCommand',
        'UpdateItemCommand',
        'UpdateItemCommand',
      ]);
    }
  });
});
