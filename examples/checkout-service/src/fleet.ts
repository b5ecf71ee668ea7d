/**
 * Runs the service as one replica in this process, or as several replicas (node:cluster workers)
 * sharing one port, as a fleet behind a load balancer would. The primary asks each worker for its
 * stats over the cluster's IPC channel.
 */
import cluster, { type Worker } from 'node:cluster';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { ServiceConfig } from './config.js';
import { startCheckoutService } from './service.js';
import type { ReplicaStats } from './stats.js';
import type { FromWorker, ToWorker } from './worker-messages.js';

export interface FleetOptions {
  /** 1: the service runs in this process. More: that many cluster workers share the port. */
  replicas: number;
  /** Service configuration; `replica` is set per worker. With several replicas port 0 picks one. */
  config: ServiceConfig;
  /** Node flags of the workers (a TypeScript loader); default: this process's `execArgv`. */
  execArgv?: string[];
  /** How long a worker may take to start, in ms. */
  startTimeoutMs?: number;
}

export interface Fleet {
  readonly url: string;
  readonly replicas: number;
  /** Every replica's stats (a replica that does not answer within 2 s is left out). */
  stats(): Promise<ReplicaStats[]>;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export async function startFleet(options: FleetOptions): Promise<Fleet> {
  if (options.replicas <= 1) {
    const service = await startCheckoutService({ ...options.config, replica: 1 });
    return {
      url: service.url,
      replicas: 1,
      stats: async () => [await service.stats()],
      close: () => service.close(),
    };
  }
  if (!cluster.isPrimary) throw new Error('startFleet() with replicas > 1 runs in the primary');
  const port = options.config.port === 0 ? await freePort() : options.config.port;
  cluster.setupPrimary({
    exec: fileURLToPath(new URL('./worker.ts', import.meta.url)),
    execArgv: options.execArgv ?? process.execArgv,
  });

  const workers: Worker[] = [];
  let nextRequest = 0;
  const pending = new Map<number, (stats: ReplicaStats) => void>();
  const onMessage = (message: FromWorker) => {
    if (message.type !== 'stats') return;
    pending.get(message.id)?.(message.stats);
    pending.delete(message.id);
  };

  const started = (worker: Worker) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('a replica did not start in time')),
        options.startTimeoutMs ?? 30_000,
      );
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'ready') {
          clearTimeout(timer);
          resolve();
        } else if (message.type === 'failed') {
          clearTimeout(timer);
          reject(new Error(`replica failed to start: ${message.error}`));
        }
      });
      worker.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`replica exited with code ${code} while starting`));
      });
    });

  const closeAll = async () => {
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.isDead()) return resolve();
            const kill = setTimeout(() => worker.process.kill('SIGKILL'), 5_000);
            worker.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            const message: ToWorker = { type: 'close' };
            if (worker.isConnected()) worker.send(message);
            else worker.process.kill('SIGTERM');
          }),
      ),
    );
  };

  try {
    for (let replica = 1; replica <= options.replicas; replica++) {
      const config: ServiceConfig = { ...options.config, port, replica };
      const worker = cluster.fork({ CHECKOUT_CONFIG: JSON.stringify(config) });
      worker.on('message', onMessage);
      workers.push(worker);
    }
    await Promise.all(workers.map(started));
  } catch (error) {
    await closeAll();
    throw error;
  }

  const askStats = (worker: Worker) =>
    new Promise<ReplicaStats | undefined>((resolve) => {
      if (!worker.isConnected()) return resolve(undefined);
      const id = nextRequest++;
      const timer = setTimeout(() => {
        pending.delete(id);
        resolve(undefined);
      }, 2_000);
      pending.set(id, (stats) => {
        clearTimeout(timer);
        resolve(stats);
      });
      const message: ToWorker = { type: 'stats', id };
      worker.send(message);
    });

  return {
    url: `http://127.0.0.1:${port}`,
    replicas: options.replicas,
    async stats() {
      const all = await Promise.all(workers.map(askStats));
      return all.filter((s): s is ReplicaStats => s !== undefined);
    },
    close: closeAll,
  };
}
