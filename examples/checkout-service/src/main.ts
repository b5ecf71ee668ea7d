/**
 * `pnpm start` (in examples/checkout-service): the payment upstream on :4001 and the service on
 * :3000, until Ctrl-C. Environment: PORT, PAYMENT_URL (use an upstream of your own instead),
 * REPLICAS (node:cluster workers; share state with REDIS_URL), REDIS_URL, DATABASE_URL, and the
 * tuning variables listed in the README.
 */
import { configFromEnv } from './config.js';
import { startFleet } from './fleet.js';
import { startPaymentUpstream } from './payment-upstream.js';

const config = configFromEnv();
const replicas = Number(process.env.REPLICAS ?? 1);
const upstream =
  process.env.PAYMENT_URL === undefined
    ? await startPaymentUpstream({ port: Number(process.env.PAYMENT_PORT ?? 4001) })
    : undefined;
const fleet = await startFleet({
  replicas,
  config: { ...config, paymentUrl: upstream?.url ?? config.paymentUrl },
});
const url = fleet.url;
console.log(`checkout service: ${url} (${replicas} replica${replicas > 1 ? 's' : ''}, state in ${config.redisUrl ? 'Redis' : 'memory'}, orders in ${config.databaseUrl ? 'PostgreSQL' : 'memory'})
payment upstream: ${upstream?.url ?? config.paymentUrl}

  curl -i ${url}/products/7 -H 'x-client-id: alice'
  curl -i ${url}/orders -H 'x-client-id: alice' -d '{"productId":"7"}'
  curl ${url}/metrics
  curl -X POST ${upstream?.url ?? '<upstream>'}/admin -d '{"outage":true}'     # and back: {"outage":false}
`);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await fleet.close();
  await upstream?.close();
  process.exit(0);
}
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
