/**
 * One small driver per DynamoDB store: builds the store on a recording client and runs every
 * operation of its scope (the interface the policy calls), including the paths that send other
 * requests (a refusal re-read, a dead letter, a poll). The packages are imported by name at run
 * time, as skeleton.test.ts does: the testkit cannot depend on them (their tests depend on it).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type Pattern, REPOSITORY } from './model.js';

/** What a driver gets. */
export interface DriverContext {
  /** The recording client the store is built on. */
  readonly client: DynamoDBClient;
  /** The real client under it (the write-behind queue's transaction stand-in is installed there). */
  readonly realClient: DynamoDBClient;
  /** A table made by `createTable()` (layout `store`). */
  readonly stateTable: string;
  /** A table made by `createTable(…, { layout: 'queue' })`. */
  readonly queueTable: string;
  /** The key prefix of the stores. */
  readonly prefix: string;
}

/** A driver and the interface it exercises. */
export interface StoreDriver {
  /** The source file and name of the scope's interface, whose every operation must be run. */
  readonly scopeInterface: readonly [file: string, name: string];
  /** The files that build the store's requests (checked statically too). */
  readonly sources: readonly string[];
  /** Runs every operation; `covered` wraps the scope so that the calls are counted. */
  run(context: DriverContext, covered: <T extends object>(scope: T) => T): Promise<void>;
}

type Module = Record<string, unknown>;
type Factory = (options?: unknown) => unknown;
type Store = { scope(...args: unknown[]): unknown; close(): Promise<void> };
type Policy = { close(): Promise<void> };

async function entry(specifier: string): Promise<Module> {
  return (await import(/* @vite-ignore */ specifier)) as Module;
}

async function factory(specifier: string, name: string): Promise<Factory> {
  const found = (await entry(specifier))[name];
  if (typeof found !== 'function') throw new Error(`${specifier} exports no ${name}()`);
  return found as Factory;
}

/**
 * Builds a policy on `store` and answers the scope the policy made of it (with the rules only the
 * policy builds), so the driver can run each operation itself.
 */
function scopeMadeBy<S>(
  store: Store,
  build: (store: Store) => Policy,
): { scope: S; policy: Policy } {
  const scopes: unknown[] = [];
  const capturing = new Proxy(store, {
    get: (target, property) =>
      property === 'scope'
        ? (...args: unknown[]) => {
            const scope = target.scope(...args);
            scopes.push(scope);
            return scope;
          }
        : Reflect.get(target, property, target),
  });
  const policy = build(capturing);
  if (scopes.length !== 1) throw new Error(`the policy made ${scopes.length} scopes, expected 1`);
  return { scope: scopes[0] as S, policy };
}

const signal = () => new AbortController().signal;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface BreakerScope {
  read(now: number): Promise<unknown>;
  record(batch: object, replica: string, now: number): Promise<unknown>;
  acquireProbe(token: string, now: number): Promise<unknown>;
  releaseProbe(token: string, result: string, now: number): Promise<unknown>;
  command(command: object, now: number): Promise<unknown>;
  seed(seed: object, now: number): Promise<unknown>;
  probe(signal: AbortSignal): PromiseLike<unknown>;
}

const circuitBreaker: StoreDriver = {
  scopeInterface: ['packages/circuit-breaker/src/store.ts', 'BreakerScope'],
  sources: ['packages/circuit-breaker/src/stores/dynamodb.ts'],
  async run({ client, stateTable, prefix }, covered) {
    const store = (await factory('@breakwater/circuit-breaker/dynamodb', 'dynamoStore'))({
      client,
      tableName: stateTable,
      prefix,
    }) as Store;
    const breaker = await factory('@breakwater/circuit-breaker', 'circuitBreaker');
    const made = scopeMadeBy<BreakerScope>(
      store,
      (capturing) => breaker({ name: 'iac', store: capturing, syncIntervalMs: 60_000 }) as Policy,
    );
    try {
      const scope = covered(made.scope);
      const now = Date.now();
      const seed = { state: 'closed', remainingMs: 0, consecutiveOpens: 0, consecutiveFailures: 0 };
      await scope.seed({ ...seed, calls: 0, failures: 0, slowCalls: 0 }, now);
      await scope.read(now);
      const failures = { successes: 0, failures: 50, slowCalls: 0, trailingFailures: 50 };
      await scope.record(failures, 'replica-a', now);
      // An hour later the break is over: the probe is granted, then succeeds.
      await scope.acquireProbe('probe-1', now + 3_600_000);
      await scope.releaseProbe('probe-1', 'success', now + 3_600_000);
      await scope.command({ type: 'isolate', forMs: 0 }, now);
      await scope.command({ type: 'reset' }, now);
      await scope.probe(signal());
    } finally {
      await made.policy.close();
      await store.close();
    }
  },
};

