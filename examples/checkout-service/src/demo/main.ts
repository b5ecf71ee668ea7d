/**
 * `pnpm demo`: starts the payment upstream and the checkout service, drives load through four
 * phases (healthy → payment outage → recovery → a spike from one client) with a live view, and
 * ends with a summary.
 *
 * - Memory stores and one replica by default.
 * - `REDIS_URL=redis://127.0.0.1:6379 pnpm demo`: three replicas (node:cluster) share every
 *   pattern's state through Redis; watch them open, probe and close as one.
 * - `DATABASE_URL=postgres://…`: order records go to PostgreSQL.
 * - `DEMO_REPLICAS=n` overrides the replica count, `DEMO_SCALE=0.5` halves every phase.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { configFromEnv, type ServiceConfig } from '../config.js';
import { type Fleet, startFleet } from '../fleet.js';
import { startPaymentUpstream } from '../payment-upstream.js';
import { DEMO_DURATIONS, type PhaseDurations, phases } from '../scenario/phases.js';
import { runScenario, warmUp } from '../scenario/run.js';
import { style } from './format.js';
import { summary } from './summary.js';
import { type LiveView, liveView } from './view.js';

const out = process.stdout;
const s = style(out.isTTY === true && process.env.NO_COLOR === undefined);

function scaled(scale: number): PhaseDurations {
  const d = { ...DEMO_DURATIONS };
  for (const key of Object.keys(d) as (keyof PhaseDurations)[]) d[key] = Math.round(d[key] * scale);
  return d;
}

/** Deletes the demo's keys, so runs never see each other's state. */
async function deleteKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

async function main(): Promise<void> {
  const env = configFromEnv();
  const replicas = Number(process.env.DEMO_REPLICAS ?? (env.redisUrl ? 3 : 1));
  const scale = Number(process.env.DEMO_SCALE ?? 1);
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 16) {
    throw new RangeError(`Expected DEMO_REPLICAS to be an integer in [1, 16], got ${replicas}`);
  }
  if (!(scale > 0 && scale <= 10)) {
    throw new RangeError(`Expected DEMO_SCALE to be a number in (0, 10], got ${scale}`);
  }
  let fleet: Fleet | undefined;
  let view: LiveView | undefined;
  let stopped: Promise<void> | undefined;
  const upstream = await startPaymentUpstream();
  const config: ServiceConfig = {
    ...env,
    port: 0,
    paymentUrl: upstream.url,
    redisPrefix: `checkout-demo:${randomUUID().slice(0, 8)}`,
  };

  out.write(
    `${s.bold('Breakwater checkout demo')}: ${replicas} replica${replicas > 1 ? 's' : ''}, ` +
      `${config.redisUrl ? `state in Redis (${config.redisUrl})` : 'memory stores'}, ` +
      `orders in ${config.databaseUrl ? 'PostgreSQL' : 'memory'}\n`,
  );
  const stop = () => {
    stopped ??= (async () => {
      view?.stop();
      await fleet?.close();
      await upstream.close();
      if (config.redisUrl) await deleteKeys(config.redisUrl, config.redisPrefix).catch(() => {});
    })();
    return stopped;
  };
  process.once('SIGINT', () => {
    out.write('\ninterrupted: stopping the replicas\n');
    const exit = () => process.exit(130);
    setTimeout(exit, 5_000).unref();
    stop().then(exit, exit);
  });

  fleet = await startFleet({ replicas, config });
  out.write(
    `service ${fleet.url}  (try: curl ${fleet.url}/metrics)   payment upstream ${upstream.url}\n\n`,
  );

  out.write('warming up…\n');
  await warmUp(fleet);
  const live = liveView(out, s);
  view = live;
  let result: Awaited<ReturnType<typeof runScenario>>;
  try {
    result = await runScenario({
      fleet,
      upstream,
      phases: phases(scaled(scale)),
      onPhaseStart: (phase, index) => live.phaseStart(phase, index, 4),
      onTick: (progress) => live.tick(progress),
      onPhaseEnd: (phaseResult, index) => live.phaseEnd(phaseResult, index),
    });
  } finally {
    await stop();
  }
  out.write(`\n${s.bold('Summary')}\n\n${summary(result, s, live.maxLagMs).join('\n')}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
