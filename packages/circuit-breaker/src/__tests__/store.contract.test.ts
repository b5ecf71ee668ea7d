/**
 * The breaker store contract: the same tests against memory, Redis, Redis Cluster and DynamoDB.
 * Time-driven cases use short real durations, because the Redis store reads the server's clock;
 * `now` passed to the operations is the real time too, for the stores that use the caller's.
 */
import { runContractSuite } from '@breakwater/testkit';
import { expect, it } from 'vitest';
import { resolveOptions } from '../options.js';
import type { BreakerRules, BreakerStore, BreakerView, OutcomeBatch } from '../store.js';
import { dynamoStore } from '../stores/dynamodb.js';
import { memoryStore } from '../stores/memory.js';
import { redisStore } from '../stores/redis.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => Date.now();

function rules(overrides: Parameters<typeof resolveOptions>[0] = {}): BreakerRules {
  return resolveOptions({ ...overrides, store: memoryStore() }).rules;
}

const batch = (
  successes: number,
  failures: number,
  slowCalls = 0,
  trailingFailures = failures && !successes ? failures : 0,
): OutcomeBatch => ({
  successes,
  failures,
  slowCalls,
  trailingFailures,
});

async function waitFor(check: () => boolean, ms = 2000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(5);
  }
}

runContractSuite<BreakerStore>(
  'circuit-breaker store',
  {
    memory: () => memoryStore(),
    redis: ({ client, prefix }) => redisStore({ client, prefix }),
    dynamodb: ({ client, tableName, prefix }) => dynamoStore({ client, tableName, prefix }),
  },
  ({ makeStore, backend }) => {
    it('starts closed with an empty window', async () => {
      const store = await makeStore();
      const view = await store.scope('fresh', rules()).read(now());
      expect(view).toMatchObject({
        state: 'closed',
        calls: 0,
        failures: 0,
        consecutiveOpens: 0,
        replaced: false,
      });
    });

    it('merges batches from several replicas and opens at the failure ratio', async () => {
      const store = await makeStore();
      const r = rules({ failureRatio: 0.5, minimumThroughput: 10, breakDurationMs: 5000 });
      const a = store.scope('dep', r);
      const b = store.scope('dep', r);
      expect(await a.record(batch(4, 1), 'a', now())).toMatchObject({
        state: 'closed',
        calls: 5,
        failures: 1,
      });
      expect(await b.record(batch(1, 3), 'b', now())).toMatchObject({
        state: 'closed',
        calls: 9,
        failures: 4,
      });
      const opened = await a.record(batch(0, 1), 'a', now());
      expect(opened).toMatchObject({ state: 'open', calls: 0, consecutiveOpens: 1 });
      expect(opened.remainingMs).toBeGreaterThan(4500);
      expect(opened.remainingMs).toBeLessThanOrEqual(5000);
      expect(opened.version).toBeGreaterThan(0);
    });

    it('opens on the slow-call ratio', async () => {
      const store = await makeStore();
      const b = store.scope(
        'slow',
        rules({ slowCall: { durationMs: 100, ratio: 0.5 }, minimumThroughput: 4 }),
      );
      expect((await b.record(batch(3, 0, 1), 'a', now())).state).toBe('closed');
      expect((await b.record(batch(1, 0, 1), 'a', now())).state).toBe('open');
    });

    it('keeps a count window to its size, dropping the oldest calls first', async () => {
      const store = await makeStore();
      const b = store.scope(
        'count',
        rules({ failureRatio: 0.9, minimumThroughput: 4, window: { kind: 'count', size: 4 } }),
      );
      await b.record(batch(0, 2), 'a', now());
      const view = await b.record(batch(3, 0), 'a', now());
      expect(view).toMatchObject({ calls: 4, failures: 1 });
      expect(await b.record(batch(4, 0), 'a', now())).toMatchObject({ calls: 4, failures: 0 });
    });

    it('rotates time buckets out of the window', async () => {
      const store = await makeStore();
      const b = store.scope(
        'time',
        rules({ failureRatio: 0.9, window: { kind: 'time', durationMs: 200, buckets: 2 } }),
      );
      await b.record(batch(2, 2), 'a', now());
      expect((await b.read(now())).calls).toBe(4);
      await sleep(450);
      expect(await b.read(now())).toMatchObject({ calls: 0, failures: 0 });
    });

    it('tracks consecutive failures across batches; a success restarts the run', async () => {
      const store = await makeStore();
      const b = store.scope('consec', rules({ consecutiveFailures: 5 }));
      await b.record(batch(0, 2), 'a', now());
      expect((await b.record(batch(1, 2, 0, 2), 'b', now())).consecutiveFailures).toBe(2);
      expect((await b.record(batch(0, 2), 'a', now())).consecutiveFailures).toBe(4);
      expect((await b.record(batch(0, 1), 'a', now())).state).toBe('open');
    });

    it('drops outcomes that reach an open breaker', async () => {
      const store = await makeStore();
      const b = store.scope('stale', rules({ consecutiveFailures: 1 }));
      await b.record(batch(0, 1), 'a', now());
      expect(await b.record(batch(5, 5), 'a', now())).toMatchObject({ state: 'open', calls: 0 });
    });

    it('grants at most maxCalls probe leases after the break, fleet-wide', async () => {
      const store = await makeStore();
      const r = rules({
        consecutiveFailures: 1,
        breakDurationMs: 100,
        halfOpen: { maxCalls: 2, successThreshold: 2 },
      });
      const a = store.scope('probe', r);
      const b = store.scope('probe', r);
      await a.record(batch(0, 1), 'a', now());
      expect((await a.acquireProbe('a1', now())).decision).toBe('reject');
      await sleep(120);
      const first = await a.acquireProbe('a1', now());
      expect(first.decision).toBe('probe');
      expect(first.view.state).toBe('half-open');
      expect((await b.acquireProbe('b1', now())).decision).toBe('probe');
      const third = await b.acquireProbe('b2', now());
      expect(third.decision).toBe('reject');
      expect(third.view.probes).toBe(2);
      expect((await a.releaseProbe('a1', 'success', now())).state).toBe('half-open');
      expect((await b.releaseProbe('b1', 'success', now())).state).toBe('closed');
      expect((await b.acquireProbe('b3', now())).decision).toBe('admit');
    });

    it('a failed probe re-opens with the next break duration', async () => {
      const store = await makeStore();
      const b = store.scope(
        'backoff',
        rules({
          consecutiveFailures: 1,
          breakDurationMs: ({ consecutiveOpens }) => consecutiveOpens * 100,
        }),
      );
      await b.record(batch(0, 1), 'a', now());
      await sleep(120);
      expect((await b.acquireProbe('t', now())).decision).toBe('probe');
      const reopened = await b.releaseProbe('t', 'failure', now());
      expect(reopened).toMatchObject({ state: 'open', consecutiveOpens: 2 });
      expect(reopened.remainingMs).toBeGreaterThan(150);
      expect(reopened.remainingMs).toBeLessThanOrEqual(200);
    });

    it('an ignored probe frees its lease without deciding', async () => {
      const store = await makeStore();
      const b = store.scope('ignored', rules({ consecutiveFailures: 1, breakDurationMs: 50 }));
      await b.record(batch(0, 1), 'a', now());
      await sleep(70);
      await b.acquireProbe('t1', now());
      expect(await b.releaseProbe('t1', 'ignored', now())).toMatchObject({
        state: 'half-open',
        probes: 0,
      });
      expect((await b.acquireProbe('t2', now())).decision).toBe('probe');
      expect((await b.releaseProbe('unknown', 'failure', now())).state).toBe('half-open');
    });

    it('an expired lease frees its slot; a stuck half-open re-opens', async () => {
      const store = await makeStore();
      const b = store.scope(
        'lease',
        rules({
          consecutiveFailures: 1,
          breakDurationMs: 50,
          halfOpen: { probeLeaseMs: 100, maxDurationMs: 400 },
        }),
      );
      await b.record(batch(0, 1), 'a', now());
      await sleep(70);
      expect((await b.acquireProbe('dead', now())).decision).toBe('probe');
      expect((await b.acquireProbe('other', now())).decision).toBe('reject');
      await sleep(120);
      expect((await b.acquireProbe('other', now())).decision).toBe('probe');
      await sleep(300);
      expect(await b.read(now())).toMatchObject({ state: 'open', consecutiveOpens: 2 });
    });

    it('with a quorum, only failures from enough distinct replicas open the breaker', async () => {
      const store = await makeStore();
      const b = store.scope(
        'quorum',
        rules({ consecutiveFailures: 2, openQuorum: { replicas: 2, windowMs: 10_000 } }),
      );
      expect((await b.record(batch(0, 5), 'lonely', now())).state).toBe('closed');
      expect((await b.record(batch(0, 5), 'lonely', now())).state).toBe('closed');
      expect((await b.record(batch(0, 1), 'second', now())).state).toBe('open');
    });

    it('isolate, reset and disable act on the shared record', async () => {
      const store = await makeStore();
      const r = rules({ consecutiveFailures: 1 });
      const a = store.scope('controls', r);
      const b = store.scope('controls', r);
      expect(await a.command({ type: 'isolate', forMs: 0 }, now())).toMatchObject({
        state: 'isolated',
        remainingMs: -1,
      });
      expect((await b.acquireProbe('t', now())).decision).toBe('reject');
      expect((await b.command({ type: 'reset' }, now())).state).toBe('closed');
      expect((await a.command({ type: 'disable' }, now())).state).toBe('disabled');
      expect(await b.record(batch(0, 10), 'b', now())).toMatchObject({
        state: 'disabled',
        calls: 10,
        failures: 10,
      });
      expect((await b.acquireProbe('t', now())).decision).toBe('admit');
    });

    it('an isolation with an end turns into a break that is over', async () => {
      const store = await makeStore();
      const b = store.scope('isolate-for', rules());
      const isolated = await b.command({ type: 'isolate', forMs: 100 }, now());
      expect(isolated.remainingMs).toBeGreaterThan(50);
      await sleep(120);
      const answer = await b.acquireProbe('t', now());
      expect(answer).toMatchObject({ decision: 'probe', view: { state: 'half-open' } });
    });

    it('seeds a record only when none exists', async () => {
      const store = await makeStore();
      const b = store.scope('seeded', rules({ failureRatio: 0.5, minimumThroughput: 4 }));
      const seed = {
        state: 'closed' as const,
        remainingMs: 0,
        consecutiveOpens: 0,
        consecutiveFailures: 1,
        calls: 3,
        failures: 1,
        slowCalls: 0,
      };
      expect(await b.seed(seed, now())).toMatchObject({ state: 'closed', calls: 3, failures: 1 });
      expect(await b.seed({ ...seed, state: 'open', remainingMs: 1000 }, now())).toMatchObject({
        state: 'closed',
        calls: 3,
      });
      const open = store.scope('seeded-open', rules());
      const view = await open.seed(
        { ...seed, state: 'open', remainingMs: 1000, consecutiveOpens: 2 },
        now(),
      );
      expect(view).toMatchObject({ state: 'open', consecutiveOpens: 2 });
      expect(view.remainingMs).toBeGreaterThan(900);
    });

    it('keeps breakers of different names apart', async () => {
      const store = await makeStore();
      const r = rules({ consecutiveFailures: 1 });
      await store.scope('one', r).record(batch(0, 1), 'a', now());
      expect((await store.scope('two', r).read(now())).state).toBe('closed');
      expect((await store.scope('one', r).read(now())).state).toBe('open');
    });

    it('pushes transitions to subscribed replicas, when the store can push', async () => {
      const store = await makeStore();
      const r = rules({ consecutiveFailures: 1 });
      const a = store.scope('pushed', r);
      const b = store.scope('pushed', r);
      if (b.subscribe === undefined) return;
      const seen: BreakerView[] = [];
      // The memory store pushes synchronously; a network store's subscription becomes active
      // later, and says so through onGap (a fixed wait missed it on a loaded machine).
      let active = backend === 'memory';
      const off = b.subscribe(
        (view) => seen.push(view),
        () => {
          active = true;
        },
      );
      await waitFor(() => active, 5_000);
      await a.record(batch(0, 1), 'a', now());
      await waitFor(() => seen.length > 0);
      expect(seen[0]).toMatchObject({ state: 'open', consecutiveOpens: 1 });
      off();
    });

    it('a network store answers the probe of a breaker scope; the memory store needs none', async () => {
      const store = await makeStore();
      const scope = store.scope('probed', rules());
      if (backend === 'memory') {
        expect(scope.probe).toBeUndefined();
        return;
      }
      expect(scope.probe).toBeTypeOf('function');
      await expect(
        Promise.resolve(scope.probe!(new AbortController().signal)),
      ).resolves.toBeDefined();
      // The probe neither reads nor writes the breaker's record.
      expect(await scope.read(now())).toMatchObject({ state: 'closed', version: 0 });
    });

    it('close() and Symbol.asyncDispose complete, and may be called again', async () => {
      const store = await makeStore();
      const scope = store.scope('closing', rules());
      const off = scope.subscribe?.(() => {});
      await store.close();
      await store[Symbol.asyncDispose]();
      off?.();
      // The operations use the client, which stays the user's: they still work.
      expect((await scope.read(now())).state).toBe('closed');
    });
  },
);
