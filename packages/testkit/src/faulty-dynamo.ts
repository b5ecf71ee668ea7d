import type { Server } from 'node:http';
import { closeClientNow, connectWithDefaults } from './default-clients.js';
import { createTestTable, startDynalite } from './dynamo-fixture.js';
import { startFaultProxy } from './fault-proxy.js';
import type { Fault, FaultState, FaultyDynamo } from './faulty-store.js';
import { SerialQueue, TrackedClients } from './faulty-store.js';
import { uniquePrefix } from './key-prefix.js';

/** Starts dynalite behind a fault proxy, with a table; see `startFaultyStore('dynamodb')`. */
export async function startFaultyDynamo(): Promise<FaultyDynamo> {
  const dynalite = await startDynalite();
  const upstream = new URL(dynalite.endpoint);
  const proxy = await startFaultProxy({ host: upstream.hostname, port: Number(upstream.port) });
  const endpoint = `http://127.0.0.1:${proxy.port}`;
  const prefix = uniquePrefix();
  const tableName = `bwfault-${prefix.slice(prefix.indexOf(':') + 1)}`;
  const address = { backend: 'dynamodb' as const, endpoint, tableName };
  try {
    const admin = connectWithDefaults(address);
    try {
      await createTestTable(admin, tableName);
    } finally {
      closeClientNow(admin);
    }
  } catch (error) {
    await proxy.close();
    await closeServer(dynalite.server);
    throw error;
  }

  const clients = new TrackedClients(address);
  const queue = new SerialQueue();
  let state: FaultState = 'healthy';
  let stopped = false;

  const assertRunning = () => {
    if (stopped) throw new Error(`The faulty dynalite at ${endpoint} is stopped`);
  };

  const restore = async () => {
    assertRunning();
    await proxy.restore();
    state = 'healthy';
  };

  const refuse = async () => {
    assertRunning();
    await proxy.refuse();
    state = 'refused';
  };

  const hang = async () => {
    assertRunning();
    if (state === 'refused') await proxy.restore();
    proxy.hang();
    state = 'hung';
  };

  return {
    backend: 'dynamodb',
    address,
    endpoint,
    tableName,
    get state() {
      return state;
    },
    pids: [],
    refuse: () => queue.run(refuse),
    hang: () => queue.run(hang),
    inject: (fault: Fault) => queue.run(fault === 'refuse' ? refuse : hang),
    restore: () => queue.run(restore),
    // The SDK opens connections per request as needed; it has no reconnect backoff to wait out.
    reconnectBoundMs: () => 0,
    clientLingerMs: () => 0,
    newClient: () => {
      assertRunning();
      return clients.create();
    },
    stop: () =>
      queue.run(async () => {
        if (stopped) return;
        stopped = true;
        clients.closeAll();
        await proxy.close();
        await closeServer(dynalite.server);
      }),
  };
}

function closeServer(server: Server): Promise<void> {
  // Keep-alive connections of destroyed clients may still be open; do not wait for them to idle.
  server.closeAllConnections();
  return new Promise((resolve, reject) =>
    server.close((error) => (error ? reject(error) : resolve())),
  );
}
