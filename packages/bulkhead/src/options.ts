/**
 * Options of `bulkhead()`, their defaults, and their validation into the resolved form the policy
 * runs on. Defaults here are mirrored in the README's options table.
 */
import {
  type Clock,
  DEFAULT_REPLICA_RENEW_INTERVAL_MS,
  DEFAULT_REPLICA_TTL_MS,
  describeValue,
  expectInteger,
  expectNonEmptyString,
  expectNonNegative,
  expectObject,
  expectOneOf,
  expectPositive,
  type OnStoreError,
  type ReplicaTiming,
  resolveReplicaTiming,
  resolveStoreOptions,
  STORE_DEFAULTS,
  type StoreSettings,
  systemClock,
} from '@breakwater/core';
import type { AdaptiveLimit } from './adaptive/limit.js';
import type { PermitStore } from './store.js';

/** Order in which queued calls get freed slots. */
export type QueueOrder = 'fifo' | 'lifo';

/**
 * What a fleet bulkhead does when its permit store fails, misses its deadline or is degraded
 * (core's `OnStoreError`, the same three modes in every pattern).
 */
export type { OnStoreError };

/** One priority class. */
export interface PriorityClassOptions {
  /**
   * Slots only this class may use. They stay free for it however busy the other classes are.
   * @default 0
   */
  reserved?: number | undefined;
  /**
   * The most calls of this class that may run at once: its reserved slots plus the shared slots
   * it may borrow. Must be at least `reserved`.
   * @default no cap beyond the bulkhead's limit
   */
  max?: number | undefined;
  /**
   * How many calls of this class may wait for a slot; each class has a queue of its own, so a
   * flood in one class never fills another's.
   * @default the bulkhead's `maxQueue`
   */
  maxQueue?: number | undefined;
  /**
   * How long a call of this class may wait, in milliseconds.
   * @default the bulkhead's `maxWaitMs`
   */
  maxWaitMs?: number | undefined;
}

/**
 * The cap of one key, from a function of the key: per-tenant caps (a plan per tenant). Called
 * synchronously when a key that is not tracked (no call of it running or waiting) gets a call;
 * must return an integer >= 1.
 */
export type PerKeyCap = (key: string) => number;

/** Per-key isolation: caps on any one key (a tenant, a user) inside the bulkhead. */
export interface PerKeyOptions {
  /**
   * The most calls with the same `key` that may run at once: an integer >= 1, or a function of
   * the key returning one. The function's answer holds while the key is tracked (it has calls
   * running or waiting) and is asked again once the key was idle; a call whose key's function
   * throws or returns anything else is rejected with a `PerKeyCapError`.
   */
  maxConcurrent: number | PerKeyCap;
  /**
   * The most calls with the same `key` that may wait at once.
   * @default no cap beyond the class's `maxQueue`
   */
  maxQueue?: number | undefined;
}

/**
 * Options of `bulkhead()`: the options every bulkhead takes, and its limit — a fixed
 * `maxConcurrent` or an adaptive `limit`, exactly one of the two.
 *
 * `K` is the names of its priority classes (the keys of `classes`; `'default'` without
 * `classes`): `defaultPriority` and each call's `priority` must be one of them.
 *
 * @example
 * bulkhead({ maxConcurrent: 40, classes: { critical: { reserved: 20 }, batch: {} } });
 * bulkhead({ limit: adaptive({ algorithm: 'gradient', min: 4, max: 64 }) });
 * // @ts-expect-error: neither `maxConcurrent` nor `limit`
 * bulkhead({ classes: { critical: {}, batch: {} } });
 */
export type BulkheadOptions<K extends string = string> = BulkheadBaseOptions<K> &
  (FixedConcurrencyOptions | AdaptiveConcurrencyOptions);

/** A bulkhead with a fixed limit: `maxConcurrent`, and no `limit`. */
export interface FixedConcurrencyOptions {
  /**
   * The most calls that may run at once (fleet-wide when a `store` is given). An integer >= 1.
   * Required unless an adaptive `limit` is given instead.
   */
  maxConcurrent: number;
  /** Not with `maxConcurrent`: a bulkhead has one limit or the other. */
  limit?: undefined;
}

/** A bulkhead with an adaptive limit: `limit`, and no `maxConcurrent`. */
export interface AdaptiveConcurrencyOptions {
  /**
   * An adaptive limit (`adaptive({ algorithm, min, max, initial })`) that replaces the fixed
   * `maxConcurrent`.
   */
  limit: AdaptiveLimit;
  /** Not with `limit`: a bulkhead has one limit or the other. */
  maxConcurrent?: undefined;
}