interface PermitScope {
  acquire(request: object, signal: undefined): Promise<{ granted: boolean; lease?: object }>;
  renew(lease: object, ttlMs: number, signal: undefined): Promise<boolean>;
  release(lease: object, signal: undefined): Promise<boolean>;
  waitForRelease(timeoutMs: number, signal: undefined, seen?: number): Promise<void>;
  readonly wakeups: number;
  probe(signal: AbortSignal): PromiseLike<unknown>;
  replicaBackend(): {
    heartbeat(id: string, ttlMs: number, signal: undefined): Promise<number>;
    leave(id: string, signal: undefined): Promise<void>;
  };
  close(): Promise<void>;
}

const bulkhead: StoreDriver = {
  scopeInterface: ['packages/bulkhead/src/store.ts', 'PermitScope'],
  sources: ['packages/bulkhead/src/stores/dynamodb.ts'],
  async run({ client, stateTable, prefix }, covered) {
    const store = (await factory('@breakwater/bulkhead/dynamodb', 'dynamoStore'))({
      client,
      tableName: stateTable,
      prefix,
      pollIntervalMs: 10,
    }) as Store;
    const scope = covered(store.scope({ name: 'iac', classes: ['default'] }) as PermitScope);
    try {
      const layout = { limit: 1, reserved: [0], max: [Number.POSITIVE_INFINITY] };
      const request = { classIndex: 0, layout, ttlMs: 10_000, refusedWaitMs: 1_000 };
      const granted = await scope.acquire({ ...request, leaseId: 'lease-1' }, undefined);
      if (!granted.granted || granted.lease === undefined) throw new Error('expected a grant');
      const refused = await scope.acquire({ ...request, leaseId: 'lease-2' }, undefined);
      if (refused.granted) throw new Error('expected a refusal');
      // Waiting polls the item for permits other replicas freed.
      await scope.waitForRelease(100, undefined, scope.wakeups);
      await scope.renew(granted.lease, 10_000, undefined);
      await scope.release(granted.lease, undefined);
      await scope.probe(signal());
      // The replica registry of the fleet-sized 'local' mode lives in the same table.
      const replicas = scope.replicaBackend();
      await replicas.heartbeat('replica-1', 60_000, undefined);
      await replicas.leave('replica-1', undefined);
    } finally {
      await scope.close();
      await store.close();
    }
  },
};

interface RateLimitHandle {
  consume(key: string, cost: number, minCost: number, now: number, s: undefined): Promise<unknown>;
  peek(key: string, cost: number, now: number, signal: undefined): Promise<unknown>;
  refund(key: string, cost: number, takenAt: number, now: number, s: undefined): Promise<unknown>;
  adjust(key: string, points: number, now: number, signal: undefined): Promise<unknown>;
  reset(key: string, signal: undefined): Promise<unknown>;
  probe(signal: AbortSignal): PromiseLike<unknown>;
  replicaBackend(): {
    heartbeat(replicaId: string, ttlMs: number, signal: undefined): Promise<number>;
    leave(replicaId: string, signal: undefined): Promise<void>;
  };
}

interface LimitsRecord {
  writeLimits(name: string, limits: string, signal: undefined): Promise<number>;
  readLimits(name: string, signal: undefined): Promise<unknown>;
}

