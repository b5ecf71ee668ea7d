/**
 * Drives load through the phases and records what the clients saw, phase by phase, together with
 * what the replicas report about themselves. Open-loop load: requests are sent on a schedule,
 * whatever the answers, as real users do.
 */
import type { Fleet } from '../fleet.js';
import type { PaymentUpstream } from '../payment-upstream.js';
import type { DeadLetterReplay, Outcome, ReplicaStats } from '../stats.js';
import type { Phase } from './phases.js';

export interface LoadOptions {
  /** Ordinary clients (`client-1`, …); the last one sends its orders as `x-priority: batch`. */
  clients: number;
  /** Requests per second of each ordinary client. */
  ratePerClient: number;
  /** Requests per second of the spiking client during a spike phase. */
  spikeRate: number;
  /** Share of requests that are orders (the rest read products). */
  orderShare: number;
  /** Requests in flight beyond which the generator skips a send (protects the machine). */
  maxInFlight: number;
}

export const DEFAULT_LOAD: Readonly<LoadOptions> = {
  clients: 6,
  ratePerClient: 12,
  spikeRate: 150,
  orderShare: 0.4,
  maxInFlight: 300,
};

export const SPIKE_CLIENT = 'client-spike';

/** Headers of one 429 answer, kept as evidence. */
export interface LimitedSample {
  status: number;
  rateLimit: string | null;
  rateLimitPolicy: string | null;
  retryAfter: string | null;
}

export interface ClientTally {
  sent: number;
  outcomes: Record<Outcome, number>;
  /** When the last answer other than 429 arrived (epoch ms; 0 for none). */
  lastAdmittedAt: number;
}

export interface PhaseResult {
  phase: Phase;
  startedAt: number;
  endedAt: number;
  /** Ordinary clients, together (the batch client included). */
  regular: ClientTally;
  /** The ordinary client whose orders run in the bulkhead's `batch` class. */
  batch: ClientTally;
  /** The spiking client. */
  spike: ClientTally;
  /** Sends skipped because too many requests were in flight. */
  skipped: number;
  /** What the first few `error` outcomes were (status or network error), for diagnosis. */
  errorSamples: string[];
  /** Response times of the orders sent in this phase, in ms. */
  orderLatenciesMs: number[];
  /** Ids of orders that were paid in this phase (a few, to look up). */
  paidOrders: string[];
  limitedSample?: LimitedSample;
  /** The replicas' stats when the phase ended. */
  stats: ReplicaStats[];
  /** Charges the upstream received during the phase. */
  upstreamReceived: number;
  /**
   * The dead-letter replay run when this phase ended: the first phase with a healthy upstream
   * after an outage. Every replica was asked at once; the sums are the fleet's.
   */
  deadLetterReplay?: DeadLetterReplay;
}

/**
 * Asks the fleet to replay the payments' dead letters, with as many concurrent requests as there
 * are replicas (they land on different replicas; the queue's claims keep each entry to one).
 */
export async function replayDeadLetters(fleet: Fleet): Promise<DeadLetterReplay> {
  const answers = await Promise.all(
    Array.from({ length: fleet.replicas }, async () => {
      const response = await fetch(`${fleet.url}/dead-letters/replay`, { method: 'POST' });
      if (!response.ok) {
        throw new Error(`dead-letter replay: ${response.status} ${await response.text()}`);
      }
      return (await response.json()) as DeadLetterReplay;
    }),
  );
  return answers.reduce(
    (sum, answer) => ({
      replayed: sum.replayed + answer.replayed,
      failed: sum.failed + answer.failed,
      skipped: sum.skipped + answer.skipped,
    }),
    { replayed: 0, failed: 0, skipped: 0 },
  );
}

/** The q-quantile (0…1) of some values, 0 for none. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export interface Progress {
  phase: Phase;
  phaseIndex: number;
  phaseCount: number;
  /** 0…1 over the whole scenario. */
  fraction: number;
  elapsedMs: number;
  startedAt: number;
  /** Totals over every phase so far. */
  regular: ClientTally;
  spike: ClientTally;
  stats: ReplicaStats[];
}

export interface ScenarioOptions {
  fleet: Fleet;
  upstream: PaymentUpstream;
  phases: Phase[];
  load?: Partial<LoadOptions>;
  /** Called every `tickMs` with the progress and fresh stats. */
  onTick?: (progress: Progress) => void;
  onPhaseStart?: (phase: Phase, index: number) => void;
  onPhaseEnd?: (result: PhaseResult, index: number) => void;
  tickMs?: number;
}

