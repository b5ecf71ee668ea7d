/**
 * The one Redis client adapter of Breakwater: every Redis store talks to Redis through a
 * {@link RedisConnection}, whichever library built the user's client — ioredis, its fork iovalkey,
 * or node-redis (`redis` 5.x/6.x, RESP2 or RESP3, `createClient` or `createCluster`). A store
 * calls {@link redisConnection} once on its `client` option; the rest of its code never asks which
 * library it has.
 *
 * What differs between the libraries, and how it is made the same here:
 * - commands: ioredis takes `(command, ...args)` and routes a Cluster command by its keys itself;
 *   node-redis takes an array of strings and, on a Cluster, the first key to route by. Callers give
 *   the routing key explicitly ({@link RedisConnection.send}).
 * - replies: both decode bulk strings as strings, integers as numbers and nil as `null` by default;
 *   Breakwater only reads script replies and plain string/integer/array replies, identical in RESP2
 *   and RESP3 (Lua replies are converted by the server the same way for both protocols).
 * - subscribers: ioredis emits `message` on the connection; node-redis calls a listener per
 *   channel. {@link SubscriberConnection} hides both.
 * - closing: ioredis `disconnect()` waits `disconnectTimeout` on a hung server; node-redis
 *   `destroy()` closes at once. {@link SubscriberConnection.closeNow} never waits.
 */
import { describeValue } from '../validate.js';
import { isRedisCluster, type RedisArgument, type RedisClient } from './client.js';
import { keySlot } from './key-slot.js';

/** Which client library a {@link RedisConnection} drives. */
export type RedisLibrary = 'ioredis' | 'node-redis';

/** One subscriber connection, whichever library opened it. */
export interface SubscriberConnection {
  /** Whether the connection is ready now (a `ready` later means it was re-established). */
  readonly ready: boolean;
  /** Subscribes to `channel`; the returned promise settles once the server confirmed. */
  subscribe(channel: string): Promise<unknown>;
  /** Unsubscribes from `channels`. */
  unsubscribe(channels: readonly string[]): Promise<unknown>;
  /** Routes the connection's messages and state changes to `events` (one set at a time). */
  attach(events: SubscriberEvents): void;
  /** Stops routing to the events given to {@link attach}. */
  detach(): void;
  /** Closes the connection at once, whatever the server's state. Never throws. */
  closeNow(): void;
}

/** What a {@link SubscriberConnection} reports. */
export interface SubscriberEvents {
  /** A message published on `channel`. */
  message(channel: string, payload: string): void;
  /** The connection was lost (it reconnects by itself). */
  lost(): void;
  /** The connection is ready (again). */
  ready(): void;
}

const CONNECTION = Symbol.for('breakwater.redis.connection');

/** Breakwater's view of one Redis client: what every Redis store sends its commands through. */
export interface RedisConnection {
  /** Brand: tells a connection from a client. */
  readonly [CONNECTION]: true;
  /** The library that built {@link client}. */
  readonly library: RedisLibrary;
  /** Whether {@link client} is a Cluster client. */
  readonly isCluster: boolean;
  /**
   * The prefix the client itself prepends to keys (ioredis `keyPrefix`); `''` for node-redis. Only
   * read for the development slot check.
   */
  readonly keyPrefix: string;
  /** The user's client. */
  readonly client: RedisClient;
  /**
   * Sends `command` with `args` and resolves with the reply. On a Cluster, the command goes to the
   * master of `routeKey`'s slot (any master without one); give the command's first key.
   */
  send(command: string, args: readonly RedisArgument[], routeKey?: string): Promise<unknown>;
  /** `EVALSHA sha1 numkeys keys… args…`, routed by the first key. */
  evalsha(sha1: string, keys: readonly string[], args: readonly RedisArgument[]): Promise<unknown>;
  /** `EVAL lua numkeys keys… args…`, routed by the first key. */
  eval(lua: string, keys: readonly string[], args: readonly RedisArgument[]): Promise<unknown>;
  /**
   * Sends `commands` back to back on the one connection that owns `routeKey`'s slot (so a `WAIT`
   * after a write counts that write) and resolves with each reply or its error, in order.
   */
  sequence(
    commands: readonly (readonly [string, ...RedisArgument[]])[],
    routeKey: string,
  ): Promise<unknown[]>;
  /**
   * Opens a subscriber of the store's own, a copy of the client; its reconnection attempts give up
   * their slot discovery after `closeDeadlineMs` so that closing it never waits longer.
   */
  openSubscriber(closeDeadlineMs: number): SubscriberConnection;
  /** A subscriber connection over `client`, a connection of the user's (which stays theirs). */
  adoptSubscriber(client: RedisClient): SubscriberConnection;
  /**
   * Makes a Cluster client re-read the slot map after a redirection it did not follow (a
   * {@link sequence} is sent to one node and never redirected); `routeKey` is the key whose slot
   * moved.
   */
  refreshSlots(routeKey: string): void;
}

