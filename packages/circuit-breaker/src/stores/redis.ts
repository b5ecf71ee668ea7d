/**
 * The Redis store: one hash key per breaker (`<prefix>:circuit-breaker:{<name>:}:state`, Cluster
 * safe), every operation one Lua script run with the server's clock, and transitions pushed to
 * every replica over pub/sub (core's `PubSubRouter`: one subscriber connection per store).
 */
import { expectObject, STORE_DEFAULTS, warnUnknownOptions } from '@breakwater/core';
import {
  defineScript,
  expectSubscriber,
  keyBuilder,
  PubSubRouter,
  type RedisClient,
  type RedisConnection,
  redisConnection,
  redisProbe,
} from '@breakwater/core/redis';
import { REDIS_STORE_OPTIONS } from '../known-options.js';
import type {
  BreakerCommand,
  BreakerRules,
  BreakerScope,
  BreakerSeed,
  BreakerStore,
  BreakerView,
  BreakerViewListener,
  OutcomeBatch,
  ProbeAnswer,
  ProbeDecision,
  ProbeResult,
} from '../store.js';
import { BREAKER_LUA } from './redis-script.js';
import { TransitionChannel } from './redis-transitions.js';
import { parseView } from './view-codec.js';

/** The pattern segment of the breaker's keys. */
const PATTERN = 'circuit-breaker';

/** Options of {@link redisStore}. */
export interface RedisStoreOptions {
  /**
   * Your Redis client, single node or Cluster: an ioredis or iovalkey `Redis`/`Cluster`, or a
   * connected node-redis client from `createClient()`/`createCluster()` (RESP2 or RESP3). The
   * store never closes it.
   */
  client: RedisClient;
  /**
   * First segment of every key and of the pub/sub channel; use one per tenant or environment.
   * @default 'bw'
   */
  prefix?: string;
  /**
   * The connection that listens for transitions, shared by all the store's breakers. Pub/sub
   * needs a connection of its own:
   *
   * - omitted: the store opens one with `client.duplicate()` when the first breaker starts, owns
   *   it, and closes it at once (never waiting on the server) when the last breaker closes or on
   *   `store.close()`;
   * - a connection of yours: the store subscribes on it and unsubscribes on `close()` (waiting at
   *   most 500 ms), but never closes it — it stays yours;
   * - `false`: no pushes; breakers re-read the state every `syncIntervalMs`.
   *
   * @default a duplicate of `client`, owned by the store
   */
  subscriber?: RedisClient | false | undefined;
}

/** A circuit-breaker store on Redis. */
export interface RedisBreakerStore extends BreakerStore {
  readonly kind: 'redis';
  /** The pub/sub channel transitions are published on. */
  readonly channel: string;
  /**
   * Closes the subscriber connection the store opened, if any, at once whatever the state of
   * Redis; unsubscribes a connection of yours (at most 500 ms). Your client stays open.
   */
  close(): Promise<void>;
}

type ScriptReply = [
  string,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  string,
];

const script = defineScript<ScriptReply>({ name: 'circuit-breaker', lua: BREAKER_LUA, keys: 1 });

/**
 * Creates a store that shares breaker state through Redis. Close it with `store.close()` after
 * closing its breakers: it closes the subscriber connection it opened, never your client.
 *
 * @example
 * import { redisStore } from '@breakwater/circuit-breaker/redis';
 * const store = redisStore({ client: new Redis(process.env.REDIS_URL) }); // ioredis
 * // or node-redis: const client = createClient({ url }); await client.connect();
 * //                const store = redisStore({ client });
 * const breaker = circuitBreaker({ name: 'payments', store });
 * // on shutdown
 * await breaker.close();
 * await store.close();
 *
 * @throws {TypeError} naming the option, for a `client` or `subscriber` that is not a Redis client
 *   (the error for `client` lists the accepted ones).
 */
