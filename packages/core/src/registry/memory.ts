/**
 * The in-process replica backend: replicas are registries sharing one backend object (several
 * policies of one name in one process, or tests). Expiry uses the clock it is given.
 */
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import type { ReplicaBackend } from './backend.js';

/**
 * Creates an in-process {@link ReplicaBackend}. Every registry given the same backend counts as a
 * replica of the same fleet.
 * @param clock The clock of expiry times.
 */
export function memoryReplicaBackend(clock: Clock = systemClock): ReplicaBackend {
  const expiries = new Map<string, number>();
  const prune = (now: number): void => {
    for (const [id, expiresAt] of expiries) if (expiresAt <= now) expiries.delete(id);
  };
  return {
    heartbeat(replicaId, ttlMs) {
      const now = clock.now();
      prune(now);
      expiries.set(replicaId, now + ttlMs);
      return Promise.resolve(expiries.size);
    },
    leave(replicaId) {
      expiries.delete(replicaId);
      return Promise.resolve();
    },
  };
}