const rateLimit: StoreDriver = {
  scopeInterface: ['packages/rate-limit/src/store.ts', 'StoreHandle'],
  sources: [
    'packages/rate-limit/src/stores/dynamodb.ts',
    'packages/rate-limit/src/stores/dynamodb-limits.ts',
  ],
  async run({ client, stateTable, prefix }, covered) {
    const store = (await factory('@breakwater/rate-limit/dynamodb', 'dynamoStore'))({
      client,
      tableName: stateTable,
      prefix,
    }) as Store;
    const limiter = await factory('@breakwater/rate-limit', 'rateLimiter');
    const made = scopeMadeBy<RateLimitHandle>(
      store,
      (capturing) =>
        limiter({ name: 'iac', limit: 2, intervalMs: 60_000, store: capturing }) as Policy,
    );
    try {
      const handle = covered(made.scope);
      const now = Date.now();
      await handle.consume('user-1', 1, 1, now, undefined);
      await handle.consume('user-1', 5, 5, now, undefined);
      await handle.peek('user-1', 1, now, undefined);
      await handle.refund('user-1', 1, now, now, undefined);
      await handle.adjust('user-1', 1, now, undefined);
      await handle.reset('user-1', undefined);
      await handle.probe(signal());
      // The replica registry: its item is under the limiter's own keys too.
      const replicas = handle.replicaBackend();
      await replicas.heartbeat('replica-1', 60_000, undefined);
      await replicas.leave('replica-1', undefined);
      // The limits setLimits(…, { fleet: true }) publishes, and every replica reads.
      const published = store as unknown as LimitsRecord;
      await published.writeLimits('iac', '[{"limit":2,"intervalMs":60000}]', undefined);
      await published.readLimits('iac', undefined);
    } finally {
      await made.policy.close();
      await store.close();
    }
  },
};

interface BudgetScope {
  record(request: { calls: number; withdraw: boolean }): Promise<{ granted: boolean }>;
  probe(signal: AbortSignal): PromiseLike<unknown>;
}

const retryBudget: StoreDriver = {
  scopeInterface: ['packages/retry/src/store.ts', 'BudgetScope'],
  sources: ['packages/retry/src/stores/dynamodb.ts'],
  async run({ client, stateTable, prefix }, covered) {
    const store = (await factory('@breakwater/retry/dynamodb', 'dynamoBudgetStore'))({
      client,
      tableName: stateTable,
      prefix,
    }) as Store;
    try {
      const spec = { ratio: 0.5, reserve: 1, windowMs: 10_000, slotMs: 1_000 };
      const scope = covered(store.scope({ name: 'iac', spec }) as BudgetScope);
      await scope.record({ calls: 2, withdraw: false });
      // Withdraw until refused: a refusal decided on the cached item is re-read first.
      for (let i = 0; i < 5; i++) await scope.record({ calls: 0, withdraw: true });
      await scope.probe(signal());
    } finally {
      await store.close();
    }
  },
};

interface CacheScope {
  get(key: string): Promise<unknown>;
  set(key: string, write: object): Promise<unknown>;
  delete(key: string, origin: string): Promise<unknown>;
  getTagVersions(tags: readonly string[]): Promise<unknown>;
  bumpTags(tags: readonly string[], origin: string): Promise<unknown>;
  acquireLease(key: string, token: string, ttlMs: number, seen: number): Promise<unknown>;
  releaseLease(key: string, token: string): Promise<unknown>;
  extendLease(key: string, token: string, ttlMs: number): Promise<unknown>;
  probe(signal: AbortSignal): PromiseLike<unknown>;
}