export function redisStore(options: RedisStoreOptions): RedisBreakerStore {
  expectObject('options', options);
  warnUnknownOptions('redisStore() (@breakwater/circuit-breaker)', options, {
    known: REDIS_STORE_OPTIONS,
  });
  // Every command of the store goes through this one connection, whichever library built it.
  const connection = redisConnection(options.client, 'client');
  // Validates the prefix once, with the same rules as every other Breakwater key.
  const prefix = keyBuilder({ prefix: options.prefix, pattern: PATTERN, name: 'x' }).prefix;
  const channel = `${prefix}:${PATTERN}:transitions`;
  const router = new PubSubRouter({
    client: connection,
    subscriber: expectSubscriber(options.subscriber),
    // The store serves breakers of any deadline; unsubscribing a connection of the user's on
    // close() waits at most the shared default.
    closeDeadlineMs: STORE_DEFAULTS.deadlineMs,
  });
  const transitions = new TransitionChannel(router, channel);
  const close = (): Promise<void> => {
    transitions.close();
    return router.close();
  };
  return {
    kind: 'redis',
    defaultSyncIntervalMs: 100,
    channel,
    scope: (name, rules) => scopeRedis(connection, prefix, channel, name, rules, transitions),
    close,
    [Symbol.asyncDispose]: close,
  };
}

function ruleArgs(rules: BreakerRules): string[] {
  return [
    rules.windowKind,
    String(rules.windowSize),
    String(rules.bucketMs),
    String(rules.minimumThroughput),
    String(rules.failureRatio),
    String(rules.slowCallRatio),
    String(rules.consecutiveFailures),
    String(rules.halfOpenMaxCalls),
    String(rules.halfOpenSuccessThreshold),
    String(rules.halfOpenMaxDurationMs),
    String(rules.probeLeaseMs),
    String(rules.quorumReplicas),
    String(rules.quorumWindowMs),
    String(Math.ceil(rules.recordTtlMs)),
    rules.breakDurationsMs.map((ms) => String(Math.ceil(ms))).join(','),
  ];
}

/** The store scoped to one breaker: its key, its rules as script arguments, its transitions. */
function scopeRedis(
  connection: RedisConnection,
  prefix: string,
  channel: string,
  name: string,
  rules: BreakerRules,
  transitions: TransitionChannel,
): BreakerScope {
  const keys = [keyBuilder({ prefix, pattern: PATTERN, name }).redisKey('', 'state')];
  // The key names the breaker uniquely within the channel, so it routes pushed views.
  const id = keys[0]!;
  const fixed = [channel, id, ...ruleArgs(rules)];
  const run = async (operation: string, args: readonly (string | number)[]): Promise<ScriptReply> =>
    script.run(connection, keys, [operation, ...fixed, ...args]);
  const view = (reply: ScriptReply): BreakerView => parseView(reply);

  return {
    read: async (): Promise<BreakerView> => view(await run('read', [])),
    record: async (batch: OutcomeBatch, replica: string): Promise<BreakerView> =>
      view(
        await run('record', [
          batch.successes,
          batch.failures,
          batch.slowCalls,
          batch.trailingFailures,
          replica,
        ]),
      ),
    acquireProbe: async (token: string): Promise<ProbeAnswer> => {
      const reply = await run('acquire', [token]);
      return { decision: reply[11] as ProbeDecision, view: view(reply) };
    },
    releaseProbe: async (token: string, result: ProbeResult): Promise<BreakerView> =>
      view(await run('release', [token, result])),
    command: async (command: BreakerCommand): Promise<BreakerView> =>
      view(await run('command', [command.type, command.type === 'isolate' ? command.forMs : 0])),
    seed: async (seed: BreakerSeed): Promise<BreakerView> =>
      view(
        await run('seed', [
          seed.state,
          seed.remainingMs,
          seed.consecutiveOpens,
          seed.consecutiveFailures,
          seed.calls,
          seed.failures,
          seed.slowCalls,
          seed.version ?? 1,
        ]),
      ),
    // A `return 1` script on the breaker's own key: a Cluster runs it on the node owning the
    // breaker's slot, the node whose outage matters.
    probe: redisProbe(connection, id),
    ...(transitions.enabled
      ? {
          subscribe: (listener: BreakerViewListener, onGap?: () => void) =>
            transitions.add(id, listener, onGap),
        }
      : {}),
  };
}