/**
 * The options of `bulkhead()` besides its limit (see {@link BulkheadOptions}). `K`: the names of
 * the priority classes.
 */
export interface BulkheadBaseOptions<K extends string = string> {
  /**
   * Name reported in errors and telemetry; replicas of a fleet bulkhead share permits by name.
   * @default 'bulkhead'
   */
  name?: string | undefined;
  /**
   * How many calls may wait for a slot, per class. `0` rejects at once when no slot is free.
   * @default 0
   */
  maxQueue?: number | undefined;
  /**
   * How long a call may wait for a slot, in milliseconds; then it is rejected with reason
   * `'queue-timeout'`. `Infinity` waits as long as it takes.
   * @default Infinity
   */
  maxWaitMs?: number | undefined;
  /**
   * Which queued call gets a freed slot: the oldest (`'fifo'`) or the newest (`'lifo'`, which
   * keeps latency low for fresh calls under sustained overload).
   * @default 'fifo'
   */
  order?: QueueOrder | undefined;
  /**
   * Priority classes, most important first: freed shared slots go to the first class (in this
   * order) that has a waiter able to use them.
   * @default one class, `'default'`, with no reservation
   */
  classes?: Readonly<Record<K, PriorityClassOptions>> | undefined;
  /**
   * The class of a call given no `priority`: a key of `classes`.
   * @default the last class in `classes` (the least important)
   */
  defaultPriority?: NoInfer<K> | undefined;
  /** Caps on any one `key`. @default no per-key caps */
  perKey?: PerKeyOptions | undefined;
  /**
   * Where fleet permits live (`redisStore()`, `dynamoStore()`, `memoryStore()`). Without one the
   * bulkhead is local to this process and makes no store call at all.
   */
  store?: PermitStore | undefined;
  /**
   * Fleet quota: the most fleet permits this replica holds in one lease, a block it serves its
   * calls from without a store round trip each. The block is taken when the first call needs it,
   * doubled while calls fill it, renewed with the lease keeper, cut down to the peak use of the
   * last `renewIntervalMs` at each renewal and handed back once a whole interval passed without
   * a call, and on `close()` and `settle()` when no call runs under it. When the fleet is near
   * its limit (the store grants fewer permits than asked, or refuses a caller anywhere), new calls
   * take per-call permits, as without a quota, for the next `renewIntervalMs`, and blocks give
   * back each permit as its call ends. Needs a `store` that grants
   * blocks (`memoryStore()`, `redisStore()`; not `dynamoStore()`). An integer >= 1, at most
   * `maxConcurrent` (the adaptive limit's `max`). See the README's "Fleet quota".
   * @default no quota: one permit per call (one acquire and one release round trip)
   */
  permitQuota?: number | undefined;
  /**
   * How long a fleet permit lives without renewal, in milliseconds: the most a permit of a
   * crashed process stays taken. Renewed while `fn` runs.
   * @default 10000
   */
  leaseTtlMs?: number | undefined;
  /**
   * How often a running call renews its fleet permit, in milliseconds.
   * @default leaseTtlMs / 3
   */
  renewIntervalMs?: number | undefined;
  /**
   * Longest wait for a wake-up from the store before a waiting call retries anyway (a missed
   * pub/sub message, a store without wake-ups), in milliseconds.
   * @default 1000
   */
  wakeupPollMs?: number | undefined;
  /**
   * What to do when the permit store fails, misses `storeDeadlineMs` or is degraded:
   * `'local'` runs the call without a permit while this replica runs fewer than its share of the
   * fleet limit (`localMaxConcurrent`, by default `maxConcurrent / N` for the N live replicas),
   * and otherwise waits for the store like a call denied a permit; `'fail-closed'` rejects with
   * reason `'store-unavailable'`; `'fail-open'` runs every call without a permit (the fleet then
   * has no cap beyond each replica's local limits). Every call run without a permit is counted by
   * the `breakwater.bulkhead.degraded` metric.
   * @default 'local'
   */
  onStoreError?: OnStoreError | undefined;
  /**
   * With `onStoreError: 'local'`, the most calls this replica runs (with or without a permit)
   * while it starts calls without one. Given, it replaces the share sized by the fleet, and the
   * bulkhead keeps no replica registry. An integer >= 1.
   * @default max(1, floor(maxConcurrent / N)), N = the live replicas counted by the replica
   *   registry (its last known value while the store fails; 1 before the first count)
   */
  localMaxConcurrent?: number | undefined;
  /**
   * How often this replica renews its heartbeat in the bulkhead's replica registry, in
   * milliseconds: one store operation per interval. The registry runs only for a store that
   * can fail (Redis, DynamoDB) under `onStoreError: 'local'` without `localMaxConcurrent`.
   * @default 5000
   */
  replicaRenewIntervalMs?: number | undefined;
  /**
   * How long one heartbeat counts, in milliseconds; longer than `replicaRenewIntervalMs`. A
   * replica that stops (or is killed) leaves the count within this time.
   * @default 15000 (3 × `replicaRenewIntervalMs` when that is larger)
   */
  replicaTtlMs?: number | undefined;
  /**
   * Deadline of each permit store operation (acquire, renew, release, probe), in milliseconds:
   * > 0 and ≤ 2³¹−1. A slower answer counts as a store failure and takes the `onStoreError`
   * answer; nothing, `close()` included, waits on the store longer.
   * @default 500
   */
  storeDeadlineMs?: number | undefined;
  /**
   * After this many consecutive store failures the store is `degraded`: calls take the
   * `onStoreError` answer at once, without waiting on the store, until a probe succeeds.
   * An integer ≥ 1.
   * @default 3
   */
  storeFailureThreshold?: number | undefined;
  /**
   * While the store is degraded, how often a background probe asks it whether it is back, in
   * milliseconds.
   * @default 1000
   */
  storeProbeIntervalMs?: number | undefined;
  /** Time source; tests pass a fake clock. @default systemClock */
  clock?: Clock | undefined;
}