/** What the script runner and the stores accept: a user's client or a connection made of one. */
export type ScriptClient = RedisClient | RedisConnection;

const ACCEPTED =
  'an ioredis or iovalkey `Redis` or `Cluster`, or a node-redis client from `createClient()` or ' +
  '`createCluster()`';

const connections = new WeakMap<object, RedisConnection>();

/**
 * The {@link RedisConnection} of `client` (made once per client, then reused); `client` itself
 * when it already is one.
 * @param name The option or argument the client came from, for the error.
 * @throws {TypeError} naming `name`, listing the accepted clients, when `client` is none of them.
 */
export function redisConnection(client: unknown, name = 'client'): RedisConnection {
  if (isRedisConnection(client)) return client;
  const known = typeof client === 'object' && client !== null ? connections.get(client) : undefined;
  if (known !== undefined) return known;
  const library = redisLibraryOf(client);
  if (library === undefined) {
    throw new TypeError(`Expected \`${name}\` to be ${ACCEPTED}, got ${describeValue(client)}`);
  }
  const made =
    library === 'ioredis'
      ? ioredisConnection(client as IoredisLike)
      : nodeRedisConnection(client as NodeRedisLike);
  connections.set(client as object, made);
  return made;
}

/** Whether `value` is a {@link RedisConnection}. */
export function isRedisConnection(value: unknown): value is RedisConnection {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { [CONNECTION]?: unknown })[CONNECTION] === true
  );
}

/**
 * Which library built `client`, told by shape (not `instanceof`, which fails across copies of a
 * library): `undefined` when it is no Redis client Breakwater accepts.
 */
export function redisLibraryOf(client: unknown): RedisLibrary | undefined {
  if (typeof client !== 'object' || client === null) return undefined;
  const candidate = client as Record<string, unknown>;
  if (
    typeof candidate.evalsha === 'function' &&
    typeof candidate.pipeline === 'function' &&
    typeof candidate.duplicate === 'function'
  ) {
    return 'ioredis';
  }
  if (typeof candidate.sendCommand === 'function' && typeof candidate.duplicate === 'function') {
    return 'node-redis';
  }
  return undefined;
}

/** Whether `client` is a node-redis Cluster client. */
function isNodeRedisCluster(client: object): boolean {
  return typeof (client as { getSlotMaster?: unknown }).getSlotMaster === 'function';
}

// ---------------------------------------------------------------------------------------------
// ioredis and iovalkey

/** The members of an ioredis `Redis`/`Cluster` the adapter uses. */
interface IoredisLike {
  readonly isCluster?: boolean;
  readonly options?: {
    readonly keyPrefix?: string;
    readonly slotsRefreshTimeout?: number;
    readonly redisOptions?: object;
  };
  evalsha(sha1: string, numkeys: number, ...rest: RedisArgument[]): Promise<unknown>;
  eval(lua: string, numkeys: number, ...rest: RedisArgument[]): Promise<unknown>;
  call(command: string, ...args: RedisArgument[]): Promise<unknown>;
  pipeline(): IoredisPipeline;
  duplicate(...args: unknown[]): unknown;
  refreshSlotsCache?(): void;
}

