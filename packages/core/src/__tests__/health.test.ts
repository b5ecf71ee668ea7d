import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type HealthReport,
  type HealthSource,
  health,
  healthHandler,
  healthResponse,
  POLICY_HEALTH,
  type PolicyHealthFacts,
  policyHealth,
} from '../index.js';

/** A policy double whose facts the test changes, reporting through the protocol. */
function fakePolicy(facts: Partial<PolicyHealthFacts> & { name: string }) {
  const current: PolicyHealthFacts = {
    pattern: 'bulkhead',
    storeKind: 'redis',
    storeStatus: 'healthy',
    onStoreError: 'local',
    closed: false,
    ...facts,
  };
  return {
    facts: current as { -readonly [K in keyof PolicyHealthFacts]: PolicyHealthFacts[K] },
    [POLICY_HEALTH]() {
      return policyHealth(current);
    },
  };
}

describe('policyHealth', () => {
  it('is ok with a healthy store, and reports the state, the store and the pattern', () => {
    expect(
      policyHealth({
        name: 'payments',
        pattern: 'circuit-breaker',
        state: 'open',
        storeKind: 'redis',
        storeStatus: 'healthy',
        onStoreError: 'fail-closed',
        closed: false,
      }),
    ).toEqual({
      name: 'payments',
      pattern: 'circuit-breaker',
      state: 'open',
      store: { kind: 'redis', status: 'healthy' },
      status: 'ok',
    });
  });

  it('is degraded when the store fails and the policy still answers, down under fail-closed', () => {
    const base = {
      name: 'p',
      pattern: 'rate-limit',
      storeKind: 'redis',
      storeStatus: 'degraded',
      closed: false,
    } as const;
    expect(policyHealth({ ...base, onStoreError: 'local' }).status).toBe('degraded');
    expect(policyHealth({ ...base, onStoreError: 'fail-open' }).status).toBe('degraded');
    expect(policyHealth({ ...base, onStoreError: 'fail-closed' }).status).toBe('down');
  });

  it('is down once closed, whatever the store says, with the state "closed"', () => {
    const entry = policyHealth({
      name: 'p',
      pattern: 'bulkhead',
      state: 'running',
      storeKind: 'memory',
      storeStatus: 'healthy',
      closed: true,
    });
    expect(entry.status).toBe('down');
    expect(entry.state).toBe('closed');
  });
});

describe('health()', () => {
  it('reports the worst status of its policies, each in the order given', () => {
    const a = fakePolicy({ name: 'a' });
    const b = fakePolicy({ name: 'b' });
    const c = fakePolicy({ name: 'c' });
    expect(health(a, b, c).status).toBe('ok');
    b.facts.storeStatus = 'degraded';
    const degraded = health(a, b, c);
    expect(degraded.status).toBe('degraded');
    expect(degraded.policies.map((p) => [p.name, p.status])).toEqual([
      ['a', 'ok'],
      ['b', 'degraded'],
      ['c', 'ok'],
    ]);
    c.facts.closed = true;
    expect(health(a, b, c).status).toBe('down');
    expect(health().status).toBe('ok');
  });

  it('accepts any object with a name and a storeStatus', () => {
    const report = health({ name: 'legacy', storeStatus: 'degraded', state: 'half-open' });
    expect(report.policies[0]).toMatchObject({
      name: 'legacy',
      pattern: 'unknown',
      state: 'half-open',
      status: 'degraded',
    });
  });

  it('names the argument it cannot read', () => {
    const ok = fakePolicy({ name: 'a' });
    expect(() => health(ok, { name: 'x' } as unknown as HealthSource)).toThrow(
      /argument 1 of `health\(\)`.*\{"name":"x"\}/,
    );
    expect(() => health(null as unknown as HealthSource)).toThrow(/argument 0.*null/);
  });
});

describe('healthResponse', () => {
  const report = (status: 'ok' | 'degraded' | 'down') => ({ status, policies: [] });

  it('answers liveness 200 whatever the status: a restart does not bring a store back', () => {
    for (const status of ['ok', 'degraded', 'down'] as const) {
      expect(healthResponse('liveness', report(status)).statusCode).toBe(200);
    }
  });

  it('answers readiness 503 when down, and when degraded only if asked', () => {
    expect(healthResponse('readiness', report('ok')).statusCode).toBe(200);
    expect(healthResponse('readiness', report('degraded')).statusCode).toBe(200);
    expect(healthResponse('readiness', report('down')).statusCode).toBe(503);
    expect(
      healthResponse('readiness', report('degraded'), { readyWhenDegraded: false }).statusCode,
    ).toBe(503);
  });

  it('names a probe it does not know', () => {
    expect(() => healthResponse('startup' as 'liveness', report('ok'))).toThrow(
      /`probe`.*"startup"/,
    );
  });
});

describe('healthHandler over node:http', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  async function serve(handler: ReturnType<typeof healthHandler>): Promise<string> {
    server = createServer((req, res) => {
      if (handler(req, res)) return;
      res.writeHead(418).end('app');
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('serves /healthz and /readyz with the report, and leaves other requests to the app', async () => {
    const breaker = fakePolicy({ name: 'payments', pattern: 'circuit-breaker', state: 'closed' });
    const base = await serve(healthHandler([breaker]));

    const ready = await fetch(`${base}/readyz?verbose=1`);
    expect(ready.status).toBe(200);
    expect(ready.headers.get('content-type')).toBe('application/json');
    expect(await ready.json()).toEqual({
      status: 'ok',
      policies: [
        {
          name: 'payments',
          pattern: 'circuit-breaker',
          state: 'closed',
          store: { kind: 'redis', status: 'healthy' },
          status: 'ok',
        },
      ],
    });

    breaker.facts.storeStatus = 'degraded';
    breaker.facts.onStoreError = 'fail-closed';
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(((await notReady.json()) as HealthReport).status).toBe('down');
    const live = await fetch(`${base}/healthz`);
    expect(live.status).toBe(200);
    expect(((await live.json()) as HealthReport).status).toBe('down');

    const app = await fetch(`${base}/orders`);
    expect(app.status).toBe(418);
    expect(await app.text()).toBe('app');
    const post = await fetch(`${base}/readyz`, { method: 'POST' });
    expect(post.status).toBe(418);
    await post.text();
  });

  it('reads the policies from a function on each probe, and honours custom paths', async () => {
    const policies: HealthSource[] = [];
    const base = await serve(
      healthHandler(() => policies, { livenessPath: '/live', readinessPath: '/ready' }),
    );
    expect(((await (await fetch(`${base}/ready`)).json()) as HealthReport).policies).toEqual([]);
    policies.push(fakePolicy({ name: 'late' }));
    expect(((await (await fetch(`${base}/ready`)).json()) as HealthReport).policies[0]?.name).toBe(
      'late',
    );
    const head = await fetch(`${base}/live`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const old = await fetch(`${base}/healthz`);
    expect(old.status).toBe(418);
    await old.text();
  });

  it('names bad options', () => {
    expect(() => healthHandler('x' as unknown as HealthSource[])).toThrow(/`policies`.*"x"/);
    expect(() => healthHandler([], { livenessPath: 'healthz' })).toThrow(
      /`livenessPath`.*"healthz"/,
    );
  });
});
