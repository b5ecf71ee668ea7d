/**
 * A Redis primary with one replica, and the failover that loses what the replica had not received:
 * the primary is SIGKILLed and the replica promoted with `REPLICAOF NO ONE`. Clients connect to
 * one stable address (a small TCP forwarder) that follows the promotion, as a virtual IP or a
 * Sentinel-aware client would, so the code under test keeps its client across the failover.
 *
 * The replication link runs through a testkit {@link FaultProxy}, so a test can stall it
 * (`link.hang()`) to make the replica fall behind before the primary dies: the writes
 * acknowledged meanwhile are exactly what a failover loses without `WAIT`.
 *
 * Both servers run with persistence off (`--save "" --appendonly no`, as every testkit Redis), are
 * killed if the test process exits, and are recorded for the leftover-server sweep.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { type FaultProxy, startFaultProxy } from './fault-proxy.js';
import { type RedisServer, startRedisServer } from './redis-server.js';

/** Options of {@link startRedisReplication}. */
export interface StartRedisReplicationOptions {
  /** Extra `redis-server` arguments for both servers. */
  args?: string[] | undefined;
  /**
   * How long the replica may take to finish its initial sync.
   * @default 10_000
   */
  syncTimeoutMs?: number | undefined;
}

/** A primary, its replica, and the address clients use across a failover. */
export interface RedisReplication {
  /** Host of the stable address: always `'127.0.0.1'`. */
  readonly host: string;
  /** Port of the stable address: the current primary's, whichever server that is. */
  readonly port: number;
  /** `redis://127.0.0.1:<port>` of the stable address. */
  readonly url: string;
  /** The current primary's own server: the promoted replica after {@link failover}. */
  readonly primary: RedisServer;
  /** The current replica's own server; `undefined` from {@link failover} to {@link startReplica}. */
  readonly replica: RedisServer | undefined;
  /**
   * The current replication link, replica → primary (`undefined` when there is no replica):
   * `link.hang()` stalls replication (the replica falls behind, `WAIT` gets no acknowledgement),
   * `link.restore()` lets it catch up.
   */
  readonly link: FaultProxy | undefined;
  /** How many failovers ran. */
  readonly failovers: number;
  /**
   * Resolves once the replica's link is up and it has processed everything the primary has
   * written so far; rejects after `timeoutMs` (default 10 s) with both offsets.
   */
  waitForSync(timeoutMs?: number): Promise<void>;
  /**
   * The failover: SIGKILLs the primary (a crash, no shutdown), promotes the replica with
   * `REPLICAOF NO ONE`, and points the stable address at it; connections to the stable address
   * are closed, so clients reconnect to the promoted replica. Resolves once it accepts writes.
   * Whatever the replica had not received is gone. The pair then has no replica until
   * {@link startReplica}.
   * @throws {Error} when there is no replica to promote.
   */
  failover(): Promise<void>;
  /**
   * Starts a new replica of the current primary (as an operator or Sentinel set-up replaces the
   * lost one), with a new {@link link}, and resolves once it is in sync.
   * @throws {Error} when the pair already has a replica.
   */
  startReplica(timeoutMs?: number): Promise<void>;
  /** Stops every server and proxy the pair started. Idempotent. */
  stop(): Promise<void>;
}

/** Diskless sync without the default 5 s delay: a replica is in sync within milliseconds. */
const SYNC_ARGS = ['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0'];

/**
 * Starts a primary and a replica on free ports and resolves once the replica is in sync.
 *
 * @example
 * const pair = await startRedisReplication();
 * const client = new Redis(pair.port); // keeps working across pair.failover()
 * await client.set('k', 'v');
 * await pair.failover(); // primary SIGKILLed, replica promoted
 * await pair.stop();
 */