/** An ioredis pipeline: a method per command, `call` for any, `exec` to send. */
interface IoredisPipeline {
  [command: string]: unknown;
  call(command: string, ...args: RedisArgument[]): unknown;
  exec(): Promise<[Error | null, unknown][] | null>;
}

/** An ioredis connection as a subscriber uses it. */
interface IoredisSubscriber {
  readonly status?: string;
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe(...channels: string[]): Promise<unknown>;
  on(event: string, listener: (...args: never[]) => void): unknown;
  off(event: string, listener: (...args: never[]) => void): unknown;
  disconnect(): void;
}

function ioredisConnection(client: IoredisLike): RedisConnection {
  const cluster = isRedisCluster(client);
  return {
    [CONNECTION]: true,
    library: 'ioredis',
    isCluster: cluster,
    keyPrefix: client.options?.keyPrefix ?? '',
    client: client as unknown as RedisClient,
    // ioredis routes by the command's keys itself (it knows every command's key positions).
    send: (command, args) => client.call(command, ...args),
    evalsha: (sha1, keys, args) => client.evalsha(sha1, keys.length, ...keys, ...args),
    eval: (lua, keys, args) => client.eval(lua, keys.length, ...keys, ...args),
    // A pipeline goes to one node over one connection: the master of its keyed commands' slot.
    sequence: async (commands) => {
      const pipeline = client.pipeline();
      for (const [command, ...args] of commands) {
        // The named method when there is one: a Cluster pipeline routes by the keys it knows of
        // them (iovalkey's does not for `call`), then `call` for commands it has no method for.
        const method = pipeline[command.toLowerCase()];
        if (typeof method === 'function') method.apply(pipeline, args);
        else pipeline.call(command, ...args);
      }
      const results = await pipeline.exec();
      if (results === null || results.length !== commands.length) {
        throw new Error('The Redis pipeline was discarded (the connection closed)');
      }
      return results.map(([error, reply]) => error ?? reply);
    },
    openSubscriber: (closeDeadlineMs) =>
      ioredisSubscriber(duplicateIoredis(client, cluster, closeDeadlineMs), true, !cluster),
    adoptSubscriber: (user) => ioredisSubscriber(user as unknown as IoredisSubscriber, false),
    refreshSlots: () => {
      if (cluster) client.refreshSlotsCache?.();
    },
  };
}

/**
 * The store's own ioredis subscriber: a copy of the user's client whose sockets are destroyed at
 * once when it is closed (`disconnectTimeout: 0`; a subscriber has nothing to flush). A
 * single-node copy re-subscribes by itself after a reconnect (`autoResubscribe: false`, see
 * {@link ioredisSubscriber}): ioredis's own re-subscription drops the promise of its SUBSCRIBE, so
 * a copy closed while that SUBSCRIBE waits for its reply (a store closed just as Redis came back)
 * would reject it with "Connection is closed." unhandled, which ends a Node process by default
 * (ioredis 5.11 and 6.0; a Cluster's subscriber handles its own). A Cluster
 * copy also gives up a slot refresh after the close deadline: a refresh opens a throwaway
 * connection that `closeNow` cannot reach and that would otherwise keep a process alive for the
 * refresh's timeout (1 s by default) plus its own disconnect timeout (2 s) after `close()`.
 */
