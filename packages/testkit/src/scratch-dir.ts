import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forgetTempDir, removeOnExit } from './child-reaper.js';

/**
 * Environment variable through which the global setup hands every worker of one test run the
 * directory that holds that run's throwaway server dirs, so the global teardown can find and kill
 * servers a crashed worker left behind (and only that run's).
 */
export const RUN_DIR_ENV = 'BREAKWATER_TESTKIT_RUN_DIR';

/** File in a scratch dir that records the pid of the server using it. */
export const PID_FILE = 'server.pid';

/** A temporary directory for one throwaway server, removed by `remove()` or at process exit. */
export interface ScratchDir {
  /** Absolute path of the directory. */
  readonly path: string;
  /** Removes the directory and everything in it. Idempotent. */
  remove(): void;
}

/** Creates a scratch dir under the test run's dir (or the OS temp dir outside a test run). */
export function createScratchDir(label: string): ScratchDir {
  const runDir = process.env[RUN_DIR_ENV];
  const parent = runDir !== undefined && existsSync(runDir) ? runDir : tmpdir();
  const path = mkdtempSync(join(parent, `breakwater-${label}-`));
  removeOnExit(path);
  return {
    path,
    remove() {
      rmSync(path, { recursive: true, force: true });
      forgetTempDir(path);
    },
  };
}