export interface ScenarioResult {
  startedAt: number;
  endedAt: number;
  phases: PhaseResult[];
  /** The replicas' stats at the end. */
  stats: ReplicaStats[];
}

function emptyTally(): ClientTally {
  return {
    sent: 0,
    outcomes: { paid: 0, queued: 0, failed: 0, shed: 0, limited: 0, product: 0, error: 0 },
    lastAdmittedAt: 0,
  };
}

function outcomeOf(method: string, status: number): Outcome {
  if (status === 429) return 'limited';
  if (method === 'GET') return status === 200 || status === 404 ? 'product' : 'error';
  switch (status) {
    case 201:
      return 'paid';
    case 202:
      return 'queued';
    case 502:
      return 'failed';
    case 503:
      return 'shed';
    default:
      return 'error';
  }
}

/** Product ids skewed towards a hot set, as real catalog traffic is. */
function productId(): string {
  const hot = Math.random() < 0.8;
  return String(hot ? 1 + Math.floor(Math.random() * 20) : 21 + Math.floor(Math.random() * 60));
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Sends a few rounds of requests, not counted anywhere, until a round answers quickly: a fresh
 * replica compiles its code and opens its connections on its first requests, which would
 * otherwise make the first phase look like an outage. Reads product 100 only, so the hot part of
 * the catalogue stays cold for the first phase.
 */
export async function warmUp(fleet: Fleet, options: { maxMs?: number } = {}): Promise<void> {
  const until = Date.now() + (options.maxMs ?? 5_000);
  const concurrency = 2 * fleet.replicas;
  for (let round = 0; Date.now() < until; round++) {
    const started = Date.now();
    await Promise.all(
      Array.from({ length: concurrency }, async (_, i) => {
        const headers = {
          'x-client-id': `warm-up-${round}-${i}`,
          'content-type': 'application/json',
        };
        const response =
          i % 2 === 0
            ? await fetch(`${fleet.url}/products/100`, { headers })
            : await fetch(`${fleet.url}/orders`, {
                method: 'POST',
                headers,
                body: JSON.stringify({ productId: '100' }),
              });
        await response.body?.cancel();
      }),
    );
    if (round >= 3 && Date.now() - started < 60) return;
  }
}

export async function runScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const load: LoadOptions = { ...DEFAULT_LOAD, ...options.load };
  const { fleet, upstream } = options;
  const tickMs = options.tickMs ?? 250;
  const totalMs = options.phases.reduce((sum, p) => sum + p.durationMs, 0);
  const results: PhaseResult[] = [];
  const totals = { regular: emptyTally(), spike: emptyTally() };
  let inFlight = 0;
  const inFlightDone = new Set<() => void>();
  /** Waits (at most 3 s) until no request is in flight. */
  const drainInFlight = async (): Promise<void> => {
    if (inFlight === 0) return;
    await Promise.race([new Promise<void>((resolve) => inFlightDone.add(resolve)), sleep(3_000)]);
  };

  const startedAt = Date.now();
  let current: PhaseResult | undefined;

  function send(client: string, batch: boolean): void {
    const phase = current!;
    const tally = client === SPIKE_CLIENT ? phase.spike : phase.regular;
    const total = client === SPIKE_CLIENT ? totals.spike : totals.regular;
    if (inFlight >= load.maxInFlight) {
      phase.skipped++;
      return;
    }
    tally.sent++;
    total.sent++;
    if (batch) phase.batch.sent++;
    const isOrder = Math.random() < load.orderShare;
    const method = isOrder ? 'POST' : 'GET';
    const headers: Record<string, string> = { 'x-client-id': client };
    if (batch) headers['x-priority'] = 'batch';
    const request = isOrder
      ? fetch(`${fleet.url}/orders`, {
          method,
          headers: { ...headers, 'content-type': 'application/json' },
          body: JSON.stringify({ productId: productId(), quantity: 1 }),
        })
      : fetch(`${fleet.url}/products/${productId()}`, { headers });
    inFlight++;
    const sentAt = performance.now();
    request
      .then(async (response) => {
        if (isOrder) phase.orderLatenciesMs.push(performance.now() - sentAt);
        const outcome = outcomeOf(method, response.status);
        if (outcome === 'limited' && phase.limitedSample === undefined) {
          phase.limitedSample = {
            status: response.status,
            rateLimit: response.headers.get('ratelimit'),
            rateLimitPolicy: response.headers.get('ratelimit-policy'),
            retryAfter: response.headers.get('retry-after'),
          };
        }
        if (outcome === 'paid' && phase.paidOrders.length < 5) {
          const body = (await response.json()) as { order: { id: string } };
          phase.paidOrders.push(body.order.id);
        } else if (outcome === 'error' && phase.errorSamples.length < 5) {
          phase.errorSamples.push(`${method} ${response.status} ${await response.text()}`);
        } else {
          await response.body?.cancel();
        }
        tally.outcomes[outcome]++;
        total.outcomes[outcome]++;
        if (outcome !== 'limited') tally.lastAdmittedAt = Date.now();
        if (batch) phase.batch.outcomes[outcome]++;
      })
      .catch((error: unknown) => {
        if (phase.errorSamples.length < 5) {
          const cause = (error as { cause?: { code?: string; message?: string } }).cause;
          phase.errorSamples.push(
            `${method} ${String(error)} ${cause?.code ?? cause?.message ?? ''}`,
          );
        }
        tally.outcomes.error++;
        total.outcomes.error++;
      })
      .finally(() => {
        inFlight--;
        if (inFlight === 0) {
          for (const done of inFlightDone) done();
          inFlightDone.clear();
        }
      });
  }

  const tick = async (phase: Phase, index: number) => {
    if (!options.onTick) return;
    const stats = await fleet.stats();
    const elapsedMs = Date.now() - startedAt;
    options.onTick({
      phase,
      phaseIndex: index,
      phaseCount: options.phases.length,
      fraction: Math.min(1, elapsedMs / totalMs),
      elapsedMs,
      startedAt,
      regular: totals.regular,
      spike: totals.spike,
      stats,
    });
  };

  for (const [index, phase] of options.phases.entries()) {
    upstream.update(phase.upstream);
    const upstreamBefore = upstream.counters.received;
    current = {
      phase,
      startedAt: Date.now(),
      endedAt: 0,
      regular: emptyTally(),
      batch: emptyTally(),
      spike: emptyTally(),
      skipped: 0,
      errorSamples: [],
      orderLatenciesMs: [],
      paidOrders: [],
      stats: [],
      upstreamReceived: 0,
    };
    options.onPhaseStart?.(phase, index);

    // Send on a 20 ms grid, carrying fractions over, so rates hold at any setting.
    const stepMs = 20;
    const owed = new Map<string, number>();
    const clients = Array.from({ length: load.clients }, (_, i) => `client-${i + 1}`);
    const phaseEnd = current.startedAt + phase.durationMs;
    let nextTick = Date.now() + tickMs;
    let last = Date.now();
    while (Date.now() < phaseEnd) {
      await sleep(stepMs);
      const now = Date.now();
      const seconds = (now - last) / 1000;
      last = now;
      const rates: [string, number][] = clients.map((c) => [c, load.ratePerClient]);
      if (phase.spike) rates.push([SPIKE_CLIENT, load.spikeRate]);
      for (const [client, rate] of rates) {
        // After a stall, send at most a quarter second's worth at once: real clients that were
        // held up do not all fire in the same millisecond either.
        let due = Math.min((owed.get(client) ?? 0) + rate * seconds, Math.max(1, rate / 4));
        for (; due >= 1; due--) send(client, client === clients.at(-1));
        owed.set(client, due);
      }
      if (now >= nextTick) {
        nextTick = now + tickMs;
        void tick(phase, index);
      }
    }
    current.endedAt = Date.now();
    current.upstreamReceived = upstream.counters.received - upstreamBefore;
    // The upstream has been back for a whole phase: charge what the outage left in the queue.
    const afterOutage = results.some((r) => r.phase.upstream.outage === true);
    if (afterOutage && !phase.upstream.outage && !results.some((r) => r.deadLetterReplay)) {
      // A request still in flight may yet dead-letter a payment: let them finish first, so that
      // the replicas' counts of what they wrote (read right after) cover what the replay finds.
      await drainInFlight();
      current.deadLetterReplay = await replayDeadLetters(fleet);
    }
    current.stats = await fleet.stats();
    results.push(current);
    options.onPhaseEnd?.(current, index);
  }

  // Let the last requests finish (bounded), so the totals add up.
  await drainInFlight();
  return { startedAt, endedAt: Date.now(), phases: results, stats: await fleet.stats() };
}
