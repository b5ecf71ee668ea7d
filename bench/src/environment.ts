/**
 * What the numbers were measured on: machine, runtime and the versions of the compared libraries.
 * Benchmark results mean nothing without it.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import process from 'node:process';

/** The machine and runtime a benchmark run used. */
export interface Environment {
  /** ISO timestamp of the run. */
  readonly date: string;
  /** CPU model as the OS reports it. */
  readonly cpu: string;
  /** Logical CPU cores. */
  readonly cores: number;
  /** Total memory, in GiB. */
  readonly memoryGiB: number;
  /** `linux 6.8.0 x64` and the like. */
  readonly os: string;
  /** `v20.20.2`. */
  readonly node: string;
  /** V8 version of this Node.js. */
  readonly v8: string;
  /** Whether `global.gc` was available (the harness collects garbage between suites if so). */
  readonly exposedGc: boolean;
  /** Which Redis the suites used and on which cores (`placement.ts`); absent in older records. */
  readonly redis?: string | undefined;
}

/** Describes the current machine and runtime; `redis` says where the suites' Redis ran. */
export function describeEnvironment(redis?: string): Environment {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    // The machine's cores, not availableParallelism(): the run pins itself to one (placement.ts).
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    v8: process.versions.v8,
    exposedGc: typeof globalThis.gc === 'function',
    redis,
  };
}

/**
 * The installed version of a dependency of `bench/`, read from `bench/node_modules/<name>` (pnpm
 * links every direct dependency there). Reads the file directly because many packages do not
 * export `./package.json`. Returns `'not installed'` when it is missing.
 */
export async function installedVersion(name: string): Promise<string> {
  const manifest = new URL(`../node_modules/${name}/package.json`, import.meta.url);
  try {
    const parsed: unknown = JSON.parse(await readFile(manifest, 'utf8'));
    const version = (parsed as { version?: unknown }).version;
    return typeof version === 'string' ? version : 'unknown';
  } catch {
    return 'not installed';
  }
}
