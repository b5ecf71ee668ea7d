/**
 * A Redis primary, its replica and one Redis Sentinel (`redis-server --sentinel`, the same binary)
 * watching them, for the nemesis's `sentinel-failover`: the primary is SIGKILLed, Sentinel notices
 * (`down-after-milliseconds`), promotes the replica, and clients that find the primary through
 * Sentinel (ioredis `new Redis({ sentinels, name })`) follow it. The killed server comes back on its
 * port as the new primary's replica, ready for the next failover.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { reapOnExit } from '../child-reaper.js';
import { findFreePort } from '../free-port.js';
import { OutputTail } from '../output-tail.js';
import { REDIS_SERVER_BINARY, type RedisServer, startRedisServer } from '../redis-server.js';
import { createScratchDir } from '../scratch-dir.js';

/** The name Sentinel monitors the primary under (clients pass it as `name`). */
export const SENTINEL_MASTER_NAME = 'breakwater-nemesis';

/** Options of {@link startNemesisSentinel}. */
export interface NemesisSentinelOptions {
  /**
   * Sentinel's `down-after-milliseconds`: how long the primary may not answer before it is down.
   * @default 500
   */
  downAfterMs?: number;
  /**
   * How long the primary goes on taking writes with its replica cut off before it is killed, in
   * ms: the replica misses what the primary acknowledged meanwhile, the writes a failover loses
   * (a lagging or partitioned replica). 0 kills the primary with its replica in sync, which on one
   * machine loses next to nothing.
   * @default 300
   */
  replicaLagMs?: number;
  /**
   * How long starting, and each failover, may take, in ms.
   * @default 20000
   */
  timeoutMs?: number;
}

/** A primary, a replica and a Sentinel the nemesis fails over. */
export interface NemesisSentinel {
  /** Sentinel's address (a client's `sentinels`). */
  readonly sentinel: { host: string; port: number };
  /** The monitored name (a client's `name`). */
  readonly name: string;
  /** Port of the current primary, as Sentinel reports it. */
  primaryPort(): Promise<number>;
  /**
   * Cuts the replica off the primary for `replicaLagMs` (the primary refuses its resync), then
   * SIGKILLs the primary and resolves once Sentinel names its replica the primary and the replica
   * accepts writes. Returns the new primary's port. Writes the replica had not received are lost.
   */
  killPrimary(): Promise<number>;
  /**
   * Starts the killed server again on its port as the new primary's replica, and resolves once it
   * is in sync and Sentinel lists it (so the next {@link killPrimary} has a replica to promote).
   */
  restoreReplica(): Promise<void>;
  /** Stops Sentinel and both servers. Idempotent. */
  stop(): Promise<void>;
}

const SYNC_ARGS = ['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0'];

function admin(port: number): Redis {
  return new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 1_000,
    commandTimeout: 2_000,
    retryStrategy: () => null,
  });
}

/** Runs `call` on a short-lived connection to `port` (none kept to a server that may be killed). */
async function on<T>(port: number, call: (client: Redis) => Promise<T>): Promise<T> {
  const client = admin(port);
  client.on('error', () => {});
  try {
    return await call(client);
  } finally {
    client.disconnect();
  }
}

async function until(what: string, deadline: number, test: () => Promise<boolean>): Promise<void> {
  for (;;) {
    const ok = await test().catch(() => false);
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`Redis Sentinel: timed out waiting for ${what}`);
    await sleep(50);
  }
}

const linkUp = (port: number) => () =>
  on(port, async (client) => (await client.info('replication')).includes('master_link_status:up'));

