/**
 * The shared resource a fleet's guarded calls act on: a TCP server in the nemesis process that
 * records every action, with the caller's fencing token and call, on one clock (its own), in the
 * history. The checker judges from it how many calls were acting at once, and whether a holder
 * acted on a lease it had lost.
 *
 * Why it records rather than refuses: a fencing token orders the holders of one lock, but the
 * permits of a counting semaphore (a bulkhead of `maxConcurrent` > 1) are held side by side, so a
 * lower token does not mean a stale holder. Judging needs the whole history, which the checker has.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import type { HistoryRecorder } from './history.js';

/** Environment variable carrying the resource's port to the replicas. */
export const RESOURCE_PORT_ENV = 'BREAKWATER_NEMESIS_RESOURCE_PORT';

/** One action on the resource, as a replica sends it. */
export interface ResourceAction {
  /** The replica's index. */
  replica: number;
  /** The replica process's id (a call is `pid:call`). */
  pid: number;
  /** The call's id in the replica's history. */
  call: number;
  /** The fencing token the call holds, if any. */
  token: number | undefined;
  /** What the action is, when a scenario tells kinds apart (e.g. `probe-start`). */
  kind?: string;
  /** The caller's store status as it acted (`healthy` or `degraded`), when it matters. */
  storeStatus?: string;
  /** The key the action is about (a cache load's key), when there is one. */
  key?: string;
  /** The version the action carries (a write-behind row persisted), when there is one. */
  version?: number;
  /**
   * Whether the action ran under the fleet's lease or alone: a cache load's last store call
   * (`acquired`, `lease-failed`, … see recording-cache-store.ts), a breaker probe's `store` or
   * `local` (see recording-breaker-store.ts).
   */
  lease?: string;
}

/**
 * A call between its `<name>-start` and `<name>-end` actions (a cache load, a half-open probe):
 * what it said at its start.
 */
export interface OpenAction {
  /** The replica's index. */
  replica: number;
  /** The call, as `pid:call`. */
  call: string;
  /** The start's kind, e.g. `load-start`. */
  kind: string;
  /** The key, when the action has one. */
  key?: string;
  /**
   * The lease it ran under (`acquired`: a cache load under the fleet lease; `store`: a probe the
   * store granted; …).
   */
  lease?: string;
}

/** The resource server. */
export interface SharedResource {
  readonly port: number;
  /** Actions recorded so far. */
  readonly actions: number;
  /** The replica that acted last (a holder of a permit, most likely), if any did. */
  readonly lastActor: number | undefined;
  /** The calls started and not yet ended right now (oldest first). */
  open(): OpenAction[];
  close(): Promise<void>;
}

/** Starts the resource on a free port of 127.0.0.1, recording each action as an `act` event. */
export async function startSharedResource(history: HistoryRecorder): Promise<SharedResource> {
  const sockets = new Set<Socket>();
  let actions = 0;
  let lastActor: number | undefined;
  // Calls between their `-start` and `-end` actions, by `pid:call`.
  const opened = new Map<string, OpenAction>();
  const server: Server = createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const lines = createInterface({ input: socket, crlfDelay: Number.POSITIVE_INFINITY });
    // readline re-emits its input's errors: a replica killed mid-write resets its connection.
    lines.on('error', () => socket.destroy());
    lines.on('line', (line) => {
      let action: ResourceAction;
      try {
        action = JSON.parse(line) as ResourceAction;
      } catch {
        socket.destroy();
        return;
      }
      actions++;
      lastActor = action.replica;
      const value: Record<string, unknown> = {
        replica: action.replica,
        call: `${action.pid}:${action.call}`,
      };
      if (action.kind !== undefined) value.kind = action.kind;
      if (action.storeStatus !== undefined) value.storeStatus = action.storeStatus;
      if (action.key !== undefined) value.key = action.key;
      if (action.version !== undefined) value.version = action.version;
      if (action.lease !== undefined) value.lease = action.lease;
      history.info('act', value, action.token);
      const call = value.call as string;
      if (action.kind?.endsWith('-start')) {
        opened.set(call, {
          replica: action.replica,
          call,
          kind: action.kind,
          ...(action.key === undefined ? {} : { key: action.key }),
          ...(action.lease === undefined ? {} : { lease: action.lease }),
        });
      } else if (action.kind?.endsWith('-end')) {
        opened.delete(call);
      }
      socket.write('ok\n');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1' }, () => resolve());
  });
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('resource has no address');
  return {
    port: address.port,
    get actions() {
      return actions;
    },
    get lastActor() {
      return lastActor;
    },
    open() {
      return [...opened.values()];
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A replica's connection to the resource: `act()` resolves once the action is recorded. */
export interface ResourceClient {
  act(action: ResourceAction): Promise<void>;
  close(): void;
}

/** Connects to the resource named by {@link RESOURCE_PORT_ENV}. */
export async function connectSharedResource(): Promise<ResourceClient> {
  const port = Number(process.env[RESOURCE_PORT_ENV]);
  if (!Number.isInteger(port) || port <= 0) {
    throw new Error(`Missing ${RESOURCE_PORT_ENV}: run under the nemesis with a resource`);
  }
  const socket = connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  // Replies come in the order of the requests on one connection.
  const waiting: { resolve: () => void; reject: (error: Error) => void }[] = [];
  const lines = createInterface({ input: socket, crlfDelay: Number.POSITIVE_INFINITY });
  lines.on('line', () => waiting.shift()?.resolve());
  lines.on('error', () => socket.destroy());
  socket.on('close', () => {
    for (const waiter of waiting.splice(0)) waiter.reject(new Error('resource connection closed'));
  });
  return {
    act(action) {
      return new Promise<void>((resolve, reject) => {
        waiting.push({ resolve, reject });
        socket.write(`${JSON.stringify(action)}\n`);
      });
    },
    close() {
      socket.destroy();
    },
  };
}
