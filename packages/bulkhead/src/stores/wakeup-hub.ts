/**
 * One subscriber connection shared by every bulkhead of a Redis store: it subscribes to each
 * bulkhead's release channel and dispatches messages to that bulkhead's waiters.
 */
import type { RedisClient } from '@breakwater/core/redis';

/** Dispatches pub/sub messages of one subscriber connection by channel. */
export class WakeupHub {
  private readonly handlers = new Map<string, Set<() => void>>();

  constructor(private readonly subscriber: RedisClient) {
    subscriber.on('message', (channel: string) => {
      const handlers = this.handlers.get(channel);
      if (handlers === undefined) return;
      for (const handler of handlers) handler();
    });
  }

  /**
   * Calls `handler` on every message on `channel`. Returns a function that stops it (and
   * unsubscribes the channel when no handler is left).
   */
  subscribe(channel: string, handler: () => void): () => Promise<void> {
    let handlers = this.handlers.get(channel);
    if (handlers === undefined) {
      handlers = new Set();
      this.handlers.set(channel, handlers);
      // A failed SUBSCRIBE only costs latency: waiters still poll. Not worth failing the bulkhead.
      this.subscriber.subscribe(channel).catch(() => {});
    }
    handlers.add(handler);
    return async () => {
      const current = this.handlers.get(channel);
      if (current === undefined || !current.delete(handler) || current.size > 0) return;
      this.handlers.delete(channel);
      await this.subscriber.unsubscribe(channel).catch(() => {});
    };
  }
}
