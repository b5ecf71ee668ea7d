import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

/**
 * Children (redis-server, fleet replicas) and temp dirs this process must not leave behind. Hooks
 * normally stop them; this is the last line of defence when a test run is torn down early: the
 * process 'exit' handler SIGKILLs what is still running and removes the temp dirs, synchronously,
 * because that is all an 'exit' handler can do.
 */
const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let installed = false;

function reapAll(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  children.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.once('exit', reapAll);
}

/** Kills `child` with SIGKILL if this process exits while it is still running. */
export function reapOnExit(child: ChildProcess): void {
  install();
  children.add(child);
  child.once('exit', () => children.delete(child));
}

/** Removes `dir` if this process exits before {@link forgetTempDir} is called for it. */
export function removeOnExit(dir: string): void {
  install();
  tempDirs.add(dir);
}

/** Stops tracking `dir` (the caller removed it). */
export function forgetTempDir(dir: string): void {
  tempDirs.delete(dir);
}
