/**
 * The two Redis client libraries the Redis-backed suites measure Breakwater's stores with: ioredis
 * and node-redis (`redis`). Every store takes either (core's client adapter), so every case that
 * runs on an ioredis client has a node-redis twin row in the same suite, built by the same code.
 *
 * A {@link BenchRedis} wraps one connected client of either library behind the few raw commands
 * the suites send themselves (the reference rows: a bare GET, SET, EVALSHA, XADD or PING, and
 * cleaning up a key prefix), each with the library's own API, so a reference row costs what that
 * library costs. {@link withNodeRedisTwin} turns a case builder into the ioredis row and its twin.
 */
import process from 'node:process';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import type { BenchCase } from './harness.js';

/** A Redis client library Breakwater's stores accept. */
export type RedisClientLibrary = 'ioredis' | 'node-redis';

/**
 * A node-redis client with the library's defaults: RESP3 in node-redis 6 (the protocol only
 * changes how replies are framed; Breakwater reads the same values either way).
 */
function newNodeRedisClient(url: string) {
  return createClient({ url });
}

/** A node-redis client as `createClient({ url })` makes it. */
export type NodeRedisClient = ReturnType<typeof newNodeRedisClient>;

/** How long opening a connection may take before setup fails (node-redis retries forever). */
const CONNECT_TIMEOUT_MS = 5_000;

/** What the suites do with a client of either library, each with that library's own API. */
interface BenchRedisCommands {
  /** `PING`. */
  ping(): Promise<unknown>;
  /** `GET key`. */
  get(key: string): Promise<string | null>;
  /** `SET key value PX ttlMs`. */
  setPx(key: string, value: string, ttlMs: number): Promise<unknown>;
  /** `SCRIPT LOAD lua`: resolves with the script's SHA-1. */
  scriptLoad(lua: string): Promise<string>;
  /** `EVALSHA sha numkeys keys… args…`. */
  evalsha(sha: string, keys: readonly string[], args: readonly string[]): Promise<unknown>;
  /** `XADD stream * field value…`, `fields` as field, value, field, value… */
  xadd(stream: string, fields: readonly string[]): Promise<unknown>;
  /** Deletes every key matching `pattern` (SCAN + UNLINK). */
  deleteMatching(pattern: string): Promise<void>;
  /**
   * Counts in `counter.scripts` every EVALSHA and EVAL sent through the client from now on, the
   * way core's adapter sends Breakwater's scripts with this library.
   */
  countScripts(counter: { scripts: number }): void;
  /** Another connected client of the same library and server (a subscriber, say). */
  duplicate(): Promise<BenchRedis>;
  /** Closes the connection gracefully (pending replies first). */
  close(): Promise<void>;
  /** Closes the connection at once, whatever the server's state. */
  closeNow(): void;
}

/** An ioredis client and its commands. */
export interface IoredisBench extends BenchRedisCommands {
  readonly library: 'ioredis';
  readonly client: Redis;
}

/** A node-redis client and its commands. */
export interface NodeRedisBench extends BenchRedisCommands {
  readonly library: 'node-redis';
  readonly client: NodeRedisClient;
}

/** One connected client of either library. */
export type BenchRedis = IoredisBench | NodeRedisBench;

/** The Redis the suites use: `REDIS_URL`, which `run.ts` sets before the suites load. */
export function benchRedisUrl(): string {
  return process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
}

/**
 * Settles like `connecting`, or rejects after {@link CONNECT_TIMEOUT_MS}; on either failure runs
 * `abandon`, so a client that failed to connect stops reconnecting in the background.
 */
