/** A cluster worker: one replica of the service, configured by the primary (fleet.ts). */
import type { ServiceConfig } from './config.js';
import { type CheckoutService, startCheckoutService } from './service.js';
import type { FromWorker, ToWorker } from './worker-messages.js';

function send(message: FromWorker): void {
  process.send?.(message);
}

const config = JSON.parse(process.env.CHECKOUT_CONFIG ?? 'null') as ServiceConfig | null;
if (config === null || process.send === undefined) {
  console.error('worker.ts is started by fleet.ts (node:cluster), not directly');
  process.exit(2);
}

let service: CheckoutService;
try {
  service = await startCheckoutService(config);
} catch (error) {
  send({
    type: 'failed',
    error: error instanceof Error ? (error.stack ?? error.message) : String(error),
  });
  process.exit(1);
}

let closing = false;
async function shutdown(): Promise<void> {
  if (closing) return;
  closing = true;
  await service.close().catch(() => {});
  process.exit(0);
}

process.on('message', (message: ToWorker) => {
  if (message.type === 'close') void shutdown();
  else if (message.type === 'stats') {
    service.stats().then(
      (stats) => send({ type: 'stats', id: message.id, stats }),
      () => {},
    );
  }
});
// The primary went away: do not linger.
process.on('disconnect', () => void shutdown());
process.on('SIGTERM', () => void shutdown());
send({ type: 'ready', url: service.url });
