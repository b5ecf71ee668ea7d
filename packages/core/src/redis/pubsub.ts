/**
 * The one Redis pub/sub path of Breakwater's stores (breaker transitions, bulkhead wake-ups, cache
 * invalidations): one subscriber connection per store, its messages routed by channel.
 *
 * Who owns the connection is one rule everywhere: a store opens its subscriber itself with
 * `client.duplicate()` and owns it — it closes it on `close()` with `disconnect()`, which never
 * waits on the server, so `close()` completes with Redis up, refused or hung. A subscriber the user
 * passes stays the user's: the router only unsubscribes its channels (without waiting past the
 * deadline) and removes its listeners.
 *
 * Pub/sub is fire and forget: what is published while a subscriber is not connected is lost. Each
 * listener may give `gap`, called when its channel's subscription becomes active and whenever the
 * connection is ready again after a loss, so it can re-read the state it might have missed.
 */
import { describeValue } from '../validate.js';
import { isRedisCluster, type RedisClient } from './client.js';

/** The part of an ioredis connection the router uses. */
interface SubscriberConnection {
  readonly status?: string;
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe(...channels: string[]): Promise<unknown>;
  on(event: string, listener: (...args: never[]) => void): unknown;
  off(event: string, listener: (...args: never[]) => void): unknown;
  disconnect(): void;
}

/** What a listener of one channel receives. */
export interface ChannelListener {
  /** A message published on the channel. */
  message(payload: string): void;
  /** Messages may have been missed: the subscription just became active, or was re-established. */
  gap?(): void;
}

/** Options of {@link PubSubRouter}. */
export interface PubSubRouterOptions {
  /** The store's client, duplicated for a subscriber of the store's own. */
  readonly client: RedisClient;
  /**
   * The subscriber: omitted for one the store opens and owns, a connection of the user's (which
   * stays theirs), or `false` for none (the store then works without pushes).
   */
  readonly subscriber?: RedisClient | false | undefined;
  /** How long `close()` waits for the user's subscriber to unsubscribe, in milliseconds. */
  readonly closeDeadlineMs: number;
}

/**
 * Checks a `subscriber` option: `undefined`, `false`, or a Redis client (an object with
 * `subscribe`, `unsubscribe` and `on`).
 * @throws {TypeError} naming `subscriber` and showing what was received.
 */
export function expectSubscriber(value: unknown): RedisClient | false | undefined {
  if (value === undefined || value === false) return value;
  const candidate = value as Partial<Record<'subscribe' | 'unsubscribe' | 'on', unknown>> | null;
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    typeof candidate.subscribe !== 'function' ||
    typeof candidate.unsubscribe !== 'function' ||
    typeof candidate.on !== 'function'
  ) {
    throw new TypeError(
      'Expected `subscriber` to be a Redis client (ioredis Redis or Cluster) or false, got ' +
        describeValue(value),
    );
  }
  return value as RedisClient;
}

/** Routes the messages of one subscriber connection to the listeners of each channel. */
export class PubSubRouter {
  /** Whether the store has a subscriber at all. */
  readonly enabled: boolean;
  /** Whether the router opened the connection (and closes it). */
  readonly owned: boolean;
  private connection: SubscriberConnection | undefined;
  /** Whether the router's listeners are on the connection. */
  private attached = false;
  private readonly channels = new Map<string, Set<ChannelListener>>();
  private wasReady = false;
  private lostSinceReady = false;
  private closed = false;

  constructor(private readonly options: PubSubRouterOptions) {
    const subscriber = expectSubscriber(options.subscriber);
    this.enabled = subscriber !== false;
    this.owned = subscriber === undefined;
    if (subscriber) this.connection = subscriber as unknown as SubscriberConnection;
  }

  /** How many channels have listeners. */
  get size(): number {
    return this.channels.size;
  }

  /**
   * Adds a listener of `channel`, subscribing on its first listener (and opening the store's own
   * connection on the first channel); returns the disposer. Does nothing when the store has no
   * subscriber or is closed.
   */
  listen(channel: string, listener: ChannelListener): () => void {
    if (!this.enabled || this.closed) return () => {};
    if (!this.attached) this.attach();
    let listeners = this.channels.get(channel);
    if (listeners === undefined) {
      listeners = new Set();
      this.channels.set(channel, listeners);
      const subscribed = listeners;
      // A failed SUBSCRIBE is repeated by ioredis on reconnect, and the `ready` gap covers it.
      this.connection!.subscribe(channel).then(
        () => {
          for (const each of subscribed) callGap(each);
        },
        () => {},
      );
    }
    // A wrapper per subscription, so that disposing one of two identical ones keeps the other.
    const subscription: ChannelListener = {
      message: (payload) => listener.message(payload),
      gap: () => listener.gap?.(),
    };
    listeners.add(subscription);
    let disposed = false;
    return () => {
      if (disposed) return;
      disposed = true;
      this.leave(channel, subscription);
    };
  }

