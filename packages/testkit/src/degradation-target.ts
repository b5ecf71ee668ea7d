/**
 * What a pattern package implements to run the degradation suite: how to build one policy with
 * its store ({@link BuildSubject}, loaded by test and child process alike, so no vitest here) and
 * how to judge its answers ({@link DegradationTarget}, test side only).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Cluster, Redis } from 'ioredis';
import type {
  FaultyBackend,
  NodeRedisClient,
  NodeRedisCluster,
  RedisClientLibrary,
  StoreAddress,
  StoreClient,
} from './default-clients.js';
import type { Fault } from './faulty-store.js';

/** What a store-backed policy does when its store fails (core's `OnStoreError`). */
export type StoreErrorMode = 'fail-open' | 'fail-closed' | 'local';

/** Every {@link StoreErrorMode}, in the order the suite runs them. */
export const ALL_STORE_ERROR_MODES: readonly StoreErrorMode[] = [
  'fail-open',
  'fail-closed',
  'local',
];

/** A store status change, in the one shape every store-backed policy reports it. */
export interface StoreStatusEvent {
  /** The policy's name: the `policyName` the subject was built with. */
  readonly policy: string;
  /** The pattern: the target's `pattern`. */
  readonly pattern: string;
  /** The store kind: `'redis'` (also for a Cluster) or `'dynamodb'` unless the target says otherwise. */
  readonly store: string;
  /** The new status. */
  readonly status: 'healthy' | 'degraded';
  /** On `'degraded'`: the `StoreError` that degraded it. Absent on `'healthy'`. */
  readonly error?: unknown;
}

/**
 * The store connection a subject is built on: the user's client, with default settings, and for
 * Redis the library that built it (`clientLibrary`): ioredis `Redis` / `Cluster`, or a connected
 * node-redis client from `createClient()` / `createCluster()`. Every Redis store takes either.
 */
export type SubjectConnection =
  | { backend: 'redis'; clientLibrary: 'ioredis'; client: Redis }
  | { backend: 'redis'; clientLibrary: 'node-redis'; client: NodeRedisClient }
  | { backend: 'redis-cluster'; clientLibrary: 'ioredis'; client: Cluster }
  | { backend: 'redis-cluster'; clientLibrary: 'node-redis'; client: NodeRedisCluster }
  | { backend: 'dynamodb'; client: DynamoDBClient; tableName: string };

/** Pairs a client with the address it was built for, as {@link BuildSubject} receives it. */
export function subjectConnection(address: StoreAddress, client: StoreClient): SubjectConnection {
  switch (address.backend) {
    case 'redis':
      return address.client === 'node-redis'
        ? { backend: 'redis', clientLibrary: 'node-redis', client: client as NodeRedisClient }
        : { backend: 'redis', clientLibrary: 'ioredis', client: client as Redis };
    case 'redis-cluster':
      return address.client === 'node-redis'
        ? {
            backend: 'redis-cluster',
            clientLibrary: 'node-redis',
            client: client as NodeRedisCluster,
          }
        : { backend: 'redis-cluster', clientLibrary: 'ioredis', client: client as Cluster };
    case 'dynamodb':
      return {
        backend: 'dynamodb',
        client: client as DynamoDBClient,
        tableName: address.tableName,
      };
  }
}

/** The store settings the suite uses: small, so that it is fast. */
export interface DegradationSettings {
  /** `storeDeadlineMs`. */
  deadlineMs: number;
  /** `storeFailureThreshold`: consecutive store failures until `'degraded'`. */
  failureThreshold: number;
  /** `storeProbeIntervalMs`: how often a degraded store is probed in the background. */
  probeIntervalMs: number;
}

/** Everything {@link BuildSubject} gets to build one policy and its store. */
export type DegradationBuildContext = SubjectConnection &
  DegradationSettings & {
    /** The `onStoreError` mode to build the policy with. */
    mode: StoreErrorMode;
    /** A key prefix of its own (Redis keys, DynamoDB `pk`); no other subject uses it. */
    prefix: string;
    /** The name to give the policy; its status events must carry it as `policy`. */
    policyName: string;
  };