const cache: StoreDriver = {
  scopeInterface: ['packages/cache/src/store.ts', 'CacheScope'],
  sources: ['packages/cache/src/stores/dynamodb.ts'],
  async run({ client, stateTable, prefix }, covered) {
    const store = (await factory('@breakwater/cache/dynamodb', 'dynamoStore'))({
      client,
      tableName: stateTable,
      prefix,
    }) as Store;
    try {
      const scope = covered(store.scope('iac') as CacheScope);
      await scope.set('key-1', { record: 'one', ttlMs: 60_000, origin: 'iac' });
      await scope.set('key-1', { record: 'two', ttlMs: 60_000, origin: 'iac', expectVersion: 0 });
      await scope.get('key-1');
      await scope.get('missing');
      await scope.acquireLease('key-2', 'token', 5_000, 0);
      await scope.acquireLease('key-2', 'other', 5_000, 0);
      await scope.extendLease('key-2', 'token', 5_000);
      await scope.releaseLease('key-2', 'token');
      await scope.delete('key-1', 'iac');
      await scope.getTagVersions(['t', 'u']);
      await scope.bumpTags(['t'], 'iac');
      await scope.probe(signal());
    } finally {
      await store.close();
    }
  },
};

interface QueuedWrite {
  readonly id: string;
}

interface WriteQueueScope {
  append(key: string, payload: string, options: object): Promise<number>;
  appendMany?(items: readonly object[], maxPending: number): Promise<unknown>;
  claim(consumer: string, max: number, claimIdleMs: number): Promise<QueuedWrite[]>;
  touch(consumer: string, ids: readonly string[]): Promise<void>;
  complete(ids: readonly string[]): Promise<void>;
  fail(entry: QueuedWrite, error: string, maxAttempts: number): Promise<unknown>;
  pending(): Promise<number>;
  backlog(): Promise<unknown>;
  listDeadLetters(limit: number, after?: string): Promise<QueuedWrite[]>;
  deleteDeadLetters(ids: readonly string[]): Promise<number>;
  probe(signal: AbortSignal): PromiseLike<unknown>;
}

/** The stand-in for the transactions dynalite lacks, which the cache's own tests use. */
const DYNALITE_TRANSACTIONS = 'packages/cache/src/__tests__/dynalite-transactions.ts';

const writeBehindQueue: StoreDriver = {
  scopeInterface: ['packages/cache/src/write-behind/queue.ts', 'WriteQueueScope'],
  sources: [
    'packages/cache/src/write-behind/dynamodb-key-versions.ts',
    'packages/cache/src/write-behind/dynamodb-queue-requests.ts',
    'packages/cache/src/write-behind/dynamodb-queue-scope.ts',
    'packages/cache/src/write-behind/dynamodb-queue.ts',
  ],
  async run({ client, realClient, queueTable, prefix }, covered) {
    const transactions = await entry(join(REPOSITORY, DYNALITE_TRANSACTIONS));
    (transactions.emulateTransactions as (client: DynamoDBClient) => unknown)(realClient);
    const queue = (await factory('@breakwater/cache/dynamodb', 'dynamoWriteBehindQueue'))({
      client,
      tableName: queueTable,
      prefix,
    }) as Store;
    try {
      const scope = covered(queue.scope('iac') as WriteQueueScope);
      await scope.append('key-1', 'one', { version: undefined, maxPending: 10 });
      await scope.append('key-2', 'two', { version: 7, maxPending: 10 });
      await scope.appendMany?.([{ key: 'key-3', payload: 'three', version: undefined }], 10);
      // A full queue refuses the append (the transaction's condition fails).
      await scope.append('key-4', 'four', { version: undefined, maxPending: 1 }).catch(() => {});
      const claimed = await scope.claim('consumer-1', 10, 60_000);
      if (claimed.length < 2)
        throw new Error(`expected two claimed entries, got ${claimed.length}`);
      await scope.touch(
        'consumer-1',
        claimed.map((write) => write.id),
      );
      await sleep(5);
      // Idle entries are claimed again (the index range of held entries).
      await scope.claim('consumer-2', 10, 1);
      await scope.fail(claimed[0]!, 'failed once', 5);
      await scope.fail(claimed[1]!, 'failed for good', 1);
      await scope.complete(claimed.slice(2).map((write) => write.id));
      await scope.complete([claimed[0]!.id]);
      await scope.pending();
      await scope.backlog();
      const letters = await scope.listDeadLetters(10);
      await scope.listDeadLetters(10, letters[0]?.id);
      await scope.deleteDeadLetters(letters.map((letter) => letter.id));
      await scope.probe(signal());
    } finally {
      await queue.close();
    }
  },
};

