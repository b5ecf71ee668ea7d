/**
 * The invalidation bus over Redis pub/sub: one channel per cache name, messages of keys and
 * versions (never values), published by the store's scripts in the same step as the write.
 *
 * Pub/sub is fire-and-forget: a subscriber that is not connected misses messages for good. So
 * every time the subscriber connection becomes ready (the first time included: a cache may have
 * filled its L1 before its subscription was live), every listener gets a `reset` message and
 * clears its L1 and its tag versions; `l1.maxStaleMs` bounds what a lost message can cost in
 * between.
 */
import type { Cluster, Redis } from 'ioredis';
import type { InvalidationListener, InvalidationMessage } from '../store.js';

/** The wire format published by the scripts and by `bumpTags`. */
interface WireMessage {
  o: string;
  k?: string[];
  t?: string[];
  v: (string | number)[];
}

/** Routes messages of one subscriber connection to the listeners of each channel. */
export class RedisBus {
  private readonly channels = new Map<string, Set<InvalidationListener>>();
  private wasReady: boolean;
  private lostSinceReady = false;

  constructor(private readonly subscriber: Redis | Cluster) {
    this.wasReady = subscriber.status === 'ready';
    subscriber.on('message', (channel: string, payload: string) =>
      this.onMessage(channel, payload),
    );
    subscriber.on('close', () => {
      if (this.wasReady) this.lostSinceReady = true;
    });
    subscriber.on('ready', () => {
      const reconnected = this.lostSinceReady;
      this.wasReady = true;
      this.lostSinceReady = false;
      if (reconnected) this.broadcastReset();
    });
  }

  /** Adds a listener of `channel`, subscribing on first use; returns the unsubscriber. */
  listen(channel: string, listener: InvalidationListener): () => void {
    let listeners = this.channels.get(channel);
    if (listeners === undefined) {
      listeners = new Set();
      this.channels.set(channel, listeners);
      // A failed SUBSCRIBE is retried by ioredis on reconnect; the reset then covers the gap.
      this.subscriber.subscribe(channel).catch(() => {});
    }
    const subscription: InvalidationListener = (message) => listener(message);
    listeners.add(subscription);
    return () => {
      const current = this.channels.get(channel);
      if (current === undefined) return;
      current.delete(subscription);
      if (current.size === 0) {
        this.channels.delete(channel);
        this.subscriber.unsubscribe(channel).catch(() => {});
      }
    };
  }

  private onMessage(channel: string, payload: string): void {
    const listeners = this.channels.get(channel);
    if (listeners === undefined) return;
    const message = parse(payload);
    if (message === undefined) return;
    for (const listener of listeners) deliver(listener, message);
  }

  private broadcastReset(): void {
    const reset: InvalidationMessage = { kind: 'reset' };
    for (const listeners of this.channels.values()) {
      for (const listener of listeners) deliver(listener, reset);
    }
  }
}

function deliver(listener: InvalidationListener, message: InvalidationMessage): void {
  try {
    listener(message);
  } catch {
    // One faulty listener must not starve the others.
  }
}

function parse(payload: string): InvalidationMessage | undefined {
  let wire: WireMessage;
  try {
    wire = JSON.parse(payload) as WireMessage;
  } catch {
    return undefined;
  }
  if (typeof wire !== 'object' || wire === null || !Array.isArray(wire.v)) return undefined;
  const versions = wire.v.map(Number);
  if (Array.isArray(wire.k)) return { kind: 'keys', origin: wire.o, keys: wire.k, versions };
  if (Array.isArray(wire.t)) return { kind: 'tags', origin: wire.o, tags: wire.t, versions };
  return undefined;
}

/** Encodes a `tags` message as the scripts encode `keys` messages. */
export function encodeTagsMessage(
  origin: string,
  tags: readonly string[],
  versions: readonly number[],
): string {
  const wire: WireMessage = { o: origin, t: [...tags], v: [...versions] };
  return JSON.stringify(wire);
}