function duplicateIoredis(
  client: IoredisLike,
  cluster: boolean,
  closeDeadlineMs: number,
): IoredisSubscriber {
  let duplicate: IoredisSubscriber;
  if (!cluster) {
    duplicate = client.duplicate({
      disconnectTimeout: 0,
      autoResubscribe: false,
    }) as IoredisSubscriber;
  } else {
    const refreshMs = client.options?.slotsRefreshTimeout ?? 1000;
    duplicate = client.duplicate([], {
      slotsRefreshTimeout: Math.min(refreshMs, closeDeadlineMs),
      redisOptions: { ...client.options?.redisOptions, disconnectTimeout: 0 },
    }) as IoredisSubscriber;
  }
  // A store must not crash the process on a connection error: ioredis reconnects, the
  // subscriptions are made again, and listeners re-read their state on the `ready` gap.
  duplicate.on('error', ignore);
  return duplicate;
}

/**
 * An ioredis subscriber as a {@link SubscriberConnection}. With `resubscribes` (the store's own
 * single-node copy, made with `autoResubscribe: false`), it keeps the channels it subscribed to
 * and, when the connection is ready again after a loss, subscribes to them again itself — with a
 * handler on the promise — and reports `ready` only once the server confirmed: the listeners'
 * gap then comes when messages flow again, not before the subscription is back.
 */
function ioredisSubscriber(
  connection: IoredisSubscriber,
  owned: boolean,
  resubscribes = false,
): SubscriberConnection {
  let handlers: {
    message: (channel: string, payload: string) => void;
    lost(): void;
    ready(): void;
  };
  let attached = false;
  const channels = new Set<string>();
  let lostSinceReady = false;
  return {
    get ready() {
      return connection.status === 'ready';
    },
    subscribe: (channel) => {
      if (resubscribes) channels.add(channel);
      return connection.subscribe(channel);
    },
    unsubscribe: (list) => {
      if (resubscribes) for (const channel of list) channels.delete(channel);
      return connection.unsubscribe(...list);
    },
    attach(events) {
      if (attached) this.detach();
      const attachedHandlers: typeof handlers = {
        message: (channel, payload) => events.message(channel, payload),
        lost: () => {
          lostSinceReady = true;
          events.lost();
        },
        ready: () => {
          const again = lostSinceReady;
          lostSinceReady = false;
          if (!resubscribes || !again || channels.size === 0) {
            events.ready();
            return;
          }
          // Lost again before the reply: the next `ready` subscribes once more.
          connection.subscribe(...channels).then(() => {
            if (attached && handlers === attachedHandlers) events.ready();
          }, ignore);
        },
      };
      handlers = attachedHandlers;
      attached = true;
      connection.on('message', handlers.message);
      connection.on('close', handlers.lost);
      connection.on('ready', handlers.ready);
    },
    detach() {
      if (!attached) return;
      attached = false;
      connection.off('message', handlers.message);
      connection.off('close', handlers.lost);
      connection.off('ready', handlers.ready);
    },
    closeNow() {
      if (owned) disconnectIoredisNow(connection);
    },
  };
}

/** What `disconnectIoredisNow` reaches inside an ioredis connection; every field may be missing. */
interface IoredisInternals {
  connector?: { disconnectTimeout?: unknown };
  nodes?: (role: 'all') => IoredisInternals[];
  subscriber?: { getInstance?: () => IoredisInternals | null | undefined };
}

/**
 * Closes an ioredis connection the store opened, at once. ioredis's `disconnect()` ends the socket
 * and destroys it only after `disconnectTimeout` (2 s by default), on a timer that keeps the
 * process alive — for the whole 2 s when the server is hung (it never closes its side) or when the
 * socket had already failed (its `close` event, which clears the timer, came before). A subscriber
 * has nothing to flush, so its sockets are destroyed on the next tick instead: the timeout is set
 * to 0 on every connection it holds (a Cluster holds one per node plus its subscriber). The fields
 * are ioredis internals, present in ioredis 5 and 6 and iovalkey; where one is missing,
 * `disconnect()` still closes the connection, only later.
 */