/**
 * The default values, as documented in the README. The store deadline, failure threshold and
 * probe interval are core's shared `STORE_DEFAULTS`.
 */
export const DEFAULTS = {
  name: 'bulkhead',
  maxQueue: 0,
  maxWaitMs: Number.POSITIVE_INFINITY,
  order: 'fifo' as QueueOrder,
  className: 'default',
  leaseTtlMs: 10_000,
  wakeupPollMs: 1_000,
  /**
   * A fleet-wide cap that admits everything while the store is down protects nothing, and one
   * that refuses everything stops the service: each replica keeps to its share of the cap.
   */
  onStoreError: 'local' as OnStoreError,
  replicaRenewIntervalMs: DEFAULT_REPLICA_RENEW_INTERVAL_MS,
  replicaTtlMs: DEFAULT_REPLICA_TTL_MS,
  storeDeadlineMs: STORE_DEFAULTS.deadlineMs,
  storeFailureThreshold: STORE_DEFAULTS.failureThreshold,
  storeProbeIntervalMs: STORE_DEFAULTS.probeIntervalMs,
} as const;

/** One class after validation. */
export interface ResolvedClass {
  readonly name: string;
  readonly index: number;
  readonly reserved: number;
  readonly max: number;
  readonly maxQueue: number;
  readonly maxWaitMs: number;
}

/** `perKey` after validation. */
export interface ResolvedPerKey {
  /** The cap of every key, when `maxConcurrent` is a number; `undefined` with a function. */
  readonly maxConcurrent: number | undefined;
  /** The function giving each key its cap, when `maxConcurrent` is one. */
  readonly capOf: PerKeyCap | undefined;
  readonly maxQueue: number;
}

/** Every option after validation, defaults applied. */
export interface ResolvedOptions {
  readonly name: string;
  /** The fixed limit, or the adaptive limit's initial value. */
  readonly maxConcurrent: number;
  readonly limit: AdaptiveLimit | undefined;
  readonly order: QueueOrder;
  readonly classes: readonly ResolvedClass[];
  readonly defaultClass: ResolvedClass;
  readonly reservedTotal: number;
  readonly perKey: ResolvedPerKey | undefined;
  readonly store: PermitStore | undefined;
  /** `permitQuota` as given; `undefined`: one permit per call. */
  readonly permitQuota: number | undefined;
  readonly leaseTtlMs: number;
  readonly renewIntervalMs: number;
  readonly wakeupPollMs: number;
  /** `onStoreError`, the deadline, the failure threshold and the probe interval. */
  readonly storeSettings: StoreSettings;
  /** `localMaxConcurrent` as given; `undefined`: the share sized by the fleet. */
  readonly localMaxConcurrent: number | undefined;
  /** The replica registry's heartbeat interval and TTL. */
  readonly replicaTiming: ReplicaTiming;
  readonly clock: Clock;
}

const ORDERS: readonly QueueOrder[] = ['fifo', 'lifo'];