/** Starts a primary, a replica and a Sentinel on free ports; resolves once all are ready. */
export async function startNemesisSentinel(
  options: NemesisSentinelOptions = {},
): Promise<NemesisSentinel> {
  const downAfterMs = options.downAfterMs ?? 500;
  const replicaLagMs = options.replicaLagMs ?? 300;
  if (!(Number.isFinite(replicaLagMs) && replicaLagMs >= 0)) {
    throw new RangeError(
      `Expected \`replicaLagMs\` to be a finite number ≥ 0, got ${replicaLagMs}`,
    );
  }
  const timeoutMs = options.timeoutMs ?? 20_000;
  const servers: RedisServer[] = [];
  let sentinelProcess: ChildProcess | undefined;
  let sentinelExit: Promise<void> | undefined;
  const dir = createScratchDir('sentinel');
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (sentinelProcess !== undefined && sentinelProcess.exitCode === null) {
        sentinelProcess.kill('SIGKILL');
        await sentinelExit;
      }
      await Promise.all(servers.map((server) => server.kill()));
      dir.remove();
    })();
    return stopping;
  };
  const log = new OutputTail();
  let sentinelPort = 0;
  let lostPort: number | undefined;
  const primaryPort = (): Promise<number> =>
    on(sentinelPort, async (client) => {
      const address = (await client.call(
        'SENTINEL',
        'GET-MASTER-ADDR-BY-NAME',
        SENTINEL_MASTER_NAME,
      )) as string[] | null;
      if (address === null) throw new Error('Redis Sentinel: no primary known');
      return Number(address[1]);
    });
  const knowsReplica = (port: number) => () =>
    on(sentinelPort, async (client) => {
      const replicas = (await client.call('SENTINEL', 'REPLICAS', SENTINEL_MASTER_NAME)) as
        | string[][]
        | null;
      return (replicas ?? []).some((fields) => {
        const at = (name: string) => fields[fields.indexOf(name) + 1];
        return Number(at('port')) === port && !String(at('flags')).includes('down');
      });
    });

  try {
    const deadline = Date.now() + timeoutMs;
    const primary = await startRedisServer({ args: SYNC_ARGS });
    servers.push(primary);
    const replica = await startRedisServer({
      args: [...SYNC_ARGS, '--replicaof', '127.0.0.1', String(primary.port)],
    });
    servers.push(replica);
    await until('the replica to sync', deadline, linkUp(replica.port));
    sentinelPort = await findFreePort();
    const config = join(dir.path, 'sentinel.conf');
    writeFileSync(
      config,
      [
        `port ${sentinelPort}`,
        'bind 127.0.0.1',
        `dir ${dir.path}`,
        `sentinel monitor ${SENTINEL_MASTER_NAME} 127.0.0.1 ${primary.port} 1`,
        `sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} ${downAfterMs}`,
        `sentinel failover-timeout ${SENTINEL_MASTER_NAME} 5000`,
        `sentinel parallel-syncs ${SENTINEL_MASTER_NAME} 1`,
        '',
      ].join('\n'),
    );
    const child = spawn(REDIS_SERVER_BINARY, [config, '--sentinel'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    reapOnExit(child);
    sentinelProcess = child;
    sentinelExit = new Promise((resolve) => child.once('close', () => resolve()));
    child.stdout?.on('data', (chunk: Buffer) => log.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => log.push(chunk));
    await until('Sentinel to see the replica', deadline, knowsReplica(replica.port)).catch(
      (error: Error) => {
        throw new Error(`${error.message}\nSentinel's log:\n${log}`);
      },
    );
  } catch (error) {
    await stop();
    throw error;
  }

  const server = (port: number): RedisServer => {
    const found = servers.find((candidate) => candidate.port === port && !candidate.exited);
    if (found === undefined) throw new Error(`Redis Sentinel: no server running on port ${port}`);
    return found;
  };

  return {
    sentinel: { host: '127.0.0.1', port: sentinelPort },
    name: SENTINEL_MASTER_NAME,
    primaryPort,
    async killPrimary() {
      if (lostPort !== undefined) throw new Error('Redis Sentinel: restoreReplica() first');
      const port = await primaryPort();
      const deadline = Date.now() + timeoutMs;
      if (replicaLagMs > 0) {
        // The primary stops serving its replica's (re)sync and drops the link: what it
        // acknowledges from now on never reaches the replica. (ACLs are not replicated: the
        // replica, once promoted, serves its own replicas as usual.)
        await on(port, async (client) => {
          await client.call('ACL', 'SETUSER', 'default', '-psync', '-sync');
          await client.call('CLIENT', 'KILL', 'TYPE', 'replica');
        });
        await sleep(replicaLagMs);
      }
      await server(port).kill();
      lostPort = port;
      await until('Sentinel to promote the replica', deadline, async () => {
        const now = await primaryPort();
        if (now === port) return false;
        return on(now, async (client) =>
          (await client.info('replication')).includes('role:master'),
        );
      }).catch((error: Error) => {
        throw new Error(`${error.message}\nSentinel's log:\n${log}`);
      });
      return primaryPort();
    },
    async restoreReplica() {
      const port = lostPort;
      if (port === undefined) return;
      const deadline = Date.now() + timeoutMs;
      const primary = await primaryPort();
      servers.push(
        await startRedisServer({
          port,
          args: [...SYNC_ARGS, '--replicaof', '127.0.0.1', String(primary)],
        }),
      );
      lostPort = undefined;
      await until('the restarted replica to sync', deadline, linkUp(port));
      await until('Sentinel to list the restarted replica', deadline, knowsReplica(port));
    },
    stop,
  };
}
