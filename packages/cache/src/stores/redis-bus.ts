/**
 * The invalidation bus over Redis pub/sub, as the cache reads it: one channel per cache name,
 * messages of keys and versions (never values), published by the store's scripts in the same step
 * as the write. The connection is core's (`PubSubRouter`: who opens and closes the subscriber, how
 * a lost connection is noticed); what a message means is the cache's, here.
 *
 * Pub/sub is fire-and-forget: a subscriber that is not connected misses messages for good. So
 * whenever the router reports a gap — the subscription just became active (a cache may have
 * filled its L1 before), or its connection is back after a loss — the listener gets a `reset`
 * message and clears its L1 and its tag versions; `l1.maxStaleMs` bounds what a lost message can
 * cost in between.
 */
import type { ChannelListener } from '@breakwater/core/redis';
import type { InvalidationListener, InvalidationMessage } from '../store.js';

/** The wire format published by the scripts and by `bumpTags`. */
interface WireMessage {
  o: string;
  k?: string[];
  t?: string[];
  v: (string | number)[];
}

const RESET: InvalidationMessage = Object.freeze({ kind: 'reset' });

/** The router's listener of a cache's channel: parses messages, turns gaps into `reset`. */
export function busListener(listener: InvalidationListener): ChannelListener {
  return {
    message(payload) {
      const message = parseBusMessage(payload);
      if (message !== undefined) listener(message);
    },
    gap() {
      listener(RESET);
    },
  };
}

/** A message of the bus, or `undefined` for a payload that is not one (ignored). */
export function parseBusMessage(payload: string): InvalidationMessage | undefined {
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
