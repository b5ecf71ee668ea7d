/**
 * The DynamoDB permit store: one item per bulkhead holding its live leases and its fencing
 * counter, changed by versioned conditional writes (`conditionalUpdate` of core).
 *
 * Item shape (partition key `pk` = `<prefix>:bulkhead:<name>:permits:`):
 *
 * | attribute | type | meaning                                                          |
 * |-----------|------|------------------------------------------------------------------|
 * | `leases`  | M    | lease id → `{ c: S <class name>, e: N <expiry, epoch ms> }`      |
 * | `fence`   | N    | the last fencing token handed out                                |
 * | `version` | N    | bumped by every write; the condition of the next one             |
 *
 * The item has no `ttl`: it is one small item per bulkhead, and deleting it would restart the
 * fencing tokens. Expired leases are pruned by every write instead.
 *
 * Under `onStoreError: 'local'` the bulkhead's replica registry keeps a second item,
 * `<prefix>:bulkhead:<name>:replicas:` (core's `dynamoReplicaBackend`: one attribute per live
 * replica, and a `ttl`), written once per `replicaRenewIntervalMs` by each replica.
 *
 * Round trips: the store keeps the item it last saw, so in the steady state a grant, a renewal or
 * a release is one UpdateItem. A stale copy costs a conflict and a retry (on DynamoDB the failed
 * write returns the current item; emulators without that also pay a GetItem). A refusal decided
 * on the cached copy is confirmed with a consistent read before it is believed.
 *
 * Clock: lease expiry uses this process's clock. Replicas whose clocks differ by S ms see a lease
 * expire up to S ms early or late, so keep S far below `leaseTtlMs` (NTP keeps it in the ms).
 *
 * Wake-ups: DynamoDB cannot push. A release in this process wakes this process's waiters at once;
 * waiters elsewhere are woken by one shared poll per bulkhead and process (a consistent GetItem
 * every `pollIntervalMs` while anyone waits), which sees permits freed by other replicas.
 */
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import {
  type Clock,
  expectNonEmptyString,
  expectPositive,
  type ReplicaBackend,
  STORE_DEFAULTS,
  systemClock,
  warnUnknownOptions,
} from '@breakwater/core';
import {
  conditionalUpdate,
  type DynamoItem,
  dynamoProbe,
  dynamoReplicaBackend,
  isStoreConflictError,
  keyBuilder,
  PARTITION_KEY,
  type UpdatePlan,
} from '@breakwater/core/dynamodb';
import { admits } from '../admission.js';
import { DYNAMO_STORE_OPTIONS } from '../known-options.js';
import type {
  AcquireRequest,
  AcquireResult,
  Lease,
  PermitScope,
  PermitScopeOptions,
  PermitStore,
} from '../store.js';
import { ReleaseWaiters } from './release-waiters.js';

/** Options of {@link dynamoStore}. */
export interface DynamoStoreOptions {
  /** Your DynamoDB client; the store never destroys it. */
  client: DynamoDBClient;
  /** The Breakwater table (string partition key `pk`); `createTable()` of core makes one. */
  tableName: string;
  /** First segment of every key (tenant or environment isolation). @default 'bw' */
  prefix?: string | undefined;
  /**
   * How often one shared read per bulkhead looks for permits freed by other replicas while calls
   * of this process wait, in milliseconds.
   * @default 100
   */
  pollIntervalMs?: number | undefined;
  /** Conditional writes attempted per operation before a conflict counts as a failure. @default 8 */
  maxAttempts?: number | undefined;
  /** Time source for lease expiry. @default systemClock */
  clock?: Clock | undefined;
}

/**
 * A permit store in DynamoDB, for fleet-wide bulkheads. `close()` stops its polls; it never
 * destroys your client.
 *
 * @example
 * const store = dynamoStore({ client: new DynamoDBClient({}), tableName: 'breakwater' });
 * const db = bulkhead({ name: 'db', maxConcurrent: 40, maxQueue: 100, store });
 *
 * @throws {TypeError | RangeError} naming the option, for invalid options.
 */