function disconnectIoredisNow(connection: IoredisSubscriber): void {
  const internals = connection as unknown as IoredisInternals;
  const all: (IoredisInternals | null | undefined)[] = [internals];
  if (typeof internals.nodes === 'function') {
    all.push(...internals.nodes('all'), internals.subscriber?.getInstance?.());
  }
  for (const each of all) {
    const connector = each?.connector;
    if (connector !== undefined && typeof connector.disconnectTimeout === 'number') {
      connector.disconnectTimeout = 0;
    }
  }
  connection.disconnect();
}

// ---------------------------------------------------------------------------------------------
// node-redis

/** The members of a node-redis client or Cluster the adapter uses. */
interface NodeRedisLike {
  sendCommand(...args: unknown[]): Promise<unknown>;
  duplicate(overrides?: object): NodeRedisSubscriber;
  /** A client's options (public getter). */
  readonly options?: NodeRedisOptions;
  /** A Cluster's options (a field node-redis 5 and 6 keep under this name, with no getter). */
  readonly _options?: NodeRedisOptions;
  /** Cluster only: the master of a slot, and the connected client of a node. */
  getSlotMaster?(slot: number): unknown;
  nodeClient?(node: unknown): Promise<{ sendCommand(args: (string | Buffer)[]): Promise<unknown> }>;
}

/** A node-redis connection as a subscriber uses it. */
interface NodeRedisSubscriber {
  readonly isReady?: boolean;
  readonly isOpen?: boolean;
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: (message: string, channel: string) => void): Promise<void>;
  unsubscribe(channels?: string[]): Promise<void>;
  on(event: string, listener: (...args: never[]) => void): unknown;
  off(event: string, listener: (...args: never[]) => void): unknown;
  destroy(): void;
}

/** node-redis takes strings and Buffers only. */
function toWire(args: readonly RedisArgument[], into: (string | Buffer)[]): void {
  for (const arg of args) into.push(typeof arg === 'number' ? String(arg) : arg);
}

function nodeRedisConnection(client: NodeRedisLike): RedisConnection {
  const cluster = isNodeRedisCluster(client);
  const send = (args: (string | Buffer)[], routeKey: string | undefined): Promise<unknown> =>
    cluster ? client.sendCommand(routeKey, false, args) : client.sendCommand(args);
  const script = (
    command: 'EVALSHA' | 'EVAL',
    body: string,
    keys: readonly string[],
    args: readonly RedisArgument[],
  ): Promise<unknown> => {
    const wire: (string | Buffer)[] = [command, body, String(keys.length), ...keys];
    toWire(args, wire);
    return send(wire, keys[0]);
  };
  return {
    [CONNECTION]: true,
    library: 'node-redis',
    isCluster: cluster,
    keyPrefix: '',
    client: client as unknown as RedisClient,
    send: (command, args, routeKey) => {
      const wire: (string | Buffer)[] = [command];
      toWire(args, wire);
      return send(wire, routeKey);
    },
    evalsha: (sha1, keys, args) => script('EVALSHA', sha1, keys, args),
    eval: (lua, keys, args) => script('EVAL', lua, keys, args),
    // One client writes its commands to one socket in the order they are sent: sent back to back,
    // they arrive back to back. On a Cluster they go on the slot master's own client: the Cluster
    // client would route a keyless command by its policy instead (node-redis 6 sends WAIT to
    // every master and keeps the lowest count), whatever key it is given.
    sequence: async (commands, routeKey) => {
      const target = cluster
        ? await client.nodeClient!(client.getSlotMaster!(keySlot(routeKey)))
        : { sendCommand: (wire: (string | Buffer)[]) => client.sendCommand(wire) };
      return Promise.all(
        commands.map(([command, ...args]) => {
          const wire: (string | Buffer)[] = [command];
          toWire(args, wire);
          return target.sendCommand(wire).then(
            (reply) => reply,
            (error: unknown) => error,
          );
        }),
      );
    },
    openSubscriber: (closeDeadlineMs) =>
      nodeRedisSubscriber(duplicateNodeRedis(client, cluster, closeDeadlineMs), true),
    adoptSubscriber: (user) => nodeRedisSubscriber(user as unknown as NodeRedisSubscriber, false),
    // node-redis re-reads the slot map when a command it routes meets MOVED: route a read of the
    // key (its reply does not matter).
    refreshSlots: (routeKey) => {
      if (cluster) client.sendCommand(routeKey, true, ['EXISTS', routeKey]).catch(ignore);
    },
  };
}

