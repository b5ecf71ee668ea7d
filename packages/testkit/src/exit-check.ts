import { ACTIVE_RESOURCES_PREFIX, CLOSED_LINE } from './exit-child.js';
import { type ReplicaHandle, spawnReplica } from './fleet.js';

/** Options of {@link expectExitsByItself}. */
export interface ExitCheckOptions {
  /**
   * Absolute path of the TypeScript script the child runs (with `@breakwater/*` resolved to
   * source, like a fleet replica). It reports through `@breakwater/testkit/replica` and
   * `@breakwater/testkit/exit-child`, and must print `closed` (`reportClosed()`) once it has
   * closed everything it built.
   */
  script: string;
  /** Extra environment variables (the test process's environment is inherited). */
  env?: Record<string, string>;
  /** Command-line arguments for the script. */
  args?: string[];
  /**
   * The child must have exited this many milliseconds after it printed `closed`.
   * @default 2000
   */
  withinMs?: number;
  /**
   * The child must print `closed` within this many milliseconds of its start; it is killed
   * otherwise.
   * @default 30000
   */
  timeoutMs?: number;
  /**
   * Drives the child before it closes: wait for its messages, inject faults, `send()` it lines
   * (it reads them with `waitForParent()`). Its stdin is closed when this resolves.
   */
  drive?: (child: ReplicaHandle) => Promise<void>;
}

/** How a child that passed the exit check ended. */
export interface ExitCheckResult {
  /** Always 0: any other exit fails the check. */
  exitCode: number | null;
  /** What it passed to `reportResult()`, if anything. */
  result: unknown;
  /** Every stdout line it printed, except results and resource snapshots. */
  messages: string[];
  /** Milliseconds from the parent reading `closed` to the process having exited. */
  closedToExitMs: number;
  /** The end of its stderr. */
  stderr: string;
}

/** Default of {@link ExitCheckOptions.withinMs}. */
export const DEFAULT_EXIT_WITHIN_MS = 2_000;

/**
 * Spawns `script` in a child Node process, lets `drive` steer it, and resolves once the child has
 * printed `closed` and then exited with code 0 by itself within `withinMs`. Rejects otherwise: when
 * it is still running `withinMs` after `closed`, it is killed and the error lists what kept it
 * alive (the child's last `activeResources()` snapshot: timers, sockets and where they point);
 * when it crashes, fails to print `closed` in time, or exits with another code, the error quotes
 * its messages and stderr.
 */
export async function expectExitsByItself(options: ExitCheckOptions): Promise<ExitCheckResult> {
  const withinMs = options.withinMs ?? DEFAULT_EXIT_WITHIN_MS;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const child = spawnReplica({
    script: options.script,
    env: options.env,
    args: options.args,
    stdin: true,
  });
  const messages: string[] = [];
  let resources: string[] | undefined;
  child.onMessage((line) => {
    if (line.startsWith(ACTIVE_RESOURCES_PREFIX)) {
      resources = JSON.parse(line.slice(ACTIVE_RESOURCES_PREFIX.length)) as string[];
    } else {
      messages.push(line);
    }
  });
  const describe = () =>
    `${options.script} (pid ${child.pid})\n--- messages ---\n${messages.join('\n') || '(none)'}\n` +
    `--- stderr ---\n${child.stderr() || '(empty)'}`;

  let closedAt = 0;
  const closed = child.waitForMessage(CLOSED_LINE, timeoutMs).then(() => {
    closedAt = Date.now();
  });
  // Handled below; keeps a rejection from surfacing as unhandled while `drive` runs.
  closed.catch(() => {});
  try {
    await options.drive?.(child);
    child.endInput();
    await closed;
  } catch (error) {
    child.kill('SIGKILL');
    await child.result.catch(() => undefined);
    throw new Error(
      `Exit check failed before the child reported '${CLOSED_LINE}': ${errorMessage(error)}\n${describe()}`,
      { cause: error },
    );
  }

  const outcome = await Promise.race([
    child.result,
    new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), withinMs).unref()),
  ]);
  if (outcome === undefined) {
    child.kill('SIGKILL');
    await child.result.catch(() => undefined);
    const open = resources === undefined ? '(no snapshot received)' : resources.join(', ');
    throw new Error(
      `The child did not exit by itself within ${withinMs} ms of '${CLOSED_LINE}' and was killed. ` +
        `Still keeping it alive: ${open || '(nothing reported)'}\n${describe()}`,
    );
  }
  const closedToExitMs = Date.now() - closedAt;
  if (outcome.exitCode !== 0) {
    throw new Error(
      `The child exited by itself after '${CLOSED_LINE}', but with code ${outcome.exitCode} ` +
        `(signal ${outcome.signal}).\n${describe()}`,
    );
  }
  return {
    exitCode: outcome.exitCode,
    result: outcome.result,
    messages,
    closedToExitMs,
    stderr: outcome.stderr,
  };
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
