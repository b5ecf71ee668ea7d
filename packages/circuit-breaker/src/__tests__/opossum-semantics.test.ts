/**
 * The opossum bridge keeps opossum's own behaviour: with `shareState()` attached, one opossum
 * breaker (a fleet of one) opens, half-opens, probes and closes exactly when and how it would
 * alone — its events, states and options keep their meaning. Each cause of issue #15 §4 has a test
 * here, run with real opossum 9 and 10, over the memory store and over Redis.
 */
import { createRequire } from 'node:module';
import { describeWithRedis, redisFixture } from '@breakwater/testkit';
import Opossum9 from 'opossum';
import { afterEach, describe, expect, it } from 'vitest';
import { shareState } from '../opossum-bridge.js';
import type { BreakerStore } from '../store.js';
import { memoryStore } from '../stores/memory.js';
import { redisStore } from '../stores/redis.js';

// opossum 10 is installed under an alias; its typings are opossum's (the API did not change).
const require = createRequire(import.meta.url);
const Opossum10 = require('opossum10') as typeof Opossum9;
const opossumVersions = [
  { version: '9', CircuitBreaker: Opossum9 },
  { version: '10', CircuitBreaker: Opossum10 },
] as const;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

async function waitFor(check: () => boolean, ms = 2000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`condition not met within ${ms} ms`);
    await sleep(2);
  }
}

type Breaker = InstanceType<typeof Opossum9>;
type Options = ConstructorParameters<typeof Opossum9>[1];

/** An upstream the test switches between up and down; each call takes `delayMs`. */
function upstream(delayMs = 10) {
  const state = { down: true };
  const action = async (ms: number = delayMs) => {
    await sleep(ms);
    if (state.down) throw new Error('upstream down');
    return 'ok';
  };
  return { state, action };
}

/** The state-change events of an opossum breaker, in order, with the time each was seen. */
function transitions(breaker: Breaker) {
  const seen: { event: string; at: number }[] = [];
  for (const event of ['open', 'halfOpen', 'close']) {
    breaker.on(event as 'open', () => seen.push({ event, at: Date.now() }));
  }
  return {
    seen,
    names: () => seen.map((e) => e.event),
    at: (event: string) => seen.find((e) => e.event === event)?.at ?? Number.NaN,
  };
}

