/**
 * Process faults of a DynamoDB the nemesis owns: dynalite run as a child process of its own (not in
 * the nemesis's process), so it can be paused (SIGSTOP), crashed (SIGKILL) and restarted on the
 * same port, in memory (a restart comes back empty: the state is lost) or on a LevelDB folder
 * (`--path`: a restart comes back with every item it had acknowledged).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DescribeTableCommand,
  DynamoDBClient,
  ResourceInUseException,
} from '@aws-sdk/client-dynamodb';
import { reapOnExit } from '../child-reaper.js';
import { DYNALITE_CLIENT_CONFIG } from '../default-clients.js';
import { createTestTable } from '../dynamo-table.js';
import { findFreePort } from '../free-port.js';

/** Options of {@link startNemesisDynalite}. */
export interface NemesisDynaliteOptions {
  /**
   * Keep the items in a LevelDB folder (`dynalite --path`) that a restart reads back: what a write
   * acknowledged is in the folder's log before the answer is sent, so it survives a SIGKILL (not a
   * power loss: LevelDB does not fsync each write). Without it dynalite keeps everything in memory
   * and a restart comes back empty. @default false
   */
  persistent?: boolean;
  /** The table the replicas use (string partition key `pk`). @default 'bw-nemesis' */
  tableName?: string;
}

/** Options of {@link NemesisDynalite.restart}. */
export interface DynaliteRestartOptions {
  /**
   * Come back with no data even when persistent: the crashed process's folder is deleted first,
   * as when its disk is lost. The table is created again, empty. @default false
   */
  empty?: boolean;
}

/** A dynalite server whose process the nemesis can pause, kill and restart. */
export interface NemesisDynalite {
  /** Its port on 127.0.0.1: the same across restarts. */
  readonly port: number;
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** The table the replicas use; it exists whenever the server runs (recreated after a loss). */
  readonly tableName: string;
  /** Process id of the current server process (-1 while crashed). */
  readonly pid: number;
  /** Whether it keeps its items across a restart (`--path`). */
  readonly persistent: boolean;
  /** Whether it is paused (SIGSTOP) now. */
  readonly paused: boolean;
  /** Freezes the process with SIGSTOP: connections stay open, nothing is answered. */
  pause(): void;
  /** Resumes a paused process with SIGCONT: it answers what it was sent meanwhile. */
  resume(): void;
  /** Kills the process with SIGKILL (a paused one too) and resolves once it is gone. */
  crash(): Promise<void>;
  /**
   * Starts the server again on the same port (after {@link crash}); resolves once it answers and
   * the table is there (created again when the restart lost it).
   */
  restart(options?: DynaliteRestartOptions): Promise<void>;
  /** Stops the server for good and removes its folder. Idempotent. */
  stop(): Promise<void>;
}

const LISTENING_LINE = 'Dynalite listening';
const START_TIMEOUT_MS = 15_000;
const MAX_PORT_ATTEMPTS = 5;

function dynaliteCli(): string {
  return createRequire(import.meta.url).resolve('dynalite/cli.js');
}

interface Started {
  child: ChildProcess;
  exited: Promise<void>;
}

/** Spawns dynalite on `port`; resolves once it listens, rejects with its output if it exits. */
async function spawnDynalite(port: number, path: string | undefined): Promise<Started> {
  const args = [
    dynaliteCli(),
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    // Tables are ACTIVE at once: a restart that lost the table has it back without a wait.
    '--createTableMs',
    '0',
    '--deleteTableMs',
    '0',
    '--updateTableMs',
    '0',
    ...(path === undefined ? [] : ['--path', path]),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  reapOnExit(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`dynalite on port ${port} did not listen within ${START_TIMEOUT_MS} ms`));
    }, START_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(LISTENING_LINE)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(
          `dynalite on port ${port} exited with ${code ?? signal} before listening:\n${output}`,
        ),
      );
    });
  });
  // Nothing more is read, but a full pipe must not block the server.
  child.stdout?.resume();
  child.stderr?.resume();
  return { child, exited };
}

/** Creates `tableName` unless it exists, and waits until it is ACTIVE. */
async function ensureTable(endpoint: string, tableName: string): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const client = new DynamoDBClient({ ...DYNALITE_CLIENT_CONFIG, endpoint, maxAttempts: 3 });
  try {
    try {
      await createTestTable(client, tableName);
    } catch (error) {
      // A persistent restart brings the table back with its items.
      if (!(error instanceof ResourceInUseException)) throw error;
    }
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
      if (Table?.TableStatus === 'ACTIVE') return;
      if (Date.now() > deadline) {
        throw new Error(`Table ${tableName} of dynalite at ${endpoint} is not ACTIVE in time`);
      }
      await sleep(10);
    }
  } finally {
    client.destroy();
  }
}

/** Starts dynalite as a child process on a free port, with the replicas' table. */
export async function startNemesisDynalite(
  options: NemesisDynaliteOptions = {},
): Promise<NemesisDynalite> {
  const persistent = options.persistent ?? false;
  const tableName = options.tableName ?? 'bw-nemesis';
  const dir = persistent ? mkdtempSync(join(tmpdir(), 'bw-nemesis-dynalite-')) : undefined;
  const path = dir === undefined ? undefined : join(dir, 'db');
  let server: Started | undefined;
  let port = 0;
  for (let attempt = 1; server === undefined; attempt++) {
    port = await findFreePort();
    try {
      server = await spawnDynalite(port, path);
    } catch (error) {
      // Another process may take the free port before dynalite binds it: pick another.
      if (attempt >= MAX_PORT_ATTEMPTS || !String(error).includes('EADDRINUSE')) {
        if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }
  const endpoint = `http://127.0.0.1:${port}`;
  let paused = false;
  let stopped = false;

  const running = (): Started => {
    if (
      server === undefined ||
      server.child.exitCode !== null ||
      server.child.signalCode !== null
    ) {
      throw new Error(`The nemesis dynalite on port ${port} is not running`);
    }
    return server;
  };
  const kill = async (current: Started): Promise<void> => {
    current.child.kill('SIGKILL');
    await current.exited;
  };

  try {
    await ensureTable(endpoint, tableName);
  } catch (error) {
    await kill(server);
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  return {
    port,
    endpoint,
    tableName,
    persistent,
    get pid() {
      return server?.child.pid ?? -1;
    },
    get paused() {
      return paused;
    },
    pause() {
      running().child.kill('SIGSTOP');
      paused = true;
    },
    resume() {
      running().child.kill('SIGCONT');
      paused = false;
    },
    async crash() {
      const current = running();
      paused = false;
      await kill(current);
      server = undefined;
    },
    async restart(restartOptions = {}) {
      if (stopped) throw new Error(`The nemesis dynalite on port ${port} is stopped`);
      if (server !== undefined) {
        throw new Error(`The nemesis dynalite on port ${port} is running; crash() it first`);
      }
      if (path !== undefined && restartOptions.empty)
        rmSync(path, { recursive: true, force: true });
      // The port was ours a moment ago; a socket of the killed process may hold it briefly.
      for (let attempt = 1; server === undefined; attempt++) {
        try {
          server = await spawnDynalite(port, path);
        } catch (error) {
          if (attempt >= MAX_PORT_ATTEMPTS || !String(error).includes('EADDRINUSE')) throw error;
          await sleep(100 * attempt);
        }
      }
      await ensureTable(endpoint, tableName);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (server !== undefined) {
        if (paused) server.child.kill('SIGCONT');
        await kill(server);
      }
      server = undefined;
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}
