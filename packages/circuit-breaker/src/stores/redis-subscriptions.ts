/**
 * The pub/sub side of the Redis store: one subscriber connection per store, one channel, and the
 * breakers listening on it, routed by breaker id. The connection is opened when the first breaker
 * subscribes and closed when the last one leaves, unless the user passed their own.
 */
import type { RedisClient } from '@breakwater/core/redis';
import type { BreakerViewListener } from '../store.js';
import { decodeView } from './view-codec.js';

type Subscriber = RedisClient & {
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  off(event: 'message', listener: (channel: string, message: string) => void): unknown;
  quit(): Promise<unknown>;
};

/** The listeners of one store's transition channel. */
export class Subscriptions {
  /** Whether the store pushes transitions at all. */
  readonly enabled: boolean;
  private readonly listeners = new Map<string, Set<BreakerViewListener>>();
  private readonly gapListeners = new Set<() => void>();
  private connection: Subscriber | undefined;
  private readonly owned: boolean;
  private size = 0;

  constructor(
    private readonly client: RedisClient,
    subscriber: RedisClient | false | undefined,
    private readonly channel: string,
  ) {
    this.enabled = subscriber !== false;
    this.owned = subscriber === undefined;
    if (subscriber) this.connection = subscriber as Subscriber;
  }

  private readonly onMessage = (channel: string, message: string): void => {
    if (channel !== this.channel) return;
    const newline = message.indexOf('\n');
    if (newline < 0) return;
    const listeners = this.listeners.get(message.slice(0, newline));
    if (listeners === undefined) return;
    let view: ReturnType<typeof decodeView>;
    try {
      view = decodeView(JSON.parse(message.slice(newline + 1)));
    } catch {
      return;
    }
    if (view === undefined) return;
    for (const listener of listeners) listener(view);
  };

  /** Tells every breaker that pushes may have been missed, so each re-reads its state. */
  private readonly onGap = (): void => {
    for (const listener of this.gapListeners) listener();
  };

  /**
   * Adds a listener for the breaker `id`, and `onGap` for the moments pushes may have been missed
   * (the subscription became active, the connection came back); returns the disposer.
   */
  add(id: string, listener: BreakerViewListener, onGap?: () => void): () => void {
    const gap = onGap === undefined ? undefined : () => onGap();
    if (gap !== undefined) this.gapListeners.add(gap);
    if (this.size === 0) this.open();
    this.size++;
    let set = this.listeners.get(id);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(id, set);
    }
    const subscription: BreakerViewListener = (view) => listener(view);
    set.add(subscription);
    let disposed = false;
    return () => {
      if (disposed) return;
      disposed = true;
      if (gap !== undefined) this.gapListeners.delete(gap);
      set.delete(subscription);
      if (set.size === 0) this.listeners.delete(id);
      if (--this.size === 0) void this.release();
    };
  }

  private open(): void {
    if (this.connection === undefined) {
      this.connection = (this.client as unknown as { duplicate(): Subscriber }).duplicate();
      // A store must not crash the process on a connection error; ioredis reconnects by itself
      // and resubscribes, and breakers resync by reading meanwhile.
      (this.connection as unknown as { on(event: 'error', listener: () => void): void }).on(
        'error',
        () => {},
      );
    }
    const connection = this.connection as Subscriber & {
      on(event: 'ready', listener: () => void): unknown;
      off(event: 'ready', listener: () => void): unknown;
    };
    connection.on('message', this.onMessage);
    // ioredis resubscribes by itself after a reconnect and then emits 'ready'; whatever was
    // published in between is lost, so that is a gap too.
    connection.on('ready', this.onGap);
    connection.subscribe(this.channel).then(this.onGap, () => {});
  }

  private async release(): Promise<void> {
    const connection = this.connection;
    if (connection === undefined) return;
    connection.off('message', this.onMessage);
    (connection as unknown as { off(event: 'ready', listener: () => void): unknown }).off(
      'ready',
      this.onGap,
    );
    if (this.owned) {
      this.connection = undefined;
      await connection.quit().catch(() => {});
    } else {
      await connection.unsubscribe(this.channel).catch(() => {});
    }
  }

  /** Drops every listener and closes the connection the store opened. */
  async close(): Promise<void> {
    this.listeners.clear();
    this.gapListeners.clear();
    if (this.size > 0) {
      this.size = 0;
      await this.release();
    }
  }
}
