import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PID_FILE } from './scratch-dir.js';

function isRedisServer(pid: number): boolean {
  try {
    // Linux only; elsewhere we cannot tell a reused pid from our server, so leave it alone.
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('redis-server');
  } catch {
    return false;
  }
}

/**
 * Kills the redis-server processes still recorded in the scratch dirs under `runDir` (servers whose
 * test worker died before it could stop them). Resolves the pids it killed.
 */
export function killLeftoverServers(runDir: string): number[] {
  if (!existsSync(runDir)) return [];
  const killed: number[] = [];
  for (const entry of readdirSync(runDir)) {
    const pidFile = join(runDir, entry, PID_FILE);
    if (!existsSync(pidFile)) continue;
    const pid = Number(readFileSync(pidFile, 'utf8'));
    if (!Number.isInteger(pid) || pid <= 0 || !isRedisServer(pid)) continue;
    try {
      process.kill(pid, 'SIGKILL');
      killed.push(pid);
    } catch {
      // exited meanwhile
    }
  }
  return killed;
}
