import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { reapOnExit } from './child-reaper.js';
import { findFreePort } from './free-port.js';
import { OutputTail } from './output-tail.js';
import { createScratchDir, PID_FILE, type ScratchDir } from './scratch-dir.js';

/** Name of the Redis server binary, looked up on `PATH`. */
export const REDIS_SERVER_BINARY = 'redis-server';

/** Options of {@link startRedisServer}. */
export interface StartRedisServerOptions {
  /**
   * Port to listen on (on 127.0.0.1). Pass the port of a server that was stopped to bring "the same
   * Redis" back. When omitted, a free port is picked, and another one if it is taken meanwhile.
   */
  port?: number;
  /** Extra `redis-server` command-line arguments, e.g. `['--maxmemory', '10mb']`. */
  args?: string[];
  /**
   * Also require `port + 10000` (the cluster bus port) to be free when picking a port.
   * @default false
   */
  clusterBus?: boolean;
  /**
   * How long to wait for "Ready to accept connections".
   * @default 10000
   */
  startTimeoutMs?: number;
}

/** A throwaway `redis-server` process owned by a test. */
export interface RedisServer {
  /** Always `'127.0.0.1'`. */
  readonly host: string;
  /** The port it listens on. */
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** Process id of the server. */
  readonly pid: number;
  /** Its working directory (cluster config files live here); removed when it stops. */
  readonly dir: string;
  /** Whether the process has exited. */
  readonly exited: boolean;
  /** The end of the server's log, for diagnostics. */
  log(): string;
  /** Shuts the server down cleanly (SIGTERM, SIGKILL after 5 s) and removes its dir. Idempotent. */
  stop(): Promise<void>;
  /** Kills the server at once with SIGKILL, as a crash would, and removes its dir. Idempotent. */
  kill(): Promise<void>;
}

const READY_LINE = 'Ready to accept connections';
const MAX_PORT_ATTEMPTS = 5;

/**
 * Starts a standalone `redis-server` on 127.0.0.1 with persistence off, for tests that need a Redis
 * of their own (to stop it mid-run, to cluster it, to configure it). Resolves once it accepts
 * connections. The process is killed when the test process exits, whatever happens.
 */
export async function startRedisServer(
  options: StartRedisServerOptions = {},
): Promise<RedisServer> {
  const attempts = options.port === undefined ? MAX_PORT_ATTEMPTS : 1;
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port =
      options.port ?? (await findFreePort({ withClusterBus: options.clusterBus ?? false }));
    try {
      return await launch(port, options);
    } catch (error) {
      lastError = error;
      if (!(error instanceof PortInUseError)) throw error;
    }
  }
  throw lastError;
}

class PortInUseError extends Error {}

function launch(port: number, options: StartRedisServerOptions): Promise<RedisServer> {
  const dir = createScratchDir('redis');
  const argv = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--daemonize',
    'no',
    '--dir',
    dir.path,
    ...(options.args ?? []),
  ];
  const child = spawn(REDIS_SERVER_BINARY, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  reapOnExit(child);
  const log = new OutputTail();
  const exit = new Promise<void>((resolve) => child.once('close', () => resolve()));
  child.stdout.on('data', (chunk: Buffer) => log.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => log.push(chunk));

  return new Promise<RedisServer>((resolve, reject) => {
    const timeoutMs = options.startTimeoutMs ?? 10_000;
    const timer = setTimeout(() => {
      fail(new Error(`redis-server on port ${port} not ready after ${timeoutMs} ms:\n${log}`));
    }, timeoutMs);
    const onData = () => {
      if (!log.toString().includes(READY_LINE)) return;
      cleanup();
      if (child.pid !== undefined) writeFileSync(join(dir.path, PID_FILE), String(child.pid));
      resolve(handle(child, port, dir, log, exit));
    };
    const onExit = () => {
      const text = log.toString();
      const message = `redis-server on port ${port} exited before it was ready:\n${text}`;
      fail(
        text.includes('Address already in use') ? new PortInUseError(message) : new Error(message),
      );
    };
    const onError = (error: Error) => {
      fail(
        new Error(
          `Could not run ${REDIS_SERVER_BINARY} (${error.message}). Install Redis 7 so that ` +
            'redis-server and redis-cli are on PATH.',
          { cause: error },
        ),
      );
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    const fail = (error: Error) => {
      cleanup();
      if (child.pid === undefined) {
        dir.remove(); // never started, so no 'close' will come
      } else {
        child.kill('SIGKILL');
        void exit.then(() => dir.remove());
      }
      reject(error);
    };
    child.stdout.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

function handle(
  child: ChildProcess,
  port: number,
  dir: ScratchDir,
  log: OutputTail,
  exit: Promise<void>,
): RedisServer {
  let exited = false;
  void exit.then(() => {
    exited = true;
  });
  const terminate = async (signal: NodeJS.Signals) => {
    if (!exited) {
      child.kill(signal);
      if (signal !== 'SIGKILL') {
        const escalate = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exit;
        clearTimeout(escalate);
      }
    }
    await exit;
    dir.remove();
  };
  return {
    host: '127.0.0.1',
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid ?? -1,
    dir: dir.path,
    get exited() {
      return exited;
    },
    log: () => log.toString(),
    stop: () => terminate('SIGTERM'),
    kill: () => terminate('SIGKILL'),
  };
}