function semanticsTests(
  CircuitBreaker: typeof Opossum9,
  makeStore: () => BreakerStore,
  syncIntervalMs: number | undefined,
) {
  /** One opossum breaker with the bridge attached, under a name of its own. */
  function bridged(action: (ms?: number) => Promise<string>, options: Options, extra = {}) {
    const breaker = new CircuitBreaker(action, { timeout: 1000, ...options });
    const events = transitions(breaker);
    const link = shareState(breaker, {
      store: makeStore(),
      name: `opossum-${Math.random().toString(36).slice(2)}`,
      ...(syncIntervalMs === undefined ? {} : { syncIntervalMs }),
      ...extra,
    });
    cleanup.push(
      () => link.close(),
      () => breaker.shutdown(),
    );
    return { breaker, link, events };
  }

  it('stays half-open after resetTimeout, and closes only once its probe succeeded', async () => {
    const up = upstream(20);
    const { breaker, link, events } = bridged(up.action, {
      errorThresholdPercentage: 50,
      resetTimeout: 150,
    });
    await expect(breaker.fire()).rejects.toThrow('upstream down');
    await waitFor(() => breaker.opened && link.shared.state === 'open');
    await waitFor(() => breaker.halfOpen);
    await sleep(40); // the fleet has had time to answer for the probe lease
    expect(breaker.halfOpen).toBe(true);
    expect(breaker.pendingClose).toBe(true);
    expect(events.names()).toEqual(['open', 'halfOpen']);

    up.state.down = false;
    const probe = breaker.fire();
    await sleep(5);
    expect(events.names()).toEqual(['open', 'halfOpen']); // no `close` while the probe runs
    await expect(probe).resolves.toBe('ok');
    expect(events.names()).toEqual(['open', 'halfOpen', 'close']);
    await waitFor(() => link.shared.state === 'closed');
    expect(events.names()).toEqual(['open', 'halfOpen', 'close']);
  });

  it('a failed probe re-opens opossum once, and the fleet with it', async () => {
    const up = upstream(20);
    const { breaker, link, events } = bridged(up.action, {
      errorThresholdPercentage: 50,
      resetTimeout: 150,
    });
    await expect(breaker.fire()).rejects.toThrow('upstream down');
    await waitFor(() => breaker.halfOpen);
    await sleep(40);
    await expect(breaker.fire()).rejects.toThrow('upstream down');
    expect(breaker.opened).toBe(true);
    await waitFor(() => link.shared.stats().halfOpenProbes === 0 && link.shared.state === 'open');
    expect(events.names()).toEqual(['open', 'halfOpen', 'open']);
    // The next half-open comes one resetTimeout after the failed probe, as in opossum.
    await waitFor(() => breaker.halfOpen, 1000);
    const sinceReopen = Date.now() - (events.seen[2]?.at ?? 0);
    expect(sinceReopen).toBeLessThan(150 + 100);
  });

  it('keeps the open or half-open state opossum restored (the `state` option)', async () => {
    const up = upstream(20);
    up.state.down = false;
    const open = bridged(up.action, { resetTimeout: 150, state: { closed: false } } as Options);
    const halfOpen = bridged(up.action, {
      resetTimeout: 150,
      state: { closed: false, halfOpen: true },
    } as Options);
    expect(open.breaker.opened).toBe(true);
    expect(halfOpen.breaker.halfOpen).toBe(true);
    await sleep(40); // the fleet's first answer (closed) has arrived
    expect(open.breaker.opened).toBe(true);
    expect(halfOpen.breaker.halfOpen).toBe(true);
    await expect(open.breaker.fire()).rejects.toMatchObject({ code: 'EOPENBREAKER' });

    // The restored half-open breaker probes with its next call; the restored open one after its
    // resetTimeout.
    await expect(halfOpen.breaker.fire()).resolves.toBe('ok');
    expect(halfOpen.breaker.closed).toBe(true);
    await waitFor(() => open.breaker.halfOpen);
    await expect(open.breaker.fire()).resolves.toBe('ok');
    expect(open.breaker.closed).toBe(true);
    expect(open.events.names()).toEqual(['halfOpen', 'close']);
    expect(halfOpen.events.names()).toEqual(['close']);
  });

  it('allowWarmUp: failures during the warm-up open neither opossum nor the fleet', async () => {
    const up = upstream(5);
    const { breaker, link } = bridged(up.action, {
      errorThresholdPercentage: 1,
      resetTimeout: 150,
      allowWarmUp: true,
      rollingCountTimeout: 400,
    });
    expect(breaker.warmUp).toBe(true);
    for (let i = 0; i < 3; i++) await expect(breaker.fire()).rejects.toThrow('upstream down');
    await sleep(60); // flushed to the store and answered
    expect(breaker.opened).toBe(false);
    expect(link.shared.state).toBe('closed');
  });

  it('reopens after one resetTimeout when the shared break ends after opossum’s timer', async () => {
    // opossum opens on the first failure (1 of 2 calls: 50% > 40%); the fleet, which needs two
    // calls here, opens on the second failure 80 ms later — its break ends 80 ms after
    // opossum's timer fires.
    const up = upstream();
    const { breaker, link, events } = bridged(
      up.action,
      { errorThresholdPercentage: 40, resetTimeout: 200 },
      { minimumThroughput: 2 },
    );
    const slow = breaker.fire(90);
    await expect(breaker.fire(5)).rejects.toThrow('upstream down');
    expect(breaker.opened).toBe(true);
    await expect(slow).rejects.toThrow('upstream down');
    await waitFor(() => link.shared.state === 'open');

    await waitFor(() => breaker.halfOpen, 1000);
    up.state.down = false;
    await sleep(120); // the shared break is over now, and this replica holds the probe lease
    expect(breaker.halfOpen).toBe(true);
    await expect(breaker.fire()).resolves.toBe('ok');
    await waitFor(() => link.shared.state === 'closed');
    expect(events.names()).toEqual(['open', 'halfOpen', 'close']);
    expect(events.at('halfOpen') - events.at('open')).toBeLessThan(200 + 60);
  });

  it('a probe that succeeds before the shared break ends closes the fleet when it ends', async () => {
    const up = upstream();
    const { breaker, link, events } = bridged(
      up.action,
      { errorThresholdPercentage: 40, resetTimeout: 200 },
      { minimumThroughput: 2 },
    );
    const slow = breaker.fire(90);
    await expect(breaker.fire(5)).rejects.toThrow('upstream down');
    await expect(slow).rejects.toThrow('upstream down');
    await waitFor(() => link.shared.state === 'open');

    await waitFor(() => breaker.halfOpen, 1000);
    up.state.down = false;
    await expect(breaker.fire()).resolves.toBe('ok'); // opossum's probe, as without the bridge
    expect(breaker.closed).toBe(true);
    expect(link.shared.state).toBe('open'); // the shared break is not over yet
    await waitFor(() => link.shared.state === 'closed', 500);
    expect(events.names()).toEqual(['open', 'halfOpen', 'close']);
  });

  it('accepts resetTimeout, rollingCountTimeout and rollingCountBuckets of 0, as opossum does', async () => {
    const up = upstream(5);
    for (const zero of [
      { rollingCountTimeout: 0 },
      { rollingCountBuckets: 0 },
      { resetTimeout: 0 },
    ] as Options[]) {
      expect(() => bridged(up.action, { errorThresholdPercentage: 50, ...zero })).not.toThrow();
    }
    // resetTimeout 0: opossum half-opens at once, and its probe closes it and the fleet. (With
    // Redis the fleet may open after opossum's timer fired; opossum then follows it once more.)
    const { breaker, link, events } = bridged(up.action, { resetTimeout: 0 });
    await expect(breaker.fire()).rejects.toThrow('upstream down');
    await waitFor(() => link.shared.state !== 'closed');
    await sleep(20);
    up.state.down = false;
    await waitFor(() => breaker.halfOpen);
    await expect(breaker.fire()).resolves.toBe('ok');
    expect(breaker.closed).toBe(true);
    await waitFor(() => link.shared.state === 'closed');
    expect(events.names().slice(0, 2)).toEqual(['open', 'halfOpen']);
    expect(events.names().at(-1)).toBe('close');
  });

  it('trips only above errorThresholdPercentage, like opossum', async () => {
    const up = upstream(5);
    const { breaker, link } = bridged(up.action, {
      errorThresholdPercentage: 50,
      resetTimeout: 5000,
    });
    // opossum emits `failure` before it opens on it; the bridge must not open it any sooner.
    const openDuringFailure: boolean[] = [];
    breaker.on('failure', () => openDuringFailure.push(breaker.opened));
    up.state.down = false;
    await breaker.fire();
    up.state.down = true;
    await expect(breaker.fire()).rejects.toThrow('upstream down'); // 1 of 2: 50%, not above
    await sleep(60);
    expect(breaker.opened).toBe(false);
    expect(link.shared.state).toBe('closed');
    await expect(breaker.fire()).rejects.toThrow('upstream down'); // 2 of 3: above
    expect(breaker.opened).toBe(true);
    await waitFor(() => link.shared.state === 'open');
    expect(openDuringFailure).toEqual([false, false]);
  });
}

describe.each(opossumVersions)(
  'opossum $version with the bridge',
  ({ version, CircuitBreaker }) => {
    it('is the opossum major under test', () => {
      const pkg = version === '9' ? 'opossum/package.json' : 'opossum10/package.json';
      expect((require(pkg) as { version: string }).version.split('.')[0]).toBe(version);
      expect(CircuitBreaker).toBe(version === '9' ? Opossum9 : Opossum10);
    });

    describe('memory store', () => {
      semanticsTests(CircuitBreaker, () => memoryStore(), undefined);
    });

    describeWithRedis('Redis store', () => {
      const fixture = redisFixture();
      semanticsTests(
        CircuitBreaker,
        () => {
          const store = redisStore({ client: fixture.newClient(), prefix: fixture.uniquePrefix() });
          cleanup.push(() => store.close());
          return store;
        },
        20,
      );
    });
  },
);