export async function startRedisReplication(
  options: StartRedisReplicationOptions = {},
): Promise<RedisReplication> {
  const args = [...SYNC_ARGS, ...(options.args ?? [])];
  const syncTimeoutMs = options.syncTimeoutMs ?? 10_000;
  // Everything started, stopped in reverse order by stop().
  const started: { stop(): Promise<void> }[] = [];
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      for (const part of started.reverse()) await part.stop();
    })();
    return stopping;
  };
  let primary: RedisServer;
  let replica: RedisServer | undefined;
  let link: FaultProxy | undefined;
  let front: Forwarder;
  let failovers = 0;
  let failing: Promise<void> | undefined;

  const sync = (timeoutMs = syncTimeoutMs): Promise<void> => {
    if (replica === undefined) return Promise.reject(new Error('The pair has no replica'));
    return waitForSync(primary, replica, timeoutMs);
  };
  const startReplica = async (timeoutMs = syncTimeoutMs): Promise<void> => {
    if (replica !== undefined) throw new Error('The pair already has a replica');
    const through = await startFaultProxy({ host: primary.host, port: primary.port });
    started.push({ stop: () => through.close() });
    link = through;
    replica = await startRedisServer({
      args: [...args, '--replicaof', '127.0.0.1', String(through.port)],
    });
    started.push(replica);
    await sync(timeoutMs);
  };

  try {
    primary = await startRedisServer({ args });
    started.push(primary);
    front = await startForwarder(primary.port);
    started.push({ stop: () => front.close() });
    await startReplica();
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    host: '127.0.0.1',
    port: front.port,
    url: `redis://127.0.0.1:${front.port}`,
    get primary() {
      return primary;
    },
    get replica() {
      return replica;
    },
    get link() {
      return link;
    },
    get failovers() {
      return failovers;
    },
    waitForSync: (timeoutMs) => sync(timeoutMs),
    failover() {
      if (failing !== undefined) return failing;
      const promoted = replica;
      const oldLink = link;
      if (promoted === undefined) return Promise.reject(new Error('The pair has no replica'));
      failing = (async () => {
        await primary.kill();
        await adminCall(promoted, (client) => client.replicaof('NO', 'ONE'));
        primary = promoted;
        replica = undefined;
        link = undefined;
        front.retarget(promoted.port);
        // The old link has nothing left to carry; bytes it held must never reach anyone.
        await oldLink?.close();
        failovers++;
      })().finally(() => {
        failing = undefined;
      });
      return failing;
    },
    startReplica,
    stop,
  };
}

/** Runs `call` on a short-lived connection of its own to `server`. */
async function adminCall<T>(server: RedisServer, call: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({
    host: server.host,
    port: server.port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return await call(client);
  } finally {
    client.disconnect();
  }
}

/** A field of `INFO replication`, or `undefined`. */
function infoField(info: string, name: string): string | undefined {
  const match = new RegExp(`^${name}:(.*)$`, 'm').exec(info);
  return match?.[1]?.trim();
}

async function waitForSync(
  primary: RedisServer,
  replica: RedisServer,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const primaryInfo = await adminCall(primary, (c) => c.info('replication'));
    const replicaInfo = await adminCall(replica, (c) => c.info('replication'));
    const primaryOffset = infoField(primaryInfo, 'master_repl_offset');
    const replicaOffset = infoField(replicaInfo, 'slave_repl_offset');
    if (
      infoField(replicaInfo, 'master_link_status') === 'up' &&
      infoField(replicaInfo, 'master_sync_in_progress') === '0' &&
      primaryOffset !== undefined &&
      primaryOffset === replicaOffset
    ) {
      return;
    }
    last = `primary offset ${primaryOffset}, replica offset ${replicaOffset}, link ${infoField(replicaInfo, 'master_link_status')}`;
    if (Date.now() >= deadline) {
      throw new Error(`The replica did not sync within ${timeoutMs} ms (${last})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A TCP forwarder on a fixed port whose target can be switched. */
interface Forwarder {
  readonly port: number;
  /** New connections go to `port`; open ones are closed (their server is gone). */
  retarget(port: number): void;
  close(): Promise<void>;
}

async function startForwarder(targetPort: number): Promise<Forwarder> {
  let target = targetPort;
  const open = new Set<Socket>();
  const server: Server = createServer({ noDelay: true }, (downstream) => {
    const upstream = connect({ host: '127.0.0.1', port: target });
    upstream.setNoDelay(true);
    open.add(downstream);
    open.add(upstream);
    const end = () => {
      downstream.destroy();
      upstream.destroy();
      open.delete(downstream);
      open.delete(upstream);
    };
    downstream.pipe(upstream);
    upstream.pipe(downstream);
    for (const socket of [downstream, upstream]) {
      socket.on('error', end);
      socket.on('close', end);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1' }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('forwarder has no address');
  let closed = false;
  return {
    port: address.port,
    retarget(port) {
      target = port;
      for (const socket of [...open]) socket.destroy();
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const socket of [...open]) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