interface DeadLetterEntry {
  readonly id: string;
}

interface DeadLetterQueue {
  append(failure: object): Promise<string>;
  list(options?: object): Promise<DeadLetterEntry[]>;
  get(id: string): Promise<unknown>;
  streams(): Promise<string[]>;
  size(stream?: string): Promise<number>;
  replay(id: string, fn: (entry: DeadLetterEntry) => unknown): Promise<boolean>;
  replayAll(fn: (entry: DeadLetterEntry) => unknown, options?: object): Promise<unknown>;
  remove(id: string): Promise<boolean>;
  trim(options: object): Promise<number>;
  onStoreStatusChange(listener: () => void): () => void;
  close(): Promise<void>;
}

const retryDeadLetters: StoreDriver = {
  scopeInterface: ['packages/retry/src/dead-letter-queue.ts', 'DeadLetterQueue'],
  sources: ['packages/retry/src/stores/dynamodb-dead-letters.ts'],
  async run({ client, queueTable, prefix }, covered) {
    const queue = covered(
      (await factory('@breakwater/retry/dynamodb', 'dynamoDeadLetters'))({
        client,
        tableName: queueTable,
        prefix,
        claimMs: 60_000,
      }) as DeadLetterQueue,
    );
    const failure = (input: number) => ({
      policyName: 'iac',
      reason: 'max-attempts',
      attempts: 2,
      elapsedMs: 1,
      startedAt: 0,
      error: new Error('down'),
      result: undefined,
      ok: false,
      input,
      budgetError: undefined,
    });
    try {
      queue.onStoreStatusChange(() => {})();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push(await queue.append(failure(i)));
      await queue.list();
      await queue.list({ stream: 'iac', count: 2, after: ids[0] });
      await queue.get(ids[0]!);
      await queue.streams();
      await queue.size('iac');
      // A failed replay (the claim released with its count), a successful one (deleted under the
      // claim), and inside replayAll a claim refused (the entry replayed meanwhile: a re-read).
      await queue.replay(ids[0]!, () => Promise.reject(new Error('still down'))).catch(() => {});
      await queue.replay(ids[0]!, () => {});
      await queue.replayAll(
        async (entry) => {
          if (entry.id === ids[1]) await queue.replay(ids[2]!, () => {});
        },
        { stream: 'iac', stopOnError: true },
      );
      await queue.append(failure(9));
      await queue.append(failure(10));
      const [left] = await queue.list();
      await queue.remove(left!.id);
      await queue.trim({ maxEntries: 0 });
    } finally {
      await queue.close();
    }
  },
};

/** The driver of each pattern's store. */
export const DRIVERS: Readonly<Record<Pattern, StoreDriver>> = {
  'circuit-breaker': circuitBreaker,
  bulkhead,
  'rate-limit': rateLimit,
  'retry-budget': retryBudget,
  cache,
  'write-behind-queue': writeBehindQueue,
  'retry-dead-letters': retryDeadLetters,
};

/**
 * The operations of an interface, read from its source: methods (`name(`, `name?(`) and
 * function-typed properties (`readonly name?: (…) =>`).
 */
export function interfaceOperations(file: string, name: string): string[] {
  const source = readFileSync(join(REPOSITORY, file), 'utf8');
  const start = source.search(new RegExp(`^export interface ${name}\\b[^{]*\\{`, 'm'));
  if (start < 0) throw new Error(`${file} declares no interface ${name}`);
  const end = source.indexOf('\n}', start);
  const body = source.slice(start, end);
  const operations = new Set<string>();
  for (const [, method] of body.matchAll(/^ {2}(?:readonly )?(\w+)\??(?:<[^>]*>)?\(/gm)) {
    operations.add(method!);
  }
  for (const [, property] of body.matchAll(/^ {2}(?:readonly )?(\w+)\??: \(*\(/gm)) {
    operations.add(property!);
  }
  return [...operations].sort();
}
