/**
 * `perKey.maxConcurrent` as a function of the key (a cap per tenant): the answer holds while the
 * key is tracked and is asked again once the key was idle; a function that throws or answers
 * anything but an integer >= 1 rejects the call with a `PerKeyCapError`, before it takes a slot;
 * and a bulkhead whose function answers a constant behaves exactly like one given that number.
 */
import { fakeClock } from '@breakwater/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Bulkhead,
  bulkhead,
  isPerKeyCapError,
  memoryStore,
  type PerKeyCapError,
} from '../index.js';
import { caught, deferred, flush } from './helpers.js';

const tracked = (b: Bulkhead) => (b as unknown as { trackedKeys: number }).trackedKeys;

/** Starts a call that runs until released; `log` gets its label when it starts. */
function starter(b: Bulkhead, log: string[]) {
  const gates: (() => void)[] = [];
  const start = (label: string, key?: string) => {
    const gate = deferred();
    gates.push(gate.resolve);
    const result = caught(
      b.execute(
        () => {
          log.push(label);
          return gate.promise;
        },
        key === undefined ? {} : { key },
      ),
    );
    return { result, release: gate.resolve };
  };
  const releaseAll = async () => {
    for (const release of gates) release();
    await flush();
    await flush();
  };
  return { start, releaseAll };
}

describe('perKey.maxConcurrent as a function of the key', () => {
  it("caps each key by its function's answer", async () => {
    const b = bulkhead({
      maxConcurrent: 10,
      maxQueue: 10,
      perKey: { maxConcurrent: (key) => (key.startsWith('gold') ? 3 : 1) },
    });
    const log: string[] = [];
    const { start, releaseAll } = starter(b, log);
    for (let i = 0; i < 4; i++) start(`gold${i}`, 'gold-1');
    for (let i = 0; i < 2; i++) start(`free${i}`, 'free-1');
    start('nokey');
    expect(log).toEqual(['gold0', 'gold1', 'gold2', 'free0', 'nokey']);
    expect(b.queued).toBe(2);
    await releaseAll();
    expect(log).toHaveLength(7);
    expect(tracked(b)).toBe(0);
    await b.close();
  });

  it('asks once while the key is tracked, and again after it was idle', async () => {
    const asked: string[] = [];
    let plan = 1;
    const b = bulkhead({
      maxConcurrent: 10,
      maxQueue: 10,
      perKey: {
        maxConcurrent: (key) => {
          asked.push(key);
          return plan;
        },
      },
    });
    const log: string[] = [];
    const { start, releaseAll } = starter(b, log);
    const first = start('a0', 't');
    start('a1', 't');
    start('a2', 't');
    // The plan changes while the key is tracked: its cap holds until the key is idle.
    plan = 2;
    first.release();
    await flush();
    start('a3', 't');
    expect(asked).toEqual(['t']);
    expect(log).toEqual(['a0', 'a1']);
    await releaseAll();
    expect(tracked(b)).toBe(0);
    // Idle, forgotten: the next call asks again and gets the new plan.
    log.length = 0;
    const again = starter(b, log);
    for (let i = 0; i < 3; i++) again.start(`b${i}`, 't');
    expect(asked).toEqual(['t', 't']);
    expect(log).toEqual(['b0', 'b1']);
    await again.releaseAll();
    await b.close();
  });

  it('keeps no answer of a key that is not tracked: memory stays bounded', async () => {
    let asked = 0;
    const b = bulkhead({
      maxConcurrent: 3,
      maxQueue: 2,
      perKey: {
        maxConcurrent: () => {
          asked++;
          return 1;
        },
      },
    });
    const results: Promise<unknown>[] = [];
    for (let i = 0; i < 1_000; i++) {
      results.push(caught(b.execute(() => flush(), { key: `user-${i}` })));
      expect(tracked(b)).toBeLessThanOrEqual(5);
    }
    await Promise.all(results);
    expect(tracked(b)).toBe(0);
    // Refused calls (queue full) asked too: each key was new when it came.
    expect(asked).toBe(1_000);
    await b.close();
  });

  it('rejects a call whose function throws with a PerKeyCapError, before it takes a slot', async () => {
    const boom = new Error('plan service down');
    let fail = true;
    const b = bulkhead({
      name: 'db',
      maxConcurrent: 2,
      maxQueue: 5,
      perKey: {
        maxConcurrent: () => {
          if (fail) throw boom;
          return 1;
        },
      },
    });
    const rejections: unknown[] = [];
    b.onRejected((rejection) => rejections.push(rejection));
    let ran = false;
    const error = (await caught(
      b.execute(
        () => {
          ran = true;
        },
        { key: 'tenant-42' },
      ),
    )) as PerKeyCapError;
    expect(isPerKeyCapError(error)).toBe(true);
    expect(error).toMatchObject({
      name: 'PerKeyCapError',
      policyName: 'db',
      key: 'tenant-42',
      source: 'perKey.maxConcurrent',
      value: undefined,
      cause: boom,
    });
    expect(error.message).toBe(
      'Bulkhead "db": `perKey.maxConcurrent` threw for key "tenant-42": plan service down',
    );
    expect(ran).toBe(false);
    expect([b.active, b.queued, tracked(b)]).toEqual([0, 0, 0]);
    // Not a rejection for load.
    expect(rejections).toEqual([]);
    // Nothing was cached: the next call asks again.
    fail = false;
    await expect(b.execute(() => 'ok', { key: 'tenant-42' })).resolves.toBe('ok');
    await b.close();
  });

  it('rejects a call whose function answers anything but an integer >= 1, naming the value', async () => {
    const answers: [unknown, string][] = [
      [0, '0'],
      [-1, '-1'],
      [1.5, '1.5'],
      [Number.NaN, 'NaN'],
      [Number.POSITIVE_INFINITY, 'Infinity'],
      ['3', '"3"'],
      [undefined, 'undefined'],
      [null, 'null'],
      [Promise.resolve(2), 'a promise (the function must return the cap itself, synchronously)'],
    ];
    for (const [answer, described] of answers) {
      const b = bulkhead({
        name: 'db',
        maxConcurrent: 2,
        perKey: { maxConcurrent: () => answer as number },
      });
      const error = (await caught(b.execute(() => 1, { key: 'k' }))) as PerKeyCapError;
      expect(isPerKeyCapError(error), String(answer)).toBe(true);
      expect(error.message).toBe(
        `Bulkhead "db": expected \`perKey.maxConcurrent\` to return an integer >= 1 for key "k", got ${described}`,
      );
      expect(error.value).toBe(answer);
      expect([b.active, b.queued, tracked(b)]).toEqual([0, 0, 0]);
      // A call without a key is not capped, and does not ask.
      await expect(b.execute(() => 'free')).resolves.toBe('free');
      await b.close();
    }
  });

  it('still validates a number at construction, and says a function is accepted', () => {
    expect(() => bulkhead({ maxConcurrent: 2, perKey: { maxConcurrent: 0 } })).toThrow(
      new RangeError(
        'Expected `perKey.maxConcurrent` to be an integer >= 1 or a function of the key, got 0',
      ),
    );
    expect(() =>
      bulkhead({ maxConcurrent: 2, perKey: { maxConcurrent: '4' as unknown as number } }),
    ).toThrow(TypeError);
  });

  it('applies per process in a fleet bulkhead, like a number', async () => {
    const store = memoryStore();
    const replicas = [0, 1].map(() =>
      bulkhead({
        name: 'fleet',
        maxConcurrent: 4,
        maxQueue: 10,
        store,
        perKey: { maxConcurrent: () => 1 },
      }),
    );
    let running = 0;
    let peak = 0;
    const gate = deferred();
    const calls = [0, 1, 2, 3].map((i) =>
      replicas[i % 2]!.execute(
        async () => {
          running++;
          peak = Math.max(peak, running);
          await gate.promise;
          running--;
        },
        { key: 't' },
      ),
    );
    for (let i = 0; i < 5; i++) await flush();
    // One call of the key per replica.
    expect(running).toBe(2);
    gate.resolve();
    await Promise.all(calls);
    expect(peak).toBe(2);
    await Promise.all(replicas.map((r) => r.close()));
    await store.close();
  });
});

