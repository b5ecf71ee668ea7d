import {
  type ClientOf,
  closeClientNow,
  connectWithDefaults,
  type FaultyBackend,
  REDIS_CLIENT_LIBRARIES,
  type RedisClientLibrary,
  type StoreAddress,
  type StoreClient,
} from './default-clients.js';
import type { ClusterNodeAddress } from './redis-cluster.js';

/** What a faulty store currently does. */
export type FaultState = 'healthy' | 'refused' | 'hung';

/** A fault a {@link FaultyStore} can inject. */
export type Fault = 'refuse' | 'hang';

/** Both faults, in the order the degradation suite runs them. */
export const ALL_FAULTS: readonly Fault[] = ['refuse', 'hang'];

/** What {@link startFaultyStore} may be told besides the backend. */
export interface FaultyStoreOptions<L extends RedisClientLibrary = RedisClientLibrary> {
  /**
   * Redis backends: the client library `newClient()` builds and `address.client` names (a child
   * process building its client from the address uses it too). Ignored for `dynamodb`.
   * @default 'ioredis'
   */
  client?: L;
}

/** What every faulty store offers; see {@link startFaultyStore}. */
export interface FaultyStoreBase<
  B extends FaultyBackend,
  L extends RedisClientLibrary = 'ioredis',
> {
  /** The backend. */
  readonly backend: B;
  /** Where it listens, JSON-serialisable (pass it to a child process). Never changes. */
  readonly address: StoreAddress & { backend: B };
  /** What it currently does. */
  readonly state: FaultState;
  /** Process ids of its server processes now (none for dynalite, which runs in this process). */
  readonly pids: readonly number[];
  /**
   * Connections are refused, as when the server crashed: Redis processes are SIGKILLed; the
   * dynalite proxy stops listening and destroys its connections. Data in Redis is lost
   * (persistence is off); DynamoDB items survive (dynalite itself keeps running behind the proxy).
   */
  refuse(): Promise<void>;
  /**
   * Connections are accepted (or stay open) but nothing is answered: Redis processes get SIGSTOP;
   * the dynalite proxy holds all traffic. Requests sent meanwhile are answered after `restore()`.
   */
  hang(): Promise<void>;
  /** Injects `fault` (`refuse()` or `hang()`). */
  inject(fault: Fault): Promise<void>;
  /**
   * Healthy again on the same address: SIGCONT, or a restart on the same port(s) (the cluster
   * restarts every node from its kept `nodes.conf`, so slots and node ids come back), or the proxy
   * passes traffic again. Resolves once the store answers. A no-op when healthy.
   */
  restore(): Promise<void>;
  /**
   * The longest a client built by {@link newClient} may take, after `restore()` resolved, to reach
   * the store again when the fault lasted `outageMs`; it depends on the client's reconnect backoff
   * (README, "Faulty stores"). 0 when the client keeps or reopens connections on demand.
   */
  reconnectBoundMs(fault: Fault, outageMs: number): number;
  /**
   * How long a client from {@link newClient}, closed with `closeClientNow()` during `fault`, may
   * itself keep a process alive: 0, except on a refused store for ioredis `Cluster`, where every
   * failed slot refresh left a connection whose `disconnect()` armed a `disconnectTimeout` timer
   * (2 s by default) that nothing clears, and for node-redis, whose pending reconnect wait
   * (up to 2.2 s) is a timer `destroy()` does not cancel (README, "Faulty stores").
   */
  clientLingerMs(fault: Fault): number;
  /**
   * A new client with the library's default settings (see `connectWithDefaults`), closed at once
   * (`disconnect()` / `destroy()`) by {@link stop} if the test has not closed it.
   */
  newClient(): ClientOf<B, L>;
  /** Closes the clients it made and stops the servers (resuming stopped ones first). Idempotent. */
  stop(): Promise<void>;
}

/** A private standalone `redis-server` that can be broken, its clients built with `L`. */
export interface FaultyRedis<L extends RedisClientLibrary = 'ioredis'>
  extends FaultyStoreBase<'redis', L> {
  /** The client library of `newClient()`; `address.client` names it too. */
  readonly clientLibrary: L;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
}

