/**
 * What a replica registry needs from a store: one atomic "I am alive, how many of us are?" and
 * one "I am leaving". Each store implements it with the policy's own key space (Redis: a sorted
 * set in the policy's hash slot; DynamoDB: one item with an attribute per replica; memory: a map).
 */

/** The store side of a {@link ReplicaRegistry}. */
export interface ReplicaBackend {
  /**
   * Whether the operations stop when their signal aborts (DynamoDB requests do; an ioredis command
   * cannot be taken back). Only then does the store call path give each call a signal of its own.
   */
  readonly abortable?: boolean | undefined;
  /**
   * Atomically: records `replicaId` as alive for `ttlMs` more milliseconds, forgets replicas whose
   * time has run out, and answers how many replicas are alive (this one included).
   */
  heartbeat(replicaId: string, ttlMs: number, signal: AbortSignal | undefined): Promise<number>;
  /** Forgets `replicaId` at once (a replica that closes). */
  leave(replicaId: string, signal: AbortSignal | undefined): Promise<void>;
}
