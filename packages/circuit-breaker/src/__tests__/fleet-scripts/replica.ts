/**
 * One replica of a circuit-breaker fleet test. It calls a simulated upstream in a loop through a
 * breaker on the shared store and reports what it saw. The scenario comes from the environment:
 *
 * Each replica says "ready" once warmed up, then waits for the file GO_FILE, where the test writes
 * the plan `{ failAt, recoverAt, runUntil }` (epoch ms) once the whole fleet is ready.
 *
 * - SCENARIO=trip: the upstream fails from `failAt` on; reports when this replica saw the breaker
 *   open.
 * - SCENARIO=probes: the upstream fails until `recoverAt`, then answers slowly; reports the
 *   intervals of the calls it ran as half-open probes.
 * - SCENARIO=quorum: the upstream fails only for the replicas listed in BAD_REPLICAS; reports the
 *   states this replica saw.
 * - SCENARIO=hold-probe: trips the breaker, waits for the break to end, starts a probe that never
 *   ends and says "probing" (the test then kills it).
 */
import { existsSync, readFileSync } from 'node:fs';
import { replicaIdentity, reportMessage, reportResult } from '@breakwater/testkit/replica';
import { circuitBreaker } from '../../index.js';
import { storeFromEnv } from './store-from-env.js';

const env = process.env;
const { index } = replicaIdentity();
const scenario = env.SCENARIO!;
const wallNow = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const { store, close } = await storeFromEnv();
const breaker = circuitBreaker({
  name: 'upstream',
  store,
  syncIntervalMs: Number(env.SYNC_MS ?? 100),
  failureRatio: 0.5,
  minimumThroughput: 20,
  consecutiveFailures: scenario === 'hold-probe' ? 1 : undefined,
  breakDurationMs: Number(env.BREAK_MS ?? 300),
  halfOpen: {
    maxCalls: Number(env.MAX_PROBES ?? 1),
    successThreshold: Number(env.SUCCESS_THRESHOLD ?? 1),
    probeLeaseMs: Number(env.LEASE_MS ?? 30_000),
  },
  ...(env.QUORUM ? { openQuorum: { replicas: Number(env.QUORUM), windowMs: 10_000 } } : {}),
});

const seen: { to: string; at: number }[] = [];
breaker.onStateChange(({ to }) => seen.push({ to, at: wallNow() }));

/** Times the test hands out once every replica is ready: `{ failAt, recoverAt, runUntil }`. */
let plan = { failAt: 0, recoverAt: 0, runUntil: 0 };

const upstreamFails = (): boolean => {
  if (scenario === 'hold-probe') return true;
  if (plan.runUntil === 0) return false; // the warm-up call
  const now = Date.now();
  if (scenario === 'trip') return now >= plan.failAt;
  if (scenario === 'probes') return now < plan.recoverAt;
  if (scenario === 'quorum') return (env.BAD_REPLICAS ?? '').split(',').includes(String(index));
  return true;
};

const probes: [number, number][] = [];
let calls = 0;
let rejected = 0;

async function call(): Promise<void> {
  calls++;
  await breaker
    .execute(async () => {
      const probe = breaker.state === 'half-open';
      const started = wallNow();
      if (upstreamFails()) throw new Error('upstream failed');
      if (scenario === 'probes') await sleep(40);
      if (probe) probes.push([started, wallNow()]);
      return 'ok';
    })
    .catch((error: Error) => {
      if (error.name === 'BrokenCircuitError') rejected++;
    });
}

if (scenario === 'hold-probe') {
  for (let i = 0; i < 3 && breaker.state === 'closed'; i++) await call();
  while (breaker.state === 'closed') await sleep(5);
  await sleep(Number(env.BREAK_MS ?? 300) + 20);
  void breaker.execute(() => {
    void reportMessage(`probing ${breaker.state}`);
    return new Promise(() => {});
  });
  await new Promise(() => {});
}

// Warm up (connection, subscription), then wait for the test's go: the plan file.
await call();
await reportMessage('ready');
while (!existsSync(env.GO_FILE!)) await sleep(5);
plan = JSON.parse(readFileSync(env.GO_FILE!, 'utf8')) as typeof plan;
while (Date.now() < plan.runUntil) {
  await call();
  await sleep(4);
}
await reportResult({ index, calls, rejected, seen, probes, finalState: breaker.state });
await breaker.close();
await close();