/** What `duplicateNodeRedis` reads of a node-redis client's (or Cluster's) options. */
interface NodeRedisOptions {
  readonly socket?: { readonly reconnectStrategy?: unknown };
  readonly defaults?: { readonly socket?: { readonly reconnectStrategy?: unknown } };
}

/** node-redis's default reconnect wait after `retries` failed attempts, in milliseconds. */
function defaultReconnectMs(retries: number): number {
  return Math.min(50 * 2 ** retries, 2000);
}

/**
 * The store's own node-redis subscriber: a copy of the user's client whose reconnect waits never
 * exceed `closeDeadlineMs`. `destroy()` does not cancel a reconnect wait under way, which keeps the
 * process alive until it ends (up to 2 s with node-redis's default strategy, after `close()` on a
 * refused Redis); the user's own strategy is kept, its waits capped the same way.
 */
function duplicateNodeRedis(
  client: NodeRedisLike,
  cluster: boolean,
  closeDeadlineMs: number,
): NodeRedisSubscriber {
  const options = cluster ? client._options : client.options;
  // Options it cannot read are not overridden: a plain copy lingers longer, but connects as theirs.
  if (options === undefined) return client.duplicate();
  const socket = (cluster ? options.defaults?.socket : options.socket) ?? {};
  const theirs = socket.reconnectStrategy;
  const reconnectStrategy = (retries: number, cause: Error): number | false | Error => {
    const wait =
      typeof theirs === 'function'
        ? (theirs as (retries: number, cause: Error) => number | false | Error)(retries, cause)
        : typeof theirs === 'number' || theirs === false
          ? theirs
          : defaultReconnectMs(retries);
    return typeof wait === 'number' ? Math.min(wait, closeDeadlineMs) : wait;
  };
  const capped = { ...socket, reconnectStrategy };
  return client.duplicate(
    cluster ? { defaults: { ...options.defaults, socket: capped } } : { socket: capped },
  );
}

function nodeRedisSubscriber(
  connection: NodeRedisSubscriber,
  owned: boolean,
): SubscriberConnection {
  let events: SubscriberEvents | undefined;
  // node-redis calls a listener per channel; one listener for all routes to the attached events.
  const listener = (message: string, channel: string): void => events?.message(channel, message);
  const lost = (): void => events?.lost();
  const ready = (): void => events?.ready();
  // A Cluster reports its nodes' states (its subscriber is one of them); a client its own.
  const states: [string, () => void][] = [
    ['reconnecting', lost],
    ['end', lost],
    ['ready', ready],
    ['node-reconnecting', lost],
    ['node-ready', ready],
  ];
  let opened: Promise<unknown> = Promise.resolve();
  if (owned) {
    // Like ioredis, node-redis reconnects and resubscribes by itself; an error must not crash.
    connection.on('error', ignore);
    opened = connection.connect();
    opened.catch(ignore);
  }
  return {
    get ready() {
      return connection.isReady === true;
    },
    subscribe: (channel) => opened.then(() => connection.subscribe(channel, listener)),
    unsubscribe: (channels) => opened.then(() => connection.unsubscribe([...channels])),
    attach(next) {
      if (events === undefined)
        for (const [event, handler] of states) connection.on(event, handler);
      events = next;
    },
    detach() {
      if (events === undefined) return;
      events = undefined;
      for (const [event, handler] of states) connection.off(event, handler);
    },
    closeNow() {
      if (!owned) return;
      try {
        connection.destroy();
      } catch {
        // Already closed.
      }
    },
  };
}

function ignore(): void {}
