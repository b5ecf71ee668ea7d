/**
 * Serverless: the breaker's guarantee across frozen invocations on DynamoDB — failures seen by
 * earlier invocations (of any container) open the breaker for a fresh container — and what an
 * invocation costs in DynamoDB requests (docs/SERVERLESS.md states these numbers).
 */
import { serverless } from '@breakwater/core';
import {
  describeWithDynamo,
  dynamoFixture,
  type FreezeThaw,
  type FrozenContainer,
  freezeThaw,
} from '@breakwater/testkit';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { type CircuitBreakerOptions, circuitBreaker, isBrokenCircuitError } from '../index.js';
import { dynamoStore } from '../stores/dynamodb.js';

/** The breaker's time window: a minute, in 10 buckets of 6 s. */
const WINDOW_MS = 60_000;
const BUCKET_MS = WINDOW_MS / 10;

describeWithDynamo('circuit breaker across frozen invocations (DynamoDB)', () => {
  const dynamo = dynamoFixture();
  let env: FreezeThaw;
  beforeEach(() => {
    env = freezeThaw();
    // The containers' clock is the real one plus jumps, and an eventual breaker flushes its local
    // counts when an outcome lands in a new bucket of the window: start each test 10 ms into a
    // bucket, so that no boundary falls between the failures of one invocation (a boundary there
    // sends an extra write mid-invocation, and the request counts below see it). The three
    // containers' failures (2 s of jumps apart) then share one bucket.
    env.clock.jump(BUCKET_MS - (env.clock.now() % BUCKET_MS) + 10);
  });
  afterEach(() => env.close());

  /** A container of the function: a breaker built at init, and a handler making `fail` failing calls (else one good call). */
  const boot = (name: string, prefix: string, options: CircuitBreakerOptions, settle: boolean) =>
    env.container(name, (container) => {
      const store = dynamoStore({
        client: container.client(dynamo.client),
        tableName: dynamo.tableName,
        prefix,
      });
      const breaker = circuitBreaker({
        name: 'partner',
        store,
        failureRatio: 0.5,
        minimumThroughput: 6,
        window: { kind: 'time', durationMs: WINDOW_MS, buckets: WINDOW_MS / BUCKET_MS },
        breakDurationMs: 30_000,
        // Longer than an invocation takes, so the counts below do not depend on machine speed.
        syncIntervalMs: 1_000,
        clock: env.clock,
        // Far above dynalite's answers on a loaded machine: a request that missed a short deadline
        // would change the request counts below.
        storeDeadlineMs: 5_000,
        ...options,
      });
      const handler = async (event: { fail: number }) => {
        if (event.fail === 0) return breaker.execute(() => 'ok');
        for (let i = 0; i < event.fail; i++) {
          await breaker.execute(() => Promise.reject(new Error('partner down'))).catch(() => {});
        }
        return 'failed';
      };
      return { breaker, handler: settle ? serverless(handler, { settle: [breaker] }) : handler };
    });

  /** Three containers each see two failures in one invocation, then are frozen forever. */
  async function failInThreeContainers(
    prefix: string,
    options: CircuitBreakerOptions,
    settle: boolean,
  ): Promise<FrozenContainer<Awaited<ReturnType<typeof boot>>['app']>[]> {
    const containers = [];
    for (const name of ['a', 'b', 'c']) {
      const container = await boot(name, prefix, options, settle);
      await container.invoke(container.app.handler, { fail: 2 });
      container.discard();
      containers.push(container);
      env.clock.jump(1_000);
    }
    return containers;
  }

  it("eventual + settle: a fresh container is refused after earlier invocations' failures", async () => {
    const prefix = dynamo.uniquePrefix();
    const containers = await failInThreeContainers(prefix, {}, true);
    // The first write to a missing item: a failed create, the read, the write.
    expect(containers[0]!.requests).toEqual([
      'UpdateItemCommand',
      'GetItemCommand',
      'UpdateItemCommand',
    ]);
    // Then every invocation: both outcomes in one versioned write at settle (read + write).
    for (const container of containers.slice(1)) {
      expect(container.requests).toEqual(['GetItemCommand', 'UpdateItemCommand']);
    }
    const fresh = await boot('d', prefix, {}, true);
    // A cold start reads the state at init.
    expect(fresh.requests).toEqual(['GetItemCommand']);
    const refused = await fresh.invoke(fresh.app.handler, { fail: 0 }).catch((error) => error);
    expect(isBrokenCircuitError(refused)).toBe(true);
    expect(fresh.app.breaker.state).toBe('open');
    // A refused call writes nothing.
    expect(fresh.requests).toEqual([]);
  });

  it('eventual + settle: what a warm invocation costs', async () => {
    const prefix = dynamo.uniquePrefix();
    const warm = await boot('warm', prefix, {}, true);
    await warm.invoke(warm.app.handler, { fail: 1 });
    for (let i = 0; i < 3; i++) {
      env.clock.jump(60_000);
      expect(await warm.invoke(warm.app.handler, { fail: 0 })).toBe('ok');
      // The sync timer, overdue at the thaw, re-reads (and writes the window it rotated), racing
      // the settle's versioned write: 2 requests each, plus 2 when the race makes the write retry.
      const sent = warm.requests;
      expect(sent.length === 4 || sent.length === 6).toBe(true);
      expect(sent.filter((name) => name === 'GetItemCommand')).toHaveLength(sent.length / 2);
    }
  });

  it('strict with syncIntervalMs 0: no timer at all; a read and a write per call', async () => {
    const prefix = dynamo.uniquePrefix();
    const options: CircuitBreakerOptions = { consistency: 'strict', syncIntervalMs: 0 };
    const warm = await boot('warm', prefix, options, false);
    expect(await warm.invoke(warm.app.handler, { fail: 0 })).toBe('ok');
    for (let i = 0; i < 3; i++) {
      env.clock.jump(60_000);
      expect(await warm.invoke(warm.app.handler, { fail: 0 })).toBe('ok');
      expect(warm.timersDueWhileFrozen).toBe(0);
      // The read before the call (it writes the window the frozen minute rotated), then the
      // outcome's versioned write.
      expect(warm.requests).toEqual([
        'GetItemCommand',
        'UpdateItemCommand',
        'GetItemCommand',
        'UpdateItemCommand',
      ]);
    }
    await failInThreeContainers(prefix, options, false);
    await expect(warm.invoke(warm.app.handler, { fail: 0 })).rejects.toSatisfy(
      isBrokenCircuitError,
    );
  });

  it('strict (no settle needed): every outcome is written before the call returns', async () => {
    const prefix = dynamo.uniquePrefix();
    const containers = await failInThreeContainers(prefix, { consistency: 'strict' }, false);
    // Each failing call: its versioned write (read + write). The first container also creates
    // the item its init read found missing.
    expect(containers.map((container) => container.requests)).toEqual([
      [
        'UpdateItemCommand',
        'GetItemCommand',
        'UpdateItemCommand',
        'GetItemCommand',
        'UpdateItemCommand',
      ],
      ['GetItemCommand', 'UpdateItemCommand', 'GetItemCommand', 'UpdateItemCommand'],
      ['GetItemCommand', 'UpdateItemCommand', 'GetItemCommand', 'UpdateItemCommand'],
    ]);
    const fresh = await boot('d', prefix, { consistency: 'strict' }, false);
    await expect(fresh.invoke(fresh.app.handler, { fail: 0 })).rejects.toSatisfy(
      isBrokenCircuitError,
    );
  });

  it('strict: a warm container thawed after a jump re-reads before its first call', async () => {
    const prefix = dynamo.uniquePrefix();
    const warm = await boot('warm', prefix, { consistency: 'strict' }, false);
    expect(await warm.invoke(warm.app.handler, { fail: 0 })).toBe('ok');
    env.clock.jump(5_000);
    await failInThreeContainers(prefix, { consistency: 'strict' }, false);
    // Its cached view says closed; the read before the call says open.
    expect(warm.app.breaker.state).toBe('closed');
    await expect(warm.invoke(warm.app.handler, { fail: 0 })).rejects.toSatisfy(
      isBrokenCircuitError,
    );
    // The overdue sync timer's re-read at the thaw, and the read before the call.
    expect(warm.requests).toEqual(['GetItemCommand', 'GetItemCommand']);
  });

  it('control: eventual without settle loses the counts to the freeze (the sync timer never ran)', async () => {
    const prefix = dynamo.uniquePrefix();
    const containers = await failInThreeContainers(prefix, {}, false);
    // Nothing but the creation of the item (the first container's init read found none).
    expect(containers.map((container) => container.requests)).toEqual([
      ['UpdateItemCommand'],
      [],
      [],
    ]);
    for (const container of containers) expect(container.timersDueWhileFrozen).toBe(0);
    const fresh = await boot('d', prefix, {}, false);
    expect(await fresh.invoke(fresh.app.handler, { fail: 0 })).toBe('ok');
  });
});
