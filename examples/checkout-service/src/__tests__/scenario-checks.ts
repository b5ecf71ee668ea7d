/**
 * What every run of the scenario must show, whatever the stores and the replica count. Shared by
 * the memory and the Redis end-to-end tests.
 */
import { expect } from 'vitest';
import { DEFAULT_CONFIG, type ServiceConfig } from '../config.js';
import { fleetMoves } from '../demo/transitions.js';
import type { Fleet } from '../fleet.js';
import type { PhaseDurations } from '../scenario/phases.js';
import type { PhaseResult, ScenarioResult } from '../scenario/run.js';

/** Short phases: long enough for the breaker to open, probe and close (break: 500 ms). */
export const TEST_DURATIONS: PhaseDurations = {
  healthy: 2_000,
  outage: 3_000,
  recovery: 2_500,
  spike: 1_500,
};

/**
 * The service's settings in the tests: a short break, and a burst large enough that an ordinary
 * client (12 requests/s) is never refused even when a loaded machine stalls the load generator or
 * the service for over a second and its requests arrive together.
 */
export const TEST_SETTINGS = {
  ...DEFAULT_CONFIG,
  port: 0,
  breakDurationMs: 500,
  clientBurst: 25,
} as const satisfies Omit<ServiceConfig, 'paymentUrl'>;

function phase(result: ScenarioResult, name: string): PhaseResult {
  const found = result.phases.find((p) => p.phase.name === name);
  if (!found) throw new Error(`no phase ${name}`);
  return found;
}

const within = (at: number, p: PhaseResult) => at >= p.startedAt && at <= p.endedAt + 250;

export function expectHealthyPhase(result: ScenarioResult): void {
  const healthy = phase(result, 'healthy');
  expect(healthy.regular.outcomes.paid).toBeGreaterThan(0);
  expect(healthy.regular.outcomes.product).toBeGreaterThan(0);
  expect(healthy.regular.outcomes.limited).toBe(0);
  expect(healthy.regular.outcomes.error, healthy.errorSamples.join('\n')).toBe(0);
}

export function expectOutagePhase(result: ScenarioResult): void {
  const outage = phase(result, 'outage');
  // The breaker refused calls and its fallback took the orders.
  expect(outage.regular.outcomes.queued).toBeGreaterThan(0);
  // Only a charge already on its way when the outage began can still succeed.
  expect(outage.regular.outcomes.paid).toBeLessThan(outage.regular.outcomes.queued);
  // Once open, the upstream is spared: it sees far fewer calls than orders were placed.
  const orders = ['paid', 'queued', 'failed', 'shed'] as const;
  const placed = orders.reduce((sum, o) => sum + outage.regular.outcomes[o], 0);
  expect(outage.upstreamReceived).toBeLessThan(placed);
  const opened = fleetMoves(result.stats).find((m) => m.to === 'open' && within(m.at, outage));
  expect(opened, 'the breaker opened during the outage').toBeDefined();
}

export function expectRecoveryPhase(result: ScenarioResult): void {
  const recovery = phase(result, 'recovery');
  const closed = fleetMoves(result.stats).find(
    (m) => m.from === 'half-open' && m.to === 'closed' && within(m.at, recovery),
  );
  expect(closed, 'a half-open probe closed the breaker during the recovery').toBeDefined();
  expect(recovery.regular.outcomes.paid).toBeGreaterThan(0);
  for (const replica of phase(result, 'recovery').stats) expect(replica.breaker).toBe('closed');
}

export function expectSpikePhase(result: ScenarioResult): void {
  const spike = phase(result, 'spike');
  expect(spike.spike.outcomes.limited).toBeGreaterThan(0);
  expect(spike.regular.outcomes.limited).toBe(0);
  expect(spike.regular.outcomes.paid).toBeGreaterThan(0);
  const sample = spike.limitedSample!;
  expect(sample.status).toBe(429);
  expect(sample.rateLimitPolicy).toMatch(/^"clients";q=\d+;w=1$/);
  expect(sample.rateLimit).toMatch(/^"clients";r=0;t=\d+$/);
  expect(Number(sample.retryAfter)).toBeGreaterThanOrEqual(1);
}

export function expectCacheWarm(result: ScenarioResult): void {
  const hits = result.stats.reduce((sum, s) => sum + s.cache.hits, 0);
  const misses = result.stats.reduce((sum, s) => sum + s.cache.misses, 0);
  expect(hits).toBeGreaterThan(2 * misses);
}

/** `/metrics` of whichever replica answers carries the Breakwater series. */
export async function expectPrometheusMetrics(fleet: Fleet): Promise<string> {
  const response = await fetch(`${fleet.url}/metrics`, { headers: { 'x-client-id': 'scraper' } });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  const text = await response.text();
  for (const series of [
    'breakwater_circuit_breaker_state',
    'breakwater_circuit_breaker_calls',
    'breakwater_rate_limit_decisions',
    'breakwater_bulkhead_active',
    'breakwater_retry_attempts',
    'breakwater_cache_requests',
  ]) {
    expect(text, series).toMatch(new RegExp(`^${series}`, 'm'));
  }
  return text;
}

/** A paid order can be read back. */
export async function expectOrderStored(fleet: Fleet, result: ScenarioResult): Promise<void> {
  const id = phase(result, 'healthy').paidOrders[0];
  expect(id).toBeDefined();
  const response = await fetch(`${fleet.url}/orders/${id}`, {
    headers: { 'x-client-id': 'auditor' },
  });
  expect(response.status).toBe(200);
  const order = (await response.json()) as { id: string; status: string; version: number };
  expect(order).toMatchObject({ id, status: 'paid', version: 1 });
}

/**
 * Payments the upstream kept failing during the outage went to the dead-letter queue of the store
 * the service runs on, and the replay after the outage charged them, each once.
 */
export function expectDeadLettersReplayed(result: ScenarioResult): void {
  const outage = phase(result, 'outage');
  const failed = outage.regular.outcomes.failed + outage.spike.outcomes.failed;
  const replayPhase = result.phases.find((p) => p.deadLetterReplay !== undefined);
  expect(replayPhase?.phase.name, 'the replay ran after the first healthy phase').toBe('recovery');
  const replay = replayPhase!.deadLetterReplay!;
  // What the replicas had written when the replay ran (their stats are read right after it).
  const written = replayPhase!.stats.reduce((sum, s) => sum + s.deadLetters.written, 0);
  const lost = replayPhase!.stats.reduce((sum, s) => sum + s.deadLetters.lost, 0);
  expect(lost).toBe(0);
  // Every order answered "payment failed" during the outage was dead-lettered.
  expect(written).toBeGreaterThanOrEqual(failed);
  expect(written, 'the outage left payments to replay').toBeGreaterThan(0);
  // Each entry was replayed by one replica at most (claims), and the upstream was back.
  expect(replay.replayed + replay.failed).toBeLessThanOrEqual(written);
  expect(replay.replayed).toBeGreaterThan(0);
  // What was replayed left the queue: on Redis every replica sees the fleet's one queue.
  const sizes = replayPhase!.stats.map((s) => s.deadLetters.pending);
  expect(sizes).not.toContain(null);
  const pending =
    replayPhase!.stats[0]?.stateStore === 'redis'
      ? Math.max(...(sizes as number[]))
      : (sizes as number[]).reduce((a, b) => a + b, 0);
  expect(pending).toBeLessThanOrEqual(written - replay.replayed);
}
