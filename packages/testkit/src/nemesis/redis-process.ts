/**
 * Process faults of a Redis server the nemesis owns: pause (SIGSTOP) and resume (SIGCONT), crash
 * (SIGKILL) and restart on the same port, with or without an append-only file.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { type RedisServer, startRedisServer } from '../redis-server.js';

/** The folder of the append-only files inside the server's dir. */
const AOF_DIR = 'aof';

/** Options of {@link startNemesisRedis}. */
export interface NemesisRedisOptions {
  /**
   * Persist every write in an append-only file (`appendfsync always`) that a restart reads back.
   * Without it a restart comes back empty, as a Redis without persistence does. @default false
   */
  aof?: boolean;
  /** Extra `redis-server` arguments. */
  args?: string[];
}

/** Options of {@link NemesisRedis.restart}. */
export interface RestartOptions {
  /**
   * Come back with no data even with AOF: the crashed process's files are deleted first, as when
   * its disk is lost (what a restart without persistence does anyway). @default false
   */
  empty?: boolean;
}

/** A Redis server whose process the nemesis can pause, kill and restart. */
export interface NemesisRedis {
  /** Its port on 127.0.0.1: the same across restarts. */
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** Process id of the current server process. */
  readonly pid: number;
  /** Whether it persists every write in an append-only file that a restart reads back. */
  readonly aof: boolean;
  /** Whether it is paused (SIGSTOP) now. */
  readonly paused: boolean;
  /** Freezes the process with SIGSTOP: connections stay open, nothing is answered. */
  pause(): void;
  /** Resumes a paused process with SIGCONT: it answers what it was sent meanwhile. */
  resume(): void;
  /**
   * Kills the process with SIGKILL (a crash: no shutdown save) and resolves once it is gone. A
   * paused server is killed too.
   */
  crash(): Promise<void>;
  /**
   * Starts the server again on the same port (after {@link crash}); resolves once it is ready. With
   * {@link aof} it reads back the append-only file the crashed process wrote, unless `empty`.
   */
  restart(options?: RestartOptions): Promise<void>;
  /** Stops the server for good. Idempotent. */
  stop(): Promise<void>;
}

/** Starts a `redis-server` on a free port, for process faults. */
export async function startNemesisRedis(options: NemesisRedisOptions = {}): Promise<NemesisRedis> {
  const aofArgs = options.aof
    ? ['--appendonly', 'yes', '--appendfsync', 'always', '--appenddirname', AOF_DIR]
    : [];
  const args = [...aofArgs, ...(options.args ?? [])];
  const aof = options.aof ?? false;
  let server: RedisServer | undefined = await startRedisServer({ args });
  const port = server.port;
  // With AOF, the restarted server must read the files the crashed one wrote: keep its dir.
  const dir: string | undefined = aof ? server.dir : undefined;
  let paused = false;
  let stopped = false;

  const running = (): RedisServer => {
    if (server === undefined || server.exited) {
      throw new Error(`The nemesis Redis on port ${port} is not running`);
    }
    return server;
  };

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    aof,
    get pid() {
      return server?.pid ?? -1;
    },
    get paused() {
      return paused;
    },
    pause() {
      process.kill(running().pid, 'SIGSTOP');
      paused = true;
    },
    resume() {
      process.kill(running().pid, 'SIGCONT');
      paused = false;
    },
    async crash() {
      const current = running();
      paused = false;
      if (dir !== undefined) {
        // kill() removes the scratch dir; crash by signal instead and wait for the exit.
        process.kill(current.pid, 'SIGKILL');
        while (!current.exited) await new Promise((resolve) => setTimeout(resolve, 5));
      } else {
        await current.kill();
      }
      server = undefined;
    },
    async restart(restartOptions = {}) {
      if (stopped) throw new Error(`The nemesis Redis on port ${port} is stopped`);
      if (server !== undefined && !server.exited) {
        throw new Error(`The nemesis Redis on port ${port} is running; crash() it first`);
      }
      if (dir !== undefined && restartOptions.empty) {
        // The append-only files live in their own folder (`--appenddirname`): the rest stays.
        rmSync(join(dir, AOF_DIR), { recursive: true, force: true });
      }
      const restartArgs = dir === undefined ? args : [...args, '--dir', dir];
      // A later `--dir` overrides the fresh scratch dir startRedisServer passes.
      server = await startRedisServer({ port, args: restartArgs });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (server !== undefined && !server.exited) {
        if (paused) process.kill(server.pid, 'SIGCONT');
        await server.kill();
      }
      server = undefined;
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}
