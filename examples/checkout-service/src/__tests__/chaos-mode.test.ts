/**
 * Chaos mode, memory stores, one replica in this process: chaos policies injected in front of the
 * payment upstream and the catalog, switched on `/admin/chaos` while the service runs, and the
 * service's own policies absorbing what they inject.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChaosPolicyView } from '../chaos-mode.js';
import { type Fleet, startFleet } from '../fleet.js';
import { type PaymentUpstream, startPaymentUpstream } from '../payment-upstream.js';
import type { ReplicaStats } from '../stats.js';
import { TEST_SETTINGS } from './scenario-checks.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('checkout service, chaos mode', () => {
  let upstream: PaymentUpstream;
  let fleet: Fleet;
  const CHAOS_LATENCY_MS = 120;
  const PRODUCT_TTL_MS = 150;

  beforeAll(async () => {
    upstream = await startPaymentUpstream();
    // The upstream itself never fails here: every failure the service sees is injected.
    upstream.update({ failureRate: 0 });
    fleet = await startFleet({
      replicas: 1,
      config: {
        ...TEST_SETTINGS,
        paymentUrl: upstream.url,
        chaos: 'armed',
        chaosRate: 1,
        chaosLatencyMs: CHAOS_LATENCY_MS,
        productTtlMs: PRODUCT_TTL_MS,
      },
    });
  }, 30_000);

  afterAll(async () => {
    await fleet?.close();
    await upstream?.close();
  });

  const headers = { 'x-client-id': 'chaos-test' };

  async function admin(body?: unknown): Promise<{
    status: number;
    error?: string;
    policies: Record<string, ChaosPolicyView>;
  }> {
    const response = await fetch(`${fleet.url}/admin/chaos`, {
      method: body === undefined ? 'GET' : 'POST',
      headers,
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const json = (await response.json()) as { error?: string; policies: ChaosPolicyView[] };
    return {
      status: response.status,
      ...(json.error !== undefined && { error: json.error }),
      policies: Object.fromEntries(json.policies.map((p) => [p.name, p])),
    };
  }

  async function order(): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(`${fleet.url}/orders`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ productId: '7' }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  const stats = async (): Promise<ReplicaStats> => (await fleet.stats())[0]!;

  it('starts armed: every chaos policy off, listed on /admin/chaos', async () => {
    const { status, policies } = await admin();
    expect(status).toBe(200);
    expect(Object.values(policies)).toEqual([
      { name: 'payments-fault', kind: 'fault', enabled: false, injectionRate: 1, injections: 0 },
      {
        name: 'payments-latency',
        kind: 'latency',
        enabled: false,
        injectionRate: 1,
        injections: 0,
      },
      { name: 'catalog-fault', kind: 'fault', enabled: false, injectionRate: 1, injections: 0 },
    ]);
    expect((await order()).status).toBe(201);
  });

  it('refuses a bad switch with 400, naming the option, and changes nothing', async () => {
    const bad = await admin({ enabled: true, injectionRate: 1.5 });
    expect(bad.status).toBe(400);
    expect(bad.error).toBe('Expected `injectionRate` in [0, 1], got 1.5');
    const unknown = await admin({ policies: { 'payments-timeout': { enabled: true } } });
    expect(unknown.status).toBe(400);
    expect(unknown.error).toMatch(/no chaos policy named "payments-timeout"/);
    for (const policy of Object.values((await admin()).policies)) {
      expect(policy).toMatchObject({ enabled: false, injectionRate: 1 });
    }
  });

  it('delays payments by the injected latency, and they are still paid', async () => {
    await admin({ policies: { 'payments-latency': { enabled: true } } });
    const started = performance.now();
    const paid = await order();
    const elapsed = performance.now() - started;
    await admin({ policies: { 'payments-latency': { enabled: false } } });
    expect(paid.status).toBe(201);
    expect(elapsed).toBeGreaterThanOrEqual(CHAOS_LATENCY_MS - 5);
    expect((await admin()).policies['payments-latency']?.injections).toBe(1);
  });

  it('serves products from the cache while every catalog load fails', async () => {
    expect((await fetch(`${fleet.url}/products/7`, { headers })).status).toBe(200);
    // Lets a refresh that answer started (the entry may have been stale) finish before chaos.
    await sleep(TEST_SETTINGS.catalogLatencyMs + 40);
    await admin({ policies: { 'catalog-fault': { enabled: true } } });
    const enabledAt = Date.now();
    await sleep(PRODUCT_TTL_MS + 50);
    // Stale now: what was loaded before is served while the refresh (and every later one) fails.
    for (let i = 0; i < 3; i++) {
      const again = await fetch(`${fleet.url}/products/7`, { headers });
      expect(again.status).toBe(200);
      const { loadedAt } = (await again.json()) as { loadedAt: string };
      expect(Date.parse(loadedAt)).toBeLessThan(enabledAt);
      await sleep(20);
    }
    await expect
      .poll(async () => (await admin()).policies['catalog-fault']?.injections)
      .toBeGreaterThan(0);
    // A product never loaded has nothing cached to fall back on: the fault reaches the client.
    expect((await fetch(`${fleet.url}/products/8`, { headers })).status).toBe(500);
    await admin({ policies: { 'catalog-fault': { enabled: false } } });
  });

  it('retries injected payment faults, opens the breaker and answers with its fallback, then recovers when switched off', async () => {
    const before = await stats();
    const received = upstream.counters.received;
    await admin({ policies: { 'payments-fault': { enabled: true } } });
    const answers: { status: number; body: Record<string, unknown> }[] = [];
    for (let i = 0; i < 14; i++) answers.push(await order());
    const during = await stats();

    // No charge reached the upstream: the chaos policy stood in for it.
    expect(upstream.counters.received).toBe(received);
    // The retry policy retried the injected 503s…
    expect(during.retries).toBeGreaterThan(before.retries);
    // …orders failed while the breaker counted them (502)…
    expect(answers[0]).toMatchObject({ status: 502, body: { error: 'payment failed' } });
    // …until it opened, and its fallback took the orders for later (202).
    expect(during.breaker).toBe('open');
    expect(answers.at(-1)).toMatchObject({
      status: 202,
      body: { message: 'payment queued for later' },
    });
    expect(answers.every((a) => a.status === 502 || a.status === 202)).toBe(true);
    expect(during.transitions.map((t) => t.to)).toContain('open');
    // Every 502 is an order whose calls all met an injected fault.
    const injected = (await admin()).policies['payments-fault']?.injections ?? 0;
    expect(injected).toBeGreaterThanOrEqual(answers.filter((a) => a.status === 502).length);

    // Switched off at run time: the next probe reaches the upstream and the breaker closes.
    await admin({ enabled: false });
    await sleep(TEST_SETTINGS.breakDurationMs + 100);
    await expect.poll(async () => (await order()).status, { timeout: 5_000 }).toBe(201);
    expect((await stats()).breaker).toBe('closed');
    expect(upstream.counters.received).toBeGreaterThan(received);
    expect((await admin()).policies['payments-fault']?.injections).toBe(injected);
  });

  it('does not serve /admin/chaos without chaos mode', async () => {
    const plain = await startFleet({
      replicas: 1,
      config: { ...TEST_SETTINGS, paymentUrl: upstream.url },
    });
    try {
      const response = await fetch(`${plain.url}/admin/chaos`, { headers });
      expect(response.status).toBe(404);
    } finally {
      await plain.close();
    }
  });
});