export function dynamoStore(options: DynamoStoreOptions): PermitStore {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`Expected \`options\` to be an object, got ${String(options)}`);
  }
  warnUnknownOptions('dynamoStore()', options, { known: DYNAMO_STORE_OPTIONS });
  if (typeof (options.client as { send?: unknown } | undefined)?.send !== 'function') {
    throw new TypeError(
      `Expected \`client\` to be a DynamoDBClient, got ${String(options.client)}`,
    );
  }
  const settings: Settings = {
    client: options.client,
    tableName: expectNonEmptyString('tableName', options.tableName),
    prefix: options.prefix,
    pollIntervalMs: expectPositive('pollIntervalMs', options.pollIntervalMs ?? 100),
    maxAttempts: options.maxAttempts ?? 8,
    clock: options.clock ?? systemClock,
  };
  const scopes = new Set<DynamoScope>();
  const close = async (): Promise<void> => {
    for (const scope of scopes) await scope.close();
    scopes.clear();
  };
  return {
    kind: 'dynamodb',
    scope: (scopeOptions) => {
      const scope = new DynamoScope(settings, scopeOptions);
      scopes.add(scope);
      return scope;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

interface Settings {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  readonly prefix: string | undefined;
  readonly pollIntervalMs: number;
  readonly maxAttempts: number;
  readonly clock: Clock;
}

interface LiveLease {
  readonly id: string;
  readonly className: string;
  readonly expiresAt: number;
}

/** The leases of an item that are still live at `now`. */
function liveLeases(item: DynamoItem | undefined, now: number): LiveLease[] {
  const map = item?.leases?.M;
  if (map === undefined) return [];
  const live: LiveLease[] = [];
  for (const id in map) {
    const fields = map[id]?.M;
    const expiresAt = Number(fields?.e?.N);
    if (fields?.c?.S !== undefined && expiresAt > now)
      live.push({ id, className: fields.c.S, expiresAt });
  }
  return live;
}

function leasesAttribute(leases: readonly LiveLease[]): AttributeValue {
  const map: Record<string, AttributeValue> = {};
  for (const lease of leases) {
    map[lease.id] = { M: { c: { S: lease.className }, e: { N: String(lease.expiresAt) } } };
  }
  return { M: map };
}

class DynamoScope implements PermitScope {
  /** DynamoDB requests honour their signal: each gets one that aborts at the store deadline. */
  readonly abortable = true;
  /** A GetItem of the bulkhead's item, projected to its key. */
  readonly probe: (signal: AbortSignal) => Promise<unknown>;
  private readonly key: DynamoItem;
  /** The replica registry's item, `<prefix>:bulkhead:<name>:replicas:`. */
  private readonly replicasPk: string;
  private readonly classes: readonly string[];
  /** The item as last seen; `undefined` when unknown (read before the next write). */
  private cached: DynamoItem | null | undefined;
  private readonly releaseWaiters = new ReleaseWaiters({
    onWait: () => this.startPolling(),
    onEmpty: () => this.stopPolling(),
  });
  private poller: NodeJS.Timeout | undefined;
  /** Aborts the poll in flight, if any: one at a time, none left behind by `close()`. */
  private polling: AbortController | undefined;
  private lastLiveCount = Number.POSITIVE_INFINITY;
  /** The end of the chain that runs this scope's writes one at a time. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly settings: Settings,
    options: PermitScopeOptions,
  ) {
    const keys = keyBuilder({ prefix: settings.prefix, pattern: 'bulkhead', name: options.name });
    const pk = keys.dynamoPk('', 'permits');
    this.key = { [PARTITION_KEY]: { S: pk } };
    this.replicasPk = keys.dynamoPk('', 'replicas');
    this.classes = options.classes;
    this.probe = dynamoProbe(settings.client, settings.tableName, pk);
  }

  /** One item (with a `ttl`), one attribute per live replica: one UpdateItem per heartbeat. */
  replicaBackend(): ReplicaBackend {
    return dynamoReplicaBackend(this.settings.client, this.settings.tableName, this.replicasPk);
  }

  /**
   * Applies `build` to the item. A `negative` outcome (no write) decided on the cached copy is
   * re-decided on a fresh read, because the copy may predate releases by other replicas.
   */
  private update<R>(
    operation: string,
    build: (current: DynamoItem | undefined, now: number) => UpdatePlan<R> | null,
    negative: (result: R | undefined) => boolean,
    signal: AbortSignal | undefined,
  ): Promise<R | undefined> {
    // Writes of one process to the one item would only conflict with each other: queue them.
    const run = this.tail.then(() => this.updateNow(operation, build, negative, signal));
    this.tail = run.catch(() => {});
    return run;
  }

  private async updateNow<R>(
    operation: string,
    build: (current: DynamoItem | undefined, now: number) => UpdatePlan<R> | null,
    negative: (result: R | undefined) => boolean,
    signal: AbortSignal | undefined,
  ): Promise<R | undefined> {
    if (signal?.aborted) throw signal.reason;
    for (let fresh = this.cached === undefined; ; fresh = true) {
      const outcome = await conditionalUpdate<R>({
        client: this.settings.client,
        tableName: this.settings.tableName,
        key: this.key,
        current: fresh ? undefined : this.cached,
        build: (current) => build(current, this.settings.clock.now()),
        maxAttempts: this.settings.maxAttempts,
        // Contention is between a few replicas on one item: short backoffs keep a decision fast.
        baseDelayMs: 2,
        maxDelayMs: 25,
        operation: `bulkhead.${operation}`,
        signal,
      });
      this.cached = outcome.item ?? null;
      if (outcome.updated || fresh || !negative(outcome.result)) return outcome.result;
    }
  }

  async acquire(request: AcquireRequest, signal: AbortSignal | undefined): Promise<AcquireResult> {
    const className = this.classes[request.classIndex]!;
    try {
      const result = await this.update<AcquireResult>(
        'acquire',
        (current, now) => {
          const live = liveLeases(current, now);
          const held = new Array<number>(this.classes.length).fill(0);
          let earliest = Number.POSITIVE_INFINITY;
          for (const lease of live) {
            const index = this.classes.indexOf(lease.className);
            if (index >= 0) held[index]!++;
            earliest = Math.min(earliest, lease.expiresAt);
          }
          if (!admits(request.layout, held, request.classIndex)) {
            const retryAfterMs = Number.isFinite(earliest)
              ? Math.max(1, earliest - now)
              : undefined;
            return { result: { granted: false, retryAfterMs } };
          }
          const fencingToken = Number(current?.fence?.N ?? 0) + 1;
          live.push({ id: request.leaseId, className, expiresAt: now + request.ttlMs });
          return {
            set: { leases: leasesAttribute(live), fence: { N: String(fencingToken) } },
            result: {
              granted: true,
              lease: { id: request.leaseId, classIndex: request.classIndex, fencingToken },
            },
          };
        },
        (result) => result?.granted === false,
        signal,
      );
      return result!;
    } catch (error) {
      // Losing every race to other replicas means the permits are busy, not that DynamoDB failed.
      if (isStoreConflictError(error)) {
        this.cached = undefined;
        return { granted: false, retryAfterMs: this.settings.pollIntervalMs };
      }
      throw error;
    }
  }

  async renew(lease: Lease, ttlMs: number, signal: AbortSignal | undefined): Promise<boolean> {
    const alive = await this.update<boolean>(
      'renew',
      (current, now) => {
        const live = liveLeases(current, now);
        const own = live.find((l) => l.id === lease.id);
        if (own === undefined) return { result: false };
        const renewed = live.map((l) => (l === own ? { ...l, expiresAt: now + ttlMs } : l));
        return { set: { leases: leasesAttribute(renewed) }, result: true };
      },
      (result) => result === false,
      signal,
    );
    return alive === true;
  }

  async release(lease: Lease, signal: AbortSignal | undefined): Promise<boolean> {
    const removed = await this.update<boolean>(
      'release',
      (current, now) => {
        const live = liveLeases(current, now);
        const rest = live.filter((l) => l.id !== lease.id);
        if (rest.length === live.length) return { result: false };
        return { set: { leases: leasesAttribute(rest) }, result: true };
      },
      (result) => result === false,
      signal,
    );
    this.wakeAll();
    return removed === true;
  }

  get wakeups(): number {
    return this.releaseWaiters.wakeups;
  }

  waitForRelease(timeoutMs: number, signal: AbortSignal | undefined, seen?: number): Promise<void> {
    return this.releaseWaiters.wait(systemClock, timeoutMs, signal, seen);
  }

  close(): Promise<void> {
    this.stopPolling();
    return Promise.resolve();
  }

  private startPolling(): void {
    if (this.poller !== undefined) return;
    this.lastLiveCount = liveLeases(this.cached ?? undefined, this.settings.clock.now()).length;
    this.poller = setInterval(() => void this.poll(), this.settings.pollIntervalMs);
    // A waiting call keeps the process alive through its own timer; the poll must not.
    this.poller.unref();
  }

  private stopPolling(): void {
    clearInterval(this.poller);
    this.poller = undefined;
    this.polling?.abort();
    this.polling = undefined;
  }

  /** One shared read: wakes the waiters when fewer leases are live than at the last look. */
  private async poll(): Promise<void> {
    // A hung table must not pile up one pending read per interval.
    if (this.polling !== undefined) return;
    const polling = new AbortController();
    this.polling = polling;
    // Like every store request, bounded by a deadline (the store serves bulkheads of any
    // deadline: the shared default). The timer is unref'd: it keeps no process alive.
    const deadline = setTimeout(() => polling.abort(), STORE_DEFAULTS.deadlineMs);
    deadline.unref();
    let item: DynamoItem | undefined;
    try {
      const output = await this.settings.client.send(
        new GetItemCommand({
          TableName: this.settings.tableName,
          Key: this.key,
          ConsistentRead: true,
        }),
        { abortSignal: polling.signal },
      );
      item = output.Item;
    } catch {
      // The waiters' own timeouts still bound their wait; a failed poll only delays them.
      return;
    } finally {
      clearTimeout(deadline);
      if (this.polling === polling) this.polling = undefined;
    }
    this.cached = item ?? null;
    const count = liveLeases(item, this.settings.clock.now()).length;
    const freed = count < this.lastLiveCount;
    this.lastLiveCount = count;
    if (freed) this.wakeAll();
  }

  private wakeAll(): void {
    this.releaseWaiters.wakeAll();
  }
}
