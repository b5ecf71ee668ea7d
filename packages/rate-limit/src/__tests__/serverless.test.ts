/**
 * Serverless: a fleet rate limit on DynamoDB across frozen invocations — the count holds across
 * invocations and containers, and with `reserve`, settle gives the unused permits back so none is
 * lost in a frozen container — and what an invocation costs in DynamoDB requests
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
import { dynamoStore } from '../dynamodb.js';
import { type RateLimiterOptions, rateLimiter } from '../index.js';

/** The limiter's fixed window: 10 per minute for the fleet. */
const WINDOW_MS = 60_000;

describeWithDynamo('fleet rate limit across frozen invocations (DynamoDB)', () => {
  const dynamo = dynamoFixture();
  let env: FreezeThaw;
  beforeEach(() => {
    env = freezeThaw();
    // The containers' clock is the real one plus jumps, and the limiter's windows are a minute of
    // it: start each test 10 ms into a window, so that no boundary falls inside the seconds a test
    // expects to share one (CI failed once when a test started in a window's last second).
    env.clock.jump(WINDOW_MS - (env.clock.now() % WINDOW_MS) + 10);
  });
  afterEach(() => env.close());

  /** A container: 10 per minute for the fleet; the handler asks `calls` times, answers how many were allowed. */
  const boot = (
    name: string,
    prefix: string,
    options: Partial<RateLimiterOptions>,
    settle: boolean,
  ) =>
    env.container(name, (container) => {
      const limiter = rateLimiter({
        name: 'partner',
        limit: 10,
        intervalMs: WINDOW_MS,
        algorithm: 'fixed-window',
        // Given, it needs no replica registry (and so no heartbeat timer).
        localShare: 0.5,
        store: dynamoStore({
          client: container.client(dynamo.client),
          tableName: dynamo.tableName,
          prefix,
        }),
        clock: env.clock,
        // Far above dynalite's answers on a loaded machine: a request that missed a short deadline
        // would change the request counts below.
        storeDeadlineMs: 5_000,
        ...options,
      } as RateLimiterOptions);
      const handler = async (event: { calls: number }) => {
        let allowed = 0;
        for (let i = 0; i < event.calls; i++) {
          if ((await limiter.limit('tenant-1')).allowed) allowed++;
        }
        return allowed;
      };
      return { limiter, handler: settle ? serverless(handler, { settle: [limiter] }) : handler };
    });

  it('the count holds across invocations and containers (one request per decision)', async () => {
    const prefix = dynamo.uniquePrefix();
    const a = await boot('a', prefix, {}, false);
    expect(await a.invoke(a.app.handler, { calls: 3 })).toBe(3);
    expect(a.requests).toEqual(['UpdateItemCommand', 'UpdateItemCommand', 'UpdateItemCommand']);
    env.clock.jump(1_000);
    expect(await a.invoke(a.app.handler, { calls: 3 })).toBe(3);
    a.discard();
    const b = await boot('b', prefix, {}, false);
    expect(await b.invoke(b.app.handler, { calls: 6 })).toBe(4);
    // One write per allowed decision; the first of a fresh container, which has no copy of the
    // item, pays a failed conditional write and a read; the two denied ones are answered by the
    // deny cache (the store said when the window resets).
    expect(b.requests).toEqual([
      'UpdateItemCommand',
      'GetItemCommand',
      'UpdateItemCommand',
      'UpdateItemCommand',
      'UpdateItemCommand',
      'UpdateItemCommand',
    ]);
    env.clock.jump(WINDOW_MS);
    expect(await b.invoke(b.app.handler, { calls: 10 })).toBe(10);
  });

  it('reserve + settle: the unused reserved permits go back to the store before the freeze', async () => {
    const prefix = dynamo.uniquePrefix();
    const reserve = { reserve: { batch: 5, holdMs: 60_000 } };
    const a = await boot('a', prefix, reserve, true);
    expect(await a.invoke(a.app.handler, { calls: 2 })).toBe(2);
    // One batch of 5 for both calls, and the refund of the 3 left at settle.
    expect(a.requests).toEqual(['UpdateItemCommand', 'UpdateItemCommand']);
    a.discard();
    const b = await boot('b', prefix, reserve, true);
    expect(await b.invoke(b.app.handler, { calls: 12 })).toBe(8);
  });

  it('control: reserve without settle loses the reserved permits with the frozen container', async () => {
    const prefix = dynamo.uniquePrefix();
    const reserve = { reserve: { batch: 5, holdMs: 60_000 } };
    const a = await boot('a', prefix, reserve, false);
    expect(await a.invoke(a.app.handler, { calls: 2 })).toBe(2);
    a.discard();
    const b = await boot('b', prefix, reserve, false);
    // The fleet under-admits by the 3 permits `a` took with it.
    expect(await b.invoke(b.app.handler, { calls: 12 })).toBe(5);
  });
});
