/** A cluster worker: one replica of the service, configured by the primary (fleet.ts). */
import type { ServiceConfig } from './config.js';
import { type CheckoutService, startCheckoutService } from './service.js';
import type { FromWorker, ToWorker } from './worker-messages.js';

function send(message: FromWorker): void {
  if (process.connected) process.send?.(message);
}

const config = JSON.parse(process.env.CHECKOUT_CONFIG ?? 'null') as ServiceConfig | null;
if (config === null || process.send === undefined) {
  console.error('worker.ts is started by fleet.ts (node:cluster), not directly');
  process.exit(2);
}

let service: CheckoutService | undefined;
let closing = false;
async function shutdown(): Promise<void> {
  if (closing) return;
  closing = true;
  await service?.close().catch(() => {});
  process.exit(0);
}

// Registered before the service starts: a primary that goes away during start-up (Ctrl-C, a
// crash) must not leave this replica behind.
process.on('disconnect', () => void shutdown());
process.on('SIGTERM', () => void shutdown());
// Ctrl-C reaches the whole process group: let the primary stop the replicas in order.
process.on('SIGINT', () => {});
process.on('message', (message: ToWorker) => {
  if (message.type === 'close') void shutdown();
  else if (message.type === 'stats' && service !== undefined) {
    service.stats().then(
      (stats) => send({ type: 'stats', id: message.id, stats }),
      () => {},
    );
  }
});

try {
  service = await startCheckoutService(config);
} catch (error) {
  send({
    type: 'failed',
    error: error instanceof Error ? (error.stack ?? error.message) : String(error),
  });
  process.exit(1);
}
if (closing) await service.close().catch(() => {});
else send({ type: 'ready', url: service.url });
