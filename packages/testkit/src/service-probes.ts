/// <reference path="./dynalite.d.ts" />

import { execFile } from 'node:child_process';
import { createConnection } from 'node:net';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { REDIS_CLI_BINARY } from './redis-cluster.js';
import { REDIS_SERVER_BINARY } from './redis-server.js';

const execFileAsync = promisify(execFile);

/** The outcome of probing one service: available, or why not. */
export type ProbeOutcome = { ok: true } | { ok: false; reason: string };

/** The PostgreSQL URL the tests use: `DATABASE_URL`, or the local `test` database. */
export function postgresUrlFromEnv(): string {
  const url = process.env.DATABASE_URL;
  return url !== undefined && url !== '' ? url : 'postgres://postgres@127.0.0.1:5432/test';
}

/**
 * Whether something accepts connections at the PostgreSQL URL's host and port. A TCP probe
 * keeps the testkit free of a database driver; tests that use the database connect with `pg`.
 */
export async function probePostgres(url: string, timeoutMs = 1_000): Promise<ProbeOutcome> {
  let host: string;
  let port: number;
  try {
    const parsed = new URL(url);
    host = parsed.hostname || '127.0.0.1';
    port = Number(parsed.port || 5432);
  } catch {
    return { ok: false, reason: `DATABASE_URL is not a URL: ${url}` };
  }
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (outcome: ProbeOutcome) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(
      () => done({ ok: false, reason: `no answer from ${host}:${port} within ${timeoutMs} ms` }),
      timeoutMs,
    );
    socket.once('connect', () => done({ ok: true }));
    socket.once('error', (error) => done({ ok: false, reason: error.message }));
  });
}

/** The Redis URL the tests use: `REDIS_URL`, or `redis://127.0.0.1:6379`. */
export function redisUrlFromEnv(): string {
  const url = process.env.REDIS_URL;
  return url !== undefined && url !== '' ? url : 'redis://127.0.0.1:6379';
}

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' && !error.message.includes(code)
      ? `${code}: ${error.message}`
      : error.message;
  }
  return String(error);
}

/** Whether the Redis at `url` answers PING within `timeoutMs`. */
export async function probeRedis(url: string, timeoutMs = 1_000): Promise<ProbeOutcome> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  let lastError: unknown;
  client.on('error', (error: unknown) => {
    lastError = error;
  });
  try {
    await client.connect();
    const reply = await client.ping();
    return reply === 'PONG' ? { ok: true } : { ok: false, reason: `PING answered ${reply}` };
  } catch (error) {
    return { ok: false, reason: describeError(lastError ?? error) };
  } finally {
    client.disconnect();
  }
}

/** Whether the `redis-server` and `redis-cli` binaries run (`--version`). */
export async function probeRedisBinaries(timeoutMs = 3_000): Promise<ProbeOutcome> {
  for (const binary of [REDIS_SERVER_BINARY, REDIS_CLI_BINARY]) {
    try {
      await execFileAsync(binary, ['--version'], { timeout: timeoutMs });
    } catch (error) {
      return { ok: false, reason: `${binary} --version failed: ${describeError(error)}` };
    }
  }
  return { ok: true };
}

/** Whether dynalite loads and listens on a free port. */
export async function probeDynalite(): Promise<ProbeOutcome> {
  try {
    const { default: dynalite } = await import('dynalite');
    const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    await new Promise<void>((resolve, reject) =>
      server.close((error) => (error ? reject(error) : resolve())),
    );
    return { ok: true };
  } catch (error) {
    return { ok: false, reason: describeError(error) };
  }
}
