import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { reapOnExit } from './child-reaper.js';
import { OutputTail } from './output-tail.js';
import { REPLICA_COUNT_ENV, REPLICA_INDEX_ENV, RESULT_LINE_PREFIX } from './replica.js';
import { sourceNodeArgs } from './source-node-args.js';

/** How one replica process ended. */
export interface FleetResult {
  /** The replica's index, 0 … replicas-1. */
  index: number;
  /** Exit code, or `null` when a signal ended it. */
  exitCode: number | null;
  /** The signal that ended it, or `null`. */
  signal: NodeJS.Signals | null;
  /** What it passed to `reportResult()` (the last one), or `undefined` if it reported nothing. */
  result: unknown;
  /** The end of its stderr (the last few KB). */
  stderr: string;
}

/** Options of {@link spawnReplica}. */
export interface SpawnReplicaOptions {
  /** Absolute path of the TypeScript (or JavaScript) script the replica runs. */
  script: string;
  /** This replica's index, passed as `BREAKWATER_REPLICA_INDEX`. @default 0 */
  index?: number;
  /** Size of its fleet, passed as `BREAKWATER_REPLICA_COUNT`. @default 1 */
  replicas?: number;
  /** Extra environment variables (the test process's environment, e.g. REDIS_URL, is inherited). */
  env?: Record<string, string>;
  /** Command-line arguments for the script. */
  args?: string[];
  /**
   * Kill the replica (SIGKILL) and reject `result` if it runs longer than this. No limit by default.
   */
  timeoutMs?: number;
  /**
   * Give the replica a stdin pipe, written with the handle's `send()` and closed with
   * `endInput()`. Without it, stdin is ignored (and cannot keep the replica alive).
   * @default false
   */
  stdin?: boolean;
}

/** A running replica process. */
export interface ReplicaHandle {
  /** The replica's index. */
  readonly index: number;
  /** Its process id. */
  readonly pid: number;
  /** Sends it a signal (`SIGKILL` by default), e.g. to kill it mid-run. */
  kill(signal?: NodeJS.Signals): void;
  /** Resolves when it has exited (however it exited); rejects only if it could not be spawned or timed out. */
  readonly result: Promise<FleetResult>;
  /** Calls `listener` with every stdout line except the result line. Returns an unsubscriber. */
  onMessage(listener: (line: string) => void): () => void;
  /**
   * Resolves the first stdout line from now on that matches (equals a string, matches a RegExp or
   * satisfies a predicate); rejects if the replica exits first or `timeoutMs` passes.
   */
  waitForMessage(
    match: string | RegExp | ((line: string) => boolean),
    timeoutMs?: number,
  ): Promise<string>;
  /** The end of its stderr so far. */
  stderr(): string;
  /**
   * Writes `line` and a newline to the replica's stdin (spawned with `stdin: true`; throws
   * otherwise). Lines sent after it exited are dropped.
   */
  send(line: string): void;
  /** Closes the replica's stdin, so it reads end-of-file. Idempotent. */
  endInput(): void;
}

/** Options of {@link runFleet}. */
export interface RunFleetOptions {
  /** Absolute path of the TypeScript script every replica runs. */
  script: string;
  /** Number of replica processes. */
  replicas: number;
  /** Extra environment variables for every replica. */
  env?: Record<string, string>;
  /** Command-line arguments for the script. */
  args?: string[];
  /**
   * The fleet must be done within this many milliseconds; then every replica still running is
   * killed and `runFleet` rejects with their stderr.
   * @default 20000
   */
  timeoutMs?: number;
}

function matcher(match: string | RegExp | ((line: string) => boolean)): (line: string) => boolean {
  if (typeof match === 'string') return (line) => line === match;
  if (match instanceof RegExp) return (line) => match.test(line);
  return match;
}

/**
 * Starts one replica process: `node --import tsx <script>` with `@breakwater/*` resolved to the
 * TypeScript source, `BREAKWATER_REPLICA_INDEX` / `BREAKWATER_REPLICA_COUNT` set, and the test
 * process's environment inherited. The script reports through `@breakwater/testkit/replica`. The
 * process is SIGKILLed if the test process exits first.
 */