async function connectWithin(connecting: Promise<unknown>, what: string, abandon: () => void) {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} could not connect within ${CONNECT_TIMEOUT_MS} ms`)),
      CONNECT_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([connecting, deadline]);
  } catch (error) {
    abandon();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Opens a connected client of `library` to `url` (default {@link benchRedisUrl}).
 * @throws when the server cannot be reached within 5 s.
 */
export async function openRedis(library: 'ioredis', url?: string): Promise<IoredisBench>;
export async function openRedis(library: 'node-redis', url?: string): Promise<NodeRedisBench>;
export async function openRedis(library: RedisClientLibrary, url?: string): Promise<BenchRedis>;
export async function openRedis(
  library: RedisClientLibrary,
  url: string = benchRedisUrl(),
): Promise<BenchRedis> {
  if (library === 'ioredis') {
    const client = new Redis(url, { lazyConnect: true });
    await connectWithin(client.connect(), 'ioredis', () => client.disconnect());
    return ioredisBench(client, url);
  }
  const client = newNodeRedisClient(url);
  // node-redis emits connection errors as events and crashes the process on an unheard one; a
  // command that fails still rejects, which is what a case reports.
  client.on('error', () => {});
  await connectWithin(client.connect(), 'node-redis', () => client.destroy());
  return nodeRedisBench(client, url);
}

function ioredisBench(client: Redis, url: string): IoredisBench {
  return {
    library: 'ioredis',
    client,
    ping: () => client.ping(),
    get: (key) => client.get(key),
    setPx: (key, value, ttlMs) => client.set(key, value, 'PX', ttlMs),
    scriptLoad: async (lua) => (await client.script('LOAD', lua)) as string,
    evalsha: (sha, keys, args) => client.evalsha(sha, keys.length, ...keys, ...args),
    xadd: (stream, fields) => client.xadd(stream, '*', ...fields),
    async deleteMatching(pattern) {
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await client.unlink(...keys);
      } while (cursor !== '0');
    },
    countScripts(counter) {
      const evalsha = client.evalsha.bind(client);
      const evalScript = client.eval.bind(client);
      Object.assign(client, {
        evalsha: (...args: Parameters<typeof evalsha>) => {
          counter.scripts++;
          return evalsha(...args);
        },
        eval: (...args: Parameters<typeof evalScript>) => {
          counter.scripts++;
          return evalScript(...args);
        },
      });
    },
    duplicate: () => openRedis('ioredis', url),
    close: async () => {
      await client.quit();
    },
    closeNow: () => client.disconnect(),
  };
}

function nodeRedisBench(client: NodeRedisClient, url: string): NodeRedisBench {
  return {
    library: 'node-redis',
    client,
    ping: () => client.ping(),
    get: (key) => client.get(key) as Promise<string | null>,
    setPx: (key, value, ttlMs) =>
      client.set(key, value, { expiration: { type: 'PX', value: ttlMs } }),
    scriptLoad: (lua) => client.scriptLoad(lua) as Promise<string>,
    evalsha: (sha, keys, args) => client.evalSha(sha, { keys: [...keys], arguments: [...args] }),
    xadd: (stream, fields) => {
      const message: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) message[fields[i]!] = fields[i + 1]!;
      return client.xAdd(stream, '*', message);
    },
    async deleteMatching(pattern) {
      for await (const keys of client.scanIterator({ MATCH: pattern, COUNT: 1000 })) {
        if (keys.length > 0) await client.unlink(keys);
      }
    },
    countScripts(counter) {
      // core's adapter sends every command of a node-redis client through `sendCommand`.
      const sendCommand = client.sendCommand.bind(client);
      Object.assign(client, {
        sendCommand: (...args: Parameters<typeof sendCommand>) => {
          const command = String(args[0][0]).toUpperCase();
          if (command === 'EVALSHA' || command === 'EVAL') counter.scripts++;
          return sendCommand(...args);
        },
      });
    },
    duplicate: () => openRedis('node-redis', url),
    close: async () => {
      await client.close();
    },
    closeNow: () => client.destroy(),
  };
}

/**
 * The name of the node-redis twin of the row `name`: a row named after ioredis (`ioredis GET
 * (raw)`) names node-redis instead; any other gets ` (node-redis)` appended. The ioredis row keeps
 * its name: run history and targets refer to it.
 */
export function nodeRedisTwinName(name: string): string {
  return name.includes('ioredis') ? name.replace('ioredis', 'node-redis') : `${name} (node-redis)`;
}

/** Options of {@link withNodeRedisTwin}. */
export interface TwinOptions {
  /**
   * Give the twin the ioredis row's targets. Only for targets measured against a case that does
   * not use Redis (a breaker without a store, say) or on the row's own counts, which both rows can
   * be held to alike; a
   * target against an ioredis reference row or a competitor on ioredis stays the ioredis row's.
   * @default false
   */
  readonly keepTargets?: boolean;
}

/**
 * The row `build('ioredis')` and its node-redis twin ({@link nodeRedisTwinOf}), made from the
 * same code.
 */
export function withNodeRedisTwin(
  build: (library: RedisClientLibrary) => BenchCase,
  options: TwinOptions = {},
): [BenchCase, BenchCase] {
  return [build('ioredis'), nodeRedisTwinOf(build, options)];
}

/**
 * The node-redis twin of the row `build('ioredis')`, made by `build('node-redis')`: named by
 * {@link nodeRedisTwinName}, naming the `redis` package where the ioredis row names `ioredis`,
 * taking no part in the competitor pairs of `bench/RESULTS.md` (no `role`), reporting its own
 * `counts`, and carrying targets only with {@link TwinOptions.keepTargets}. A `note` getter is read on the twin's own case each
 * time, so notes made from setup's measurements still work. Also makes a reference row of a
 * suite's ioredis baseline.
 */
export function nodeRedisTwinOf(
  build: (library: RedisClientLibrary) => BenchCase,
  { keepTargets = false }: TwinOptions = {},
): BenchCase {
  const ioredisCase = build('ioredis');
  const nodeCase = build('node-redis');
  return {
    name: nodeRedisTwinName(ioredisCase.name),
    fn: nodeCase.fn,
    library: nodeCase.library === 'ioredis' ? 'redis' : nodeCase.library,
    get note() {
      return nodeCase.note;
    },
    ...(nodeCase.counts !== undefined ? { counts: nodeCase.counts } : {}),
    ...(keepTargets && ioredisCase.targets !== undefined ? { targets: ioredisCase.targets } : {}),
  };
}