/** One policy with its store, as the suite drives it. */
export interface DegradationSubject {
  /**
   * One call through the policy (`policy.execute(fn)`, `limiter.consume(key)`, …). While the store
   * is healthy, or failing but not yet degraded, every call must perform at least one store
   * operation (see `callsToDegrade`). Resolve or reject with what the policy answered.
   */
  call(): Promise<unknown>;
  /** Subscribes to the policy's store status changes; returns the unsubscriber. */
  onStoreStatusChange(listener: (event: StoreStatusEvent) => void): () => void;
  /**
   * The policy's current `storeStatus`, when it has one (every store-backed policy does): the
   * suite checks that it agrees with the last status event.
   */
  readonly storeStatus?: StoreStatusEvent['status'];
  /**
   * Closes the policy and its store (not the client: that stays the user's). Must complete within
   * the deadline plus slack whatever the store does.
   */
  close(): Promise<void>;
}

/**
 * Builds one policy with its store. Lives in a module without vitest imports: the suite's child
 * process imports it too (through `runDegradationChild`).
 */
export type BuildSubject = (
  context: DegradationBuildContext,
) => DegradationSubject | Promise<DegradationSubject>;

/** How one call ended, with how long it took. */
export type CallOutcome =
  | { status: 'fulfilled'; value: unknown; elapsedMs: number }
  | { status: 'rejected'; error: unknown; elapsedMs: number };

/** The situation a call was made in, for {@link DegradationTarget.expectAnswer}. */
export interface AnswerContext {
  /** The subject's `onStoreError` mode. */
  mode: StoreErrorMode;
  /**
   * `'healthy'`: the store is up (before the fault, after recovery), so the answer must come from
   * the store (reject fallback answers wherever they can be told apart). `'failing'`: the store
   * is refused or hung; the answer must be the mode's fallback.
   */
  phase: 'healthy' | 'failing';
  /** The backend. */
  backend: FaultyBackend;
  /** The Redis client library the subject's store runs on (`'ioredis'` for DynamoDB). */
  clientLibrary: RedisClientLibrary;
  /** The fault in place (or the one that will be injected, in the healthy phase). */
  fault: Fault;
  /** The store deadline the subject was built with (see `DEGRADATION_SETTINGS`). */
  deadlineMs: number;
}

/** What a pattern package gives {@link runDegradationSuite}. */
export interface DegradationTarget {
  /** The pattern, as status events carry it: `'circuit-breaker'`, `'rate-limit'`, … */
  pattern: string;
  /** Builds one policy with its store; see {@link BuildSubject}. */
  build: BuildSubject;
  /**
   * Absolute path of the child script for the exit check: a module that only calls
   * `runDegradationChild(build)` from `@breakwater/testkit/degradation-child` with the same
   * `build`.
   */
  childScript: string;
  /**
   * Judges one answer; throws (vitest `expect`) when it is wrong for the mode and phase. The suite
   * checks timing and store errors in rejection causes itself.
   */
  expectAnswer(outcome: CallOutcome, context: AnswerContext): void | Promise<void>;
  /** Backends to run. @default ['redis', 'redis-cluster', 'dynamodb'] */
  backends?: readonly FaultyBackend[];
  /**
   * Client libraries to run the Redis backends on, one faulty store and one `describe` each
   * (`[redis]`, `[redis · node-redis]`, …). `BREAKWATER_DEGRADATION_CLIENTS` overrides it: a
   * comma-separated list, or `all` (README, "Degradation suite").
   * @default { redis: ['ioredis', 'node-redis'], 'redis-cluster': ['ioredis', 'node-redis'] }
   */
  redisClients?: Partial<Record<'redis' | 'redis-cluster', readonly RedisClientLibrary[]>>;
  /** Modes to run. @default ['fail-open', 'fail-closed', 'local'] */
  modes?: readonly StoreErrorMode[];
  /** Faults to run. @default ['refuse', 'hang'] */
  faults?: readonly Fault[];
  /**
   * How many failing calls it takes to reach `failureThreshold` consecutive store failures: the
   * suite requires no `'degraded'` event before that many calls and exactly one after. Set it
   * when a call performs more than one store operation.
   * @default failureThreshold (one store operation per call)
   */
  callsToDegrade?: number;
  /**
   * The `store` that status events carry on a backend.
   * @default 'redis' for 'redis' and 'redis-cluster', 'dynamodb' for 'dynamodb'
   */
  storeKind?: (backend: FaultyBackend) => string;
  /** Other store settings, only where the pattern cannot work with the suite's. */
  settings?: Partial<DegradationSettings>;
}