export function spawnReplica(options: SpawnReplicaOptions): ReplicaHandle {
  const index = options.index ?? 0;
  const child = spawn(
    process.execPath,
    [...sourceNodeArgs(), options.script, ...(options.args ?? [])],
    {
      env: {
        ...process.env,
        ...options.env,
        [REPLICA_INDEX_ENV]: String(index),
        [REPLICA_COUNT_ENV]: String(options.replicas ?? 1),
      },
      stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    },
    // stdout and stderr are always pipes; stdin only when asked for.
  ) as ChildProcessByStdio<Writable | null, Readable, Readable>;
  reapOnExit(child);
  // A replica that exits without reading its input makes writes fail with EPIPE; that is not an
  // error of the test.
  child.stdin?.on('error', () => {});

  const stderr = new OutputTail(8_000);
  const listeners = new Set<(line: string) => void>();
  let result: unknown;
  let exited = false;
  const exitListeners = new Set<() => void>();

  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  const lines = createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY });
  const linesDone = new Promise<void>((resolve) => lines.once('close', resolve));
  lines.on('line', (line) => {
    if (line.startsWith(RESULT_LINE_PREFIX)) {
      try {
        result = JSON.parse(line.slice(RESULT_LINE_PREFIX.length));
      } catch (error) {
        stderr.push(`\n[fleet] unparsable result line (${String(error)}): ${line}\n`);
      }
      return;
    }
    for (const listener of [...listeners]) listener(line);
  });

  const outcome = new Promise<FleetResult>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    if (options.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, options.timeoutMs);
    }
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(
        new Error(`Could not start replica ${index} (${options.script}): ${error.message}`, {
          cause: error,
        }),
      );
    });
    child.once('close', (exitCode, signal) => {
      clearTimeout(timer);
      exited = true;
      for (const listener of exitListeners) listener();
      void linesDone.then(() => {
        if (timedOut) {
          reject(
            new Error(
              `Replica ${index} (${options.script}) timed out after ${options.timeoutMs} ms and was ` +
                `killed. Its stderr ended with:\n${stderr}`,
            ),
          );
          return;
        }
        resolve({ index, exitCode, signal, result, stderr: stderr.toString() });
      });
    });
  });

  return {
    index,
    pid: child.pid ?? -1,
    kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (!exited) child.kill(signal);
    },
    result: outcome,
    onMessage(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    waitForMessage(match, timeoutMs = 10_000) {
      const test = matcher(match);
      return new Promise<string>((resolve, reject) => {
        const done = () => {
          clearTimeout(timer);
          listeners.delete(onLine);
          exitListeners.delete(onExit);
        };
        const onLine = (line: string) => {
          if (!test(line)) return;
          done();
          resolve(line);
        };
        const onExit = () => {
          done();
          reject(
            new Error(
              `Replica ${index} exited before printing the awaited line. stderr:\n${stderr}`,
            ),
          );
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(`Replica ${index} did not print the awaited line within ${timeoutMs} ms`),
          );
        }, timeoutMs);
        if (exited) {
          onExit();
          return;
        }
        listeners.add(onLine);
        exitListeners.add(onExit);
      });
    },
    stderr: () => stderr.toString(),
    send(line: string) {
      if (child.stdin === null) {
        throw new Error(`Replica ${index} was spawned without stdin; pass \`stdin: true\``);
      }
      if (!exited && child.stdin.writable) child.stdin.write(`${line}\n`);
    },
    endInput() {
      child.stdin?.end();
    },
  };
}

/**
 * Runs `replicas` processes of the same TypeScript script (see {@link spawnReplica}) and resolves
 * their results in index order once all have exited, whatever their exit codes (tests assert
 * them). Rejects when the fleet exceeds `timeoutMs`, after killing the replicas still running,
 * with an error that quotes their stderr.
 */
export async function runFleet(options: RunFleetOptions): Promise<FleetResult[]> {
  if (!Number.isInteger(options.replicas) || options.replicas < 1) {
    throw new RangeError(`Expected \`replicas\` to be an integer >= 1, got ${options.replicas}`);
  }
  const timeoutMs = options.timeoutMs ?? 20_000;
  const handles = Array.from({ length: options.replicas }, (_, index) =>
    spawnReplica({
      script: options.script,
      index,
      replicas: options.replicas,
      env: options.env,
      args: options.args,
    }),
  );
  const running = new Set(handles);
  for (const handle of handles) {
    handle.result.then(
      () => running.delete(handle),
      () => running.delete(handle),
    );
  }

  let stuck: ReplicaHandle[] | undefined;
  const timer = setTimeout(() => {
    stuck = [...running];
    for (const handle of stuck) handle.kill('SIGKILL');
  }, timeoutMs);
  try {
    // Killed replicas exit too, so this settles after a timeout as well, with their stderr drained.
    const results = await Promise.all(handles.map((handle) => handle.result));
    if (stuck !== undefined) {
      const tails = stuck.map(
        (handle) =>
          `--- replica ${handle.index} (pid ${handle.pid}) stderr ---\n${handle.stderr() || '(empty)'}`,
      );
      throw new Error(
        `Fleet of ${options.replicas} × ${options.script} did not finish within ${timeoutMs} ms; ` +
          `killed ${stuck.length} replica(s) still running.\n${tails.join('\n')}`,
      );
    }
    return results;
  } finally {
    clearTimeout(timer);
    for (const handle of handles) handle.kill('SIGKILL');
  }
}