/** A duration in ms: finite and >= 0, or `Infinity`. */
function expectWait(name: string, value: unknown): number {
  if (value === Number.POSITIVE_INFINITY) return value;
  return expectNonNegative(name, value);
}

/** A queue length: an integer >= 0, or `Infinity`. */
function expectQueue(name: string, value: unknown): number {
  if (value === Number.POSITIVE_INFINITY) return value;
  return expectInteger(name, value, 0);
}

/** A per-key cap given as a value: an integer >= 1 (a function is told apart before). */
function expectKeyCap(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    const ErrorType = typeof value === 'number' ? RangeError : TypeError;
    throw new ErrorType(
      `Expected \`${name}\` to be an integer >= 1 or a function of the key, got ${describeValue(value)}`,
    );
  }
  return value;
}

/**
 * Validates `options` and applies the defaults.
 * @throws {TypeError | RangeError} naming the option and showing the bad value.
 */
export function resolveOptions(options: BulkheadOptions): ResolvedOptions {
  expectObject('options', options);
  const name =
    options.name === undefined ? DEFAULTS.name : expectNonEmptyString('name', options.name);
  // The types require exactly one of the two limits; JavaScript callers (and casts) may still
  // pass both, or neither.
  const given: { readonly maxConcurrent?: unknown } = options;
  const limit = options.limit;
  let maxConcurrent: number;
  let floor: number;
  if (limit !== undefined) {
    if (given.maxConcurrent !== undefined) {
      throw new TypeError(
        `Expected either \`maxConcurrent\` or \`limit\`, got both (maxConcurrent ${String(given.maxConcurrent)} and an adaptive limit)`,
      );
    }
    if (typeof limit !== 'object' || limit === null || typeof limit.record !== 'function') {
      throw new TypeError(
        'Expected `limit` to be an adaptive limit built by adaptive(), got ' + String(limit),
      );
    }
    maxConcurrent = limit.current;
    floor = limit.min;
  } else {
    if (given.maxConcurrent === undefined) {
      throw new TypeError(
        'Expected `maxConcurrent` to be an integer >= 1 (or an adaptive `limit`), got undefined',
      );
    }
    maxConcurrent = expectInteger('maxConcurrent', given.maxConcurrent);
    floor = maxConcurrent;
  }
  const maxQueue = expectQueue('maxQueue', options.maxQueue ?? DEFAULTS.maxQueue);
  const maxWaitMs = expectWait('maxWaitMs', options.maxWaitMs ?? DEFAULTS.maxWaitMs);
  const order =
    options.order === undefined ? DEFAULTS.order : expectOneOf('order', options.order, ORDERS);

  const classes = resolveClasses(options.classes, maxQueue, maxWaitMs);
  const reservedTotal = classes.reduce((sum, c) => sum + c.reserved, 0);
  const limitName = limit === undefined ? '`maxConcurrent`' : "the adaptive limit's `min`";
  if (reservedTotal > floor) {
    throw new RangeError(
      `Expected the reserved slots of \`classes\` to fit in ${limitName} (${floor}), got ${reservedTotal} reserved`,
    );
  }
  if (reservedTotal === floor) {
    // With no shared slot left, a class without a reservation could never run.
    const starved = classes.find((c) => c.reserved === 0);
    if (starved) {
      throw new RangeError(
        `Expected class \`${starved.name}\` to be able to run, but the other classes reserve all ${floor} slots of ${limitName}`,
      );
    }
  }
  let defaultClass = classes[classes.length - 1]!;
  if (options.defaultPriority !== undefined) {
    const named = classes.find((c) => c.name === options.defaultPriority);
    if (!named) {
      throw new RangeError(
        `Expected \`defaultPriority\` to be one of ${classes.map((c) => `'${c.name}'`).join(' | ')}, got ${JSON.stringify(options.defaultPriority)}`,
      );
    }
    defaultClass = named;
  }

  let perKey: ResolvedOptions['perKey'];
  if (options.perKey !== undefined) {
    expectObject('perKey', options.perKey);
    const cap: unknown = options.perKey.maxConcurrent;
    const capOf = typeof cap === 'function' ? (cap as PerKeyCap) : undefined;
    perKey = {
      maxConcurrent: capOf === undefined ? expectKeyCap('perKey.maxConcurrent', cap) : undefined,
      capOf,
      maxQueue: expectQueue('perKey.maxQueue', options.perKey.maxQueue ?? Number.POSITIVE_INFINITY),
    };
  }

  const leaseTtlMs = expectPositive('leaseTtlMs', options.leaseTtlMs ?? DEFAULTS.leaseTtlMs);
  const renewIntervalMs = expectPositive(
    'renewIntervalMs',
    options.renewIntervalMs ?? leaseTtlMs / 3,
  );
  if (renewIntervalMs >= leaseTtlMs) {
    throw new RangeError(
      `Expected \`renewIntervalMs\` to be less than \`leaseTtlMs\` (${leaseTtlMs}), got ${renewIntervalMs}`,
    );
  }
  const store = options.store;
  if (
    store !== undefined &&
    (typeof store !== 'object' || store === null || typeof store.scope !== 'function')
  ) {
    throw new TypeError(
      `Expected \`store\` to be a permit store (redisStore(), dynamoStore(), memoryStore()), got ${String(store)}`,
    );
  }
  let permitQuota: number | undefined;
  if (options.permitQuota !== undefined) {
    permitQuota = expectInteger('permitQuota', options.permitQuota);
    const most = limit === undefined ? maxConcurrent : limit.max;
    if (permitQuota > most) {
      const what = limit === undefined ? '`maxConcurrent`' : "the adaptive limit's `max`";
      throw new RangeError(
        `Expected \`permitQuota\` to be at most ${what} (${most}), got ${permitQuota}`,
      );
    }
    if (store === undefined) {
      throw new TypeError(
        `Expected \`permitQuota\` only with a \`store\` (it sizes blocks of fleet permits), got permitQuota ${permitQuota} and no store`,
      );
    }
    if (store.grantsBlocks !== true) {
      throw new TypeError(
        `Expected \`store\` to grant blocks of permits for \`permitQuota\` (memoryStore(), redisStore()), got a '${store.kind}' store, which does not (permitQuota ${permitQuota})`,
      );
    }
  }

  return {
    name,
    maxConcurrent,
    limit,
    order,
    classes,
    defaultClass,
    reservedTotal,
    perKey,
    store,
    permitQuota,
    leaseTtlMs,
    renewIntervalMs,
    wakeupPollMs: expectPositive('wakeupPollMs', options.wakeupPollMs ?? DEFAULTS.wakeupPollMs),
    storeSettings: resolveStoreOptions(options, {
      onStoreError: DEFAULTS.onStoreError,
      deadlineMs: DEFAULTS.storeDeadlineMs,
      failureThreshold: DEFAULTS.storeFailureThreshold,
      probeIntervalMs: DEFAULTS.storeProbeIntervalMs,
    }),
    localMaxConcurrent:
      options.localMaxConcurrent === undefined
        ? undefined
        : expectInteger('localMaxConcurrent', options.localMaxConcurrent),
    replicaTiming: resolveReplicaTiming(
      { renewIntervalMs: options.replicaRenewIntervalMs, ttlMs: options.replicaTtlMs },
      { renewIntervalMs: 'replicaRenewIntervalMs', ttlMs: 'replicaTtlMs' },
    ),
    clock: options.clock ?? systemClock,
  };
}

