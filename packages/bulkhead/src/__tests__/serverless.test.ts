/**
 * Serverless: a fleet bulkhead on DynamoDB across frozen invocations — a permit held by a
 * container frozen mid-call (a timed-out invocation) is not leaked: it expires with its lease,
 * and the frozen container's call learns that it lost it — and what an invocation costs in
 * DynamoDB requests (docs/SERVERLESS.md states these numbers).
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
import { bulkhead, isBulkheadRejectedError, isLeaseLostError } from '../index.js';
import { until } from './helpers.js';

describeWithDynamo('fleet bulkhead across frozen invocations (DynamoDB)', () => {
  const dynamo = dynamoFixture();
  let env: FreezeThaw;
  beforeEach(() => {
    env = freezeThaw();
  });
  afterEach(() => env.close());

  /** A container: a one-permit fleet bulkhead built at init, without a replica registry. */
  const boot = (name: string, prefix: string, settle = true) =>
    env.container(name, (container) => {
      const db = bulkhead({
        name: 'db',
        maxConcurrent: 1,
        maxQueue: 0,
        leaseTtlMs: 10_000,
        // Given, it needs no replica registry (and so no heartbeat timer).
        localMaxConcurrent: 1,
        store: dynamoStore({
          client: container.client(dynamo.client),
          tableName: dynamo.tableName,
          prefix,
          clock: env.clock,
        }),
        clock: env.clock,
        // Far above dynalite's answers on a loaded machine: a request that missed a short deadline
        // would change the request counts below.
        storeDeadlineMs: 5_000,
      });
      const call = (event: { value: number }) => db.execute(() => event.value);
      return { db, handler: settle ? serverless(call, { settle: [db] }) : call };
    });

  it('a permit held by a container frozen mid-call expires with its lease', async () => {
    const prefix = dynamo.uniquePrefix();
    const a = await boot('a', prefix);
    let stuck: Promise<unknown> | undefined;
    // The clock is the real one plus jumps, so the lease runs down in real time too: the jumps
    // below are measured from when it was taken, not added to however long the steps in between
    // took (on a loaded machine, they can take a second). It was taken between these two times.
    const acquiringFrom = env.clock.now();
    let acquiredBy = Number.NaN;
    // The invocation ends (as a timed-out one would) while its call still holds the permit.
    await a.invoke(async () => {
      stuck = a.app.db.execute(
        (ctx) =>
          new Promise((_, reject) => {
            ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
          }),
      );
      await until(() => a.app.db.active === 1, 2_000);
      acquiredBy = env.clock.now();
    }, {});
    const b = await boot('b', prefix);
    await expect(b.invoke(b.app.handler, { value: 1 })).rejects.toSatisfy(isBulkheadRejectedError);
    // Frozen, `a` cannot renew; 9 s into the lease, the permit is still held; past it, free again.
    env.clock.jump(Math.max(0, acquiringFrom + 9_000 - env.clock.now()));
    await expect(b.invoke(b.app.handler, { value: 2 })).rejects.toSatisfy(isBulkheadRejectedError);
    env.clock.jump(Math.max(0, acquiredBy + 10_001 - env.clock.now()));
    expect(await b.invoke(b.app.handler, { value: 3 })).toBe(3);
    // Thawed, `a` finds its lease lapsed: its call is aborted rather than running unprotected.
    const outcome = await a.invoke(() => stuck!.catch((error: unknown) => error), {});
    expect(isLeaseLostError(outcome)).toBe(true);
    expect(a.app.db.active).toBe(0);
  });

  it('settle waits for the release, so the permit is free before the container freezes', async () => {
    const prefix = dynamo.uniquePrefix();
    const a = await boot('a', prefix);
    expect(await a.invoke(a.app.handler, { value: 1 })).toBe(1);
    // The first decision reads the item; then the acquire and the release.
    expect(a.requests).toEqual(['GetItemCommand', 'UpdateItemCommand', 'UpdateItemCommand']);
    const b = await boot('b', prefix);
    expect(await b.invoke(b.app.handler, { value: 2 })).toBe(2);
    expect(b.requests).toEqual(['GetItemCommand', 'UpdateItemCommand', 'UpdateItemCommand']);
    for (let i = 0; i < 3; i++) {
      env.clock.jump(60_000);
      expect(await a.invoke(a.app.handler, { value: i })).toBe(i);
      // A warm container whose copy of the item is stale: one failed conditional write, then
      // a read; or, when its copy is current, the acquire and the release alone.
      expect(a.requests.length === 2 || a.requests.length === 4).toBe(true);
      expect(await a.invoke(a.app.handler, { value: i })).toBe(i);
      expect(a.requests).toEqual(['UpdateItemCommand', 'UpdateItemCommand']);
      expect(a.timersDueWhileFrozen).toBe(0);
    }
  });

  it('control: without settle, a warm container finds its own last permit still held at the thaw', async () => {
    const prefix = dynamo.uniquePrefix();
    const a = await boot('a', prefix, false);
    expect(await a.invoke(a.app.handler, { value: 1 })).toBe(1);
    // The release's answer was frozen in flight: the local slot it frees is still taken when
    // the next invocation's call arrives, right at the thaw (and so on, one call behind).
    await expect(a.invoke(a.app.handler, { value: 2 })).rejects.toSatisfy(isBulkheadRejectedError);
    await expect(a.invoke(a.app.handler, { value: 3 })).rejects.toSatisfy(isBulkheadRejectedError);
    // Settling first lets it catch up.
    const settled = async () => {
      await a.app.db.settle();
      return a.app.db.execute(() => 4);
    };
    expect(await a.invoke(settled, {})).toBe(4);
  });
});
