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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

async function waitFor(check: () => boolean, ms = 2000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`condition not met within ${ms} ms`);
    await sleep(5);
  }
}

/** Two "replicas": two opossum breakers around the same upstream, sharing state through `store`. */
function fleet(
  CircuitBreaker: typeof Opossum9,
  makeStore: () => BreakerStore,
  upstream: { down: boolean },
) {
  const replicas = [0, 1].map(() => {
    const action = async () => {
      await sleep(20);
      if (upstream.down) throw new Error('upstream down');
      return 'ok';
    };
    const opossum = new CircuitBreaker(action, {
      timeout: 1000,
      resetTimeout: 150,
      errorThresholdPercentage: 50,
      volumeThreshold: 1000, // opossum alone would never trip here: the fleet decides
    });
    const store = makeStore();
    const link = shareState(opossum, {
      store,
      name: 'partner',
      minimumThroughput: 4,
      syncIntervalMs: 20,
    });
    cleanup.push(
      () => link.close(),
      () => opossum.shutdown(),
    );
    return { opossum, link };
  });
  return replicas;
}

function bridgeTests(CircuitBreaker: typeof Opossum9, makeStore: () => () => BreakerStore) {
  it("failures seen by one replica's opossum open every replica's opossum", async () => {
    const upstream = { down: true };
    const [a, b] = fleet(CircuitBreaker, makeStore(), upstream);
    for (let i = 0; i < 4; i++) await a!.opossum.fire().catch(() => {});
    await waitFor(() => a!.opossum.opened && b!.opossum.opened);
    await expect(b!.opossum.fire()).rejects.toMatchObject({ code: 'EOPENBREAKER' });
    expect(b!.link.shared.state).toBe('open');
  });

  it('after the break only one replica probes, and its success closes the fleet', async () => {
    const upstream = { down: true };
    const [a, b] = fleet(CircuitBreaker, makeStore(), upstream);
    for (let i = 0; i < 4; i++) await a!.opossum.fire().catch(() => {});
    await waitFor(() => b!.opossum.opened);
    upstream.down = false;
    await sleep(200);
    // Both opossum timers have fired; the fleet granted one lease: that replica stays half-open
    // and probes with its next call, the other one re-opens.
    await waitFor(() => a!.opossum.opened !== b!.opossum.opened);
    const prober = a!.opossum.opened ? b! : a!;
    const other = prober === a ? b! : a!;
    expect(prober.opossum.halfOpen).toBe(true);
    expect(other.opossum.opened).toBe(true);
    await expect(other.opossum.fire()).rejects.toMatchObject({ code: 'EOPENBREAKER' });
    await expect(prober.opossum.fire()).resolves.toBe('ok');
    await waitFor(() => prober.link.shared.state === 'closed' && !other.opossum.opened);
  });

  it('isolate() on the shared breaker opens every opossum breaker; reset() closes them', async () => {
    const [a, b] = fleet(CircuitBreaker, makeStore(), { down: false });
    await a!.link.shared.isolate();
    await waitFor(() => a!.opossum.opened && b!.opossum.opened);
    await b!.link.shared.reset();
    await waitFor(() => !a!.opossum.opened && !b!.opossum.opened);
  });
}

describe.each([
  { version: '9', CircuitBreaker: Opossum9 },
  { version: '10', CircuitBreaker: Opossum10 },
])('opossum $version', ({ CircuitBreaker }) => {
  describe('opossum bridge, memory store shared in one process', () => {
    bridgeTests(CircuitBreaker, () => {
      const store = memoryStore();
      return () => store;
    });
  });

  describeWithRedis('opossum bridge on Redis', () => {
    const fixture = redisFixture();
    bridgeTests(CircuitBreaker, () => {
      const prefix = fixture.uniquePrefix();
      return () => {
        const store = redisStore({ client: fixture.newClient(), prefix });
        cleanup.push(() => store.close());
        return store;
      };
    });
  });
});