function resolveClasses(
  classes: BulkheadOptions['classes'],
  maxQueue: number,
  maxWaitMs: number,
): ResolvedClass[] {
  if (classes === undefined) {
    return [
      {
        name: DEFAULTS.className,
        index: 0,
        reserved: 0,
        max: Number.POSITIVE_INFINITY,
        maxQueue,
        maxWaitMs,
      },
    ];
  }
  expectObject('classes', classes);
  const names = Object.keys(classes);
  if (names.length === 0)
    throw new RangeError('Expected `classes` to name at least one class, got {}');
  return names.map((className, index) => {
    const path = `classes.${className}`;
    const spec = expectObject(path, classes[className]) as PriorityClassOptions;
    const reserved = expectInteger(`${path}.reserved`, spec.reserved ?? 0, 0);
    const max =
      spec.max === undefined || spec.max === Number.POSITIVE_INFINITY
        ? Number.POSITIVE_INFINITY
        : expectInteger(`${path}.max`, spec.max);
    if (max < reserved) {
      throw new RangeError(
        `Expected \`${path}.max\` to be at least its \`reserved\` (${reserved}), got ${max}`,
      );
    }
    return {
      name: className,
      index,
      reserved,
      max,
      maxQueue:
        spec.maxQueue === undefined ? maxQueue : expectQueue(`${path}.maxQueue`, spec.maxQueue),
      maxWaitMs:
        spec.maxWaitMs === undefined ? maxWaitMs : expectWait(`${path}.maxWaitMs`, spec.maxWaitMs),
    };
  });
}