/** A private 3-master Redis Cluster that can be broken (every node at once), clients built with `L`. */
export interface FaultyRedisCluster<L extends RedisClientLibrary = 'ioredis'>
  extends FaultyStoreBase<'redis-cluster', L> {
  /** The client library of `newClient()`; `address.client` names it too. */
  readonly clientLibrary: L;
  /** The master nodes' addresses. */
  readonly nodes: ClusterNodeAddress[];
}

/** An in-process dynalite behind a fault proxy, with a table created. */
export interface FaultyDynamo extends FaultyStoreBase<'dynamodb'> {
  /** `http://127.0.0.1:<proxy port>`. */
  readonly endpoint: string;
  /** A table shaped like `createTestTable`'s (string partition key `pk`). */
  readonly tableName: string;
}

/** Any faulty store, with clients of any library. */
export type FaultyStore =
  | FaultyRedis<RedisClientLibrary>
  | FaultyRedisCluster<RedisClientLibrary>
  | FaultyDynamo;

/** The faulty store type of a backend (and, for Redis, of its clients' library). */
export type FaultyStoreOf<
  B extends FaultyBackend,
  L extends RedisClientLibrary = 'ioredis',
> = B extends 'redis'
  ? FaultyRedis<L>
  : B extends 'redis-cluster'
    ? FaultyRedisCluster<L>
    : FaultyDynamo;

/**
 * Starts a store of `backend` that a test can break and mend: `refuse()`, `hang()`, `restore()`.
 * Redis backends are private `redis-server` processes on free ports (never the shared Redis at
 * `REDIS_URL`), known to the child reaper and the global teardown like every testkit server;
 * their clients are ioredis, or node-redis with `{ client: 'node-redis' }`. DynamoDB is dynalite
 * in process behind a TCP fault proxy. Call `stop()` when done (an `afterAll`): it also closes
 * every client from `newClient()`.
 * @throws {RangeError} naming `backend` or `client` and the received value, when unknown.
 */
export async function startFaultyStore<
  B extends FaultyBackend,
  L extends RedisClientLibrary = 'ioredis',
>(backend: B, options: FaultyStoreOptions<L> = {}): Promise<FaultyStoreOf<B, L>> {
  const library = options.client ?? 'ioredis';
  if (!REDIS_CLIENT_LIBRARIES.includes(library)) {
    throw new RangeError(
      `Expected \`client\` to be one of ${REDIS_CLIENT_LIBRARIES.join(', ')}, got ${String(library)}`,
    );
  }
  // Imported on demand: a suite for one backend need not load the others' fixtures.
  switch (backend) {
    case 'redis': {
      const { startFaultyRedis } = await import('./faulty-redis.js');
      return (await startFaultyRedis(library)) as FaultyStoreOf<B, L>;
    }
    case 'redis-cluster': {
      const { startFaultyRedisCluster } = await import('./faulty-redis-cluster.js');
      return (await startFaultyRedisCluster(library)) as FaultyStoreOf<B, L>;
    }
    case 'dynamodb': {
      const { startFaultyDynamo } = await import('./faulty-dynamo.js');
      return (await startFaultyDynamo()) as FaultyStoreOf<B, L>;
    }
    default:
      throw new RangeError(
        `Expected a backend of 'redis', 'redis-cluster' or 'dynamodb', got ${String(backend)}`,
      );
  }
}

/** The clients a faulty store made, closed at once on stop. */
export class TrackedClients<B extends FaultyBackend, L extends RedisClientLibrary = 'ioredis'> {
  readonly #clients = new Set<StoreClient>();

  constructor(private readonly address: StoreAddress & { backend: B }) {}

  /** A new default client (of the address's library), tracked. */
  create(): ClientOf<B, L> {
    const client = connectWithDefaults(this.address as StoreAddress);
    this.#clients.add(client);
    return client as ClientOf<B, L>;
  }

  /** Closes every tracked client now. */
  closeAll(): void {
    for (const client of this.#clients) closeClientNow(client);
    this.#clients.clear();
  }
}

/**
 * Runs the state changes of one faulty store one at a time, so a test that (wrongly) overlaps
 * `refuse()` and `restore()` still sees them applied in call order.
 */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  /** Runs `step` after every step queued before it; resolves or rejects with it. */
  run<T>(step: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(step, step);
    this.#tail = next.catch(() => undefined);
    return next;
  }
}
