/**
 * The one Redis pub/sub path of Breakwater's stores (breaker transitions, bulkhead wake-ups, cache
 * invalidations): one subscriber connection per store, its messages routed by channel.
 *
 * Who owns the connection is one rule everywhere: a store opens its subscriber itself with
 * `client.duplicate()` and owns it — it closes it on `close()` at once (the adapter's `closeNow`),
 * never waiting on the server, so `close()` completes with Redis up, refused or hung. A subscriber the user
 * passes stays the user's: the router only unsubscribes its channels (without waiting past the
 * deadline) and removes its listeners.
 *
 * Pub/sub is fire and forget: what is published while a subscriber is not connected is lost. Each
 * listener may give `gap`, called when its channel's subscription becomes active and whenever the
 * connection is ready again after a loss, so it can re-read the state it might have missed.
 */
import { describeValue } from '../validate.js';
import { type RedisConnection, redisConnection, type SubscriberConnection } from './adapter.js';
import type { RedisClient } from './client.js';

/** What a listener of one channel receives. */
export interface ChannelListener {
  /** A message published on the channel. */
  message(payload: string): void;
  /** Messages may have been missed: the subscription just became active, or was re-established. */
  gap?(): void;
}

/** Options of {@link PubSubRouter}. */
export interface PubSubRouterOptions {
  /** The store's client (or its connection), duplicated for a subscriber of the store's own. */
  readonly client: RedisClient | RedisConnection;
  /**
   * The subscriber: omitted for one the store opens and owns, a connection of the user's (which
   * stays theirs), or `false` for none (the store then works without pushes).
   */
  readonly subscriber?: RedisClient | false | undefined;
  /** How long `close()` waits for the user's subscriber to unsubscribe, in milliseconds. */
  readonly closeDeadlineMs: number;
}

/**
 * Checks a `subscriber` option: `undefined`, `false`, or a Redis client that can subscribe (an
 * ioredis, iovalkey or node-redis client: an object with `subscribe`, `unsubscribe` and `on`).
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
      'Expected `subscriber` to be a Redis client (ioredis or iovalkey `Redis` or `Cluster`, ' +
        'node-redis client or Cluster) or false, got ' +
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

  private readonly redis: RedisConnection;

  constructor(private readonly options: PubSubRouterOptions) {
    const subscriber = expectSubscriber(options.subscriber);
    this.redis = redisConnection(options.client);
    this.enabled = subscriber !== false;
    this.owned = subscriber === undefined;
    if (subscriber) this.connection = this.redis.adoptSubscriber(subscriber);
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
      // A failed SUBSCRIBE is repeated by the client on reconnect, and the `ready` gap covers it.
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
   * Drops every listener; closes the connection the router opened (immediately, whatever the
   * server's state), or unsubscribes the user's, waiting at most `closeDeadlineMs`.
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
      connection.closeNow();
      return;
    }
    if (channels.length > 0) {
      await settleWithin(connection.unsubscribe(channels), this.options.closeDeadlineMs);
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
        connection.closeNow();
        return;
      }
    }
    connection.unsubscribe([channel]).catch(() => {});
  }

  private attach(): void {
    if (this.owned) this.connection = this.redis.openSubscriber(this.options.closeDeadlineMs);
    const connection = this.connection!;
    this.attached = true;
    this.wasReady = connection.ready;
    this.lostSinceReady = false;
    connection.attach({ message: this.onMessage, lost: this.onClose, ready: this.onReady });
  }

  private detach(connection: SubscriberConnection): void {
    this.attached = false;
    connection.detach();
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