  /**
   * Drops every listener; closes the connection the router opened (`disconnect()`: immediate,
   * whatever the server's state), or unsubscribes the user's, waiting at most `closeDeadlineMs`.
   * Never rejects.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const channels = [...this.channels.keys()];
    this.channels.clear();
    const connection = this.connection;
    if (connection === undefined) return;
    this.detach(connection);
    if (this.owned) {
      this.connection = undefined;
      disconnectNow(connection);
      return;
    }
    if (channels.length > 0) {
      await settleWithin(connection.unsubscribe(...channels), this.options.closeDeadlineMs);
    }
  }

  private leave(channel: string, subscription: ChannelListener): void {
    const listeners = this.channels.get(channel);
    if (listeners === undefined || !listeners.delete(subscription) || listeners.size > 0) return;
    this.channels.delete(channel);
    const connection = this.connection;
    if (connection === undefined) return;
    if (this.channels.size === 0) {
      this.detach(connection);
      if (this.owned) {
        // Nobody listens any more: the store's own connection is closed until someone does.
        this.connection = undefined;
        disconnectNow(connection);
        return;
      }
    }
    connection.unsubscribe(channel).catch(() => {});
  }

  private attach(): void {
    if (this.owned) {
      const duplicate = duplicateForSubscriber(this.options.client, this.options.closeDeadlineMs);
      // A store must not crash the process on a connection error: ioredis reconnects and
      // resubscribes by itself, and listeners re-read their state on the `ready` gap.
      duplicate.on('error', ignore);
      this.connection = duplicate;
    }
    const connection = this.connection!;
    this.attached = true;
    this.wasReady = connection.status === 'ready';
    this.lostSinceReady = false;
    connection.on('message', this.onMessage);
    connection.on('close', this.onClose);
    connection.on('ready', this.onReady);
  }

  private detach(connection: SubscriberConnection): void {
    this.attached = false;
    connection.off('message', this.onMessage);
    connection.off('close', this.onClose);
    connection.off('ready', this.onReady);
  }

  private readonly onMessage = (channel: string, payload: string): void => {
    const listeners = this.channels.get(channel);
    if (listeners === undefined) return;
    for (const listener of listeners) {
      try {
        listener.message(payload);
      } catch {
        // One faulty listener must not starve the others; stores' listeners do not throw.
      }
    }
  };

  private readonly onClose = (): void => {
    if (this.wasReady) this.lostSinceReady = true;
  };

  private readonly onReady = (): void => {
    const reconnected = this.lostSinceReady;
    this.wasReady = true;
    this.lostSinceReady = false;
    if (!reconnected) return;
    for (const listeners of this.channels.values()) {
      for (const listener of listeners) callGap(listener);
    }
  };
}

function callGap(listener: ChannelListener): void {
  try {
    listener.gap?.();
  } catch {
    // As for messages: a faulty listener must not starve the others.
  }
}

function ignore(): void {}

/** The `duplicate` methods of ioredis `Redis` and `Cluster`, and the options they copy. */
interface Duplicable {
  readonly options?: { slotsRefreshTimeout?: number; redisOptions?: object };
  duplicate(...args: unknown[]): SubscriberConnection;
}

/**
 * The store's own subscriber: a copy of the user's client whose sockets are destroyed at once when
 * it is closed (`disconnectTimeout: 0`; a subscriber has nothing to flush). A Cluster copy also
 * gives up a slot refresh after the close deadline: a refresh opens a throwaway connection that
 * `disconnectNow` cannot reach and that would otherwise keep a process alive for the refresh's
 * timeout (1 s by default) plus its own disconnect timeout (2 s) after `close()`.
 */
function duplicateForSubscriber(
  client: RedisClient,
  closeDeadlineMs: number,
): SubscriberConnection {
  const source = client as unknown as Duplicable;
  if (!isRedisCluster(client)) return source.duplicate({ disconnectTimeout: 0 });
  const refreshMs = source.options?.slotsRefreshTimeout ?? 1000;
  return source.duplicate([], {
    slotsRefreshTimeout: Math.min(refreshMs, closeDeadlineMs),
    redisOptions: { ...source.options?.redisOptions, disconnectTimeout: 0 },
  });
}

/** What `disconnectNow` reaches inside an ioredis connection; every field may be missing. */
interface ConnectionInternals {
  connector?: { disconnectTimeout?: unknown };
  nodes?: (role: 'all') => ConnectionInternals[];
  subscriber?: { getInstance?: () => ConnectionInternals | null | undefined };
}

/**
 * Closes a connection the router opened, at once. ioredis's `disconnect()` ends the socket and
 * destroys it only after `disconnectTimeout` (2 s by default), on a timer that keeps the process
 * alive — for the whole 2 s when the server is hung (it never closes its side) or when the socket
 * had already failed (its `close` event, which clears the timer, came before). A subscriber has
 * nothing to flush, so its sockets are destroyed on the next tick instead: the timeout is set to 0
 * on every connection it holds (a Cluster holds one per node plus its subscriber). The fields are
 * ioredis internals, present in ioredis 5 and 6; where one is missing, `disconnect()` still closes
 * the connection, only later.
 */
function disconnectNow(connection: SubscriberConnection): void {
  const internals = connection as unknown as ConnectionInternals;
  const connections: (ConnectionInternals | null | undefined)[] = [internals];
  if (typeof internals.nodes === 'function') {
    connections.push(...internals.nodes('all'), internals.subscriber?.getInstance?.());
  }
  for (const each of connections) {
    const connector = each?.connector;
    if (connector !== undefined && typeof connector.disconnectTimeout === 'number') {
      connector.disconnectTimeout = 0;
    }
  }
  connection.disconnect();
}

/** Waits for `promise` to settle, but no longer than `ms`; never rejects. */
export function settleWithin(promise: PromiseLike<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    promise.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      () => {
        clearTimeout(timer);
        resolve();
      },
    );
  });
}
