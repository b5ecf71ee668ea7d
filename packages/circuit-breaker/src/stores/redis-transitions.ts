/**
 * The transition channel of one Redis store: every breaker of the store listens on one channel,
 * whose messages (`<breaker id>\n<view JSON>`) are routed here by breaker id. The connection is
 * core's `PubSubRouter`'s: it opens the store's own subscriber when the first breaker listens and
 * closes it (at once, never waiting on the server) when the last one leaves, or
 * subscribes on the connection the user passed, which stays theirs.
 */
import type { PubSubRouter } from '@breakwater/core/redis';
import type { BreakerViewListener } from '../store.js';
import { decodeView } from './view-codec.js';

/** One breaker's subscription: its own object, so two identical subscriptions stay distinct. */
interface Subscription {
  readonly listener: BreakerViewListener;
  readonly onGap: (() => void) | undefined;
}

/** The breakers listening on one store's transition channel, by breaker id. */
export class TransitionChannel {
  private readonly byId = new Map<string, Set<Subscription>>();
  private size = 0;
  private stopListening: (() => void) | undefined;

  /**
   * @param router The store's pub/sub router.
   * @param channel The channel transitions are published on.
   */
  constructor(
    private readonly router: PubSubRouter,
    readonly channel: string,
  ) {}

  /** Whether the store has a subscriber at all (`subscriber: false` turns pushes off). */
  get enabled(): boolean {
    return this.router.enabled;
  }

  /**
   * Adds a listener of the views pushed for breaker `id`, and `onGap` for the moments pushes may
   * have been missed (the subscription became active, the connection came back); returns the
   * disposer.
   */
  add(id: string, listener: BreakerViewListener, onGap?: () => void): () => void {
    const subscription: Subscription = { listener, onGap };
    let listeners = this.byId.get(id);
    if (listeners === undefined) {
      listeners = new Set();
      this.byId.set(id, listeners);
    }
    const own = listeners;
    own.add(subscription);
    if (this.size++ === 0) {
      this.stopListening = this.router.listen(this.channel, {
        message: this.onMessage,
        gap: this.onGap,
      });
    }
    let disposed = false;
    return () => {
      if (disposed || !own.delete(subscription)) return;
      disposed = true;
      if (own.size === 0 && this.byId.get(id) === own) this.byId.delete(id);
      if (--this.size === 0) this.stop();
    };
  }

  /** Drops every listener and stops listening on the channel. */
  close(): void {
    this.byId.clear();
    this.size = 0;
    this.stop();
  }

  private stop(): void {
    const stop = this.stopListening;
    this.stopListening = undefined;
    stop?.();
  }

  private readonly onMessage = (message: string): void => {
    const newline = message.indexOf('\n');
    if (newline < 0) return;
    const listeners = this.byId.get(message.slice(0, newline));
    if (listeners === undefined) return;
    let view: ReturnType<typeof decodeView>;
    try {
      view = decodeView(JSON.parse(message.slice(newline + 1)));
    } catch {
      return;
    }
    if (view === undefined) return;
    for (const { listener } of listeners) listener(view);
  };

  /** Tells every breaker that pushes may have been missed, so each re-reads its state. */
  private readonly onGap = (): void => {
    for (const listeners of this.byId.values()) {
      for (const { onGap } of listeners) onGap?.();
    }
  };
}