describe('perKey.maxConcurrent: a function answering a constant agrees with the number', () => {
  const call = fc.record({
    gap: fc.integer({ min: 0, max: 10 }),
    key: fc.option(fc.constantFrom('a', 'b', 'c'), { nil: undefined }),
    durationMs: fc.integer({ min: 1, max: 40 }),
    fails: fc.boolean(),
  });

  /** Runs `calls` on a bulkhead with `perKey`, and returns what happened, in order. */
  async function run(
    perKey: { maxConcurrent: number | ((key: string) => number); maxQueue: number },
    config: { maxConcurrent: number; maxQueue: number },
    calls: { gap: number; key: string | undefined; durationMs: number; fails: boolean }[],
  ): Promise<string[]> {
    const clock = fakeClock();
    const b = bulkhead({ ...config, maxWaitMs: 60, perKey, clock });
    const log: string[] = [];
    const pending: Promise<void>[] = [];
    for (const [index, c] of calls.entries()) {
      await clock.advance(c.gap);
      const started = b.execute(
        async () => {
          log.push(`${clock.now()} start ${index}`);
          await clock.sleep(c.durationMs);
          if (c.fails) throw new Error('failed');
          return index;
        },
        { key: c.key },
      );
      pending.push(
        started.then(
          () => {
            log.push(`${clock.now()} ok ${index}`);
          },
          (error: { name?: string; reason?: string }) => {
            log.push(`${clock.now()} ${error.name} ${error.reason ?? ''} ${index}`);
          },
        ),
      );
    }
    for (let step = 0; step < 40; step++) await clock.advance(10);
    await Promise.all(pending);
    log.push(`tracked ${tracked(b)}`);
    await b.close();
    return log;
  }

  it('admits, queues, rejects and starts the same calls at the same times', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          maxConcurrent: fc.integer({ min: 1, max: 5 }),
          maxQueue: fc.integer({ min: 0, max: 5 }),
          cap: fc.integer({ min: 1, max: 3 }),
          keyQueue: fc.integer({ min: 0, max: 3 }),
        }),
        fc.array(call, { minLength: 1, maxLength: 30 }),
        async (config, calls) => {
          const limits = { maxConcurrent: config.maxConcurrent, maxQueue: config.maxQueue };
          const withNumber = await run(
            { maxConcurrent: config.cap, maxQueue: config.keyQueue },
            limits,
            calls,
          );
          const withFunction = await run(
            { maxConcurrent: () => config.cap, maxQueue: config.keyQueue },
            limits,
            calls,
          );
          expect(withFunction).toEqual(withNumber);
        },
      ),
      { numRuns: 100 },
    );
  });
});
