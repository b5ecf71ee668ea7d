/** What one replica reports about itself (`GET /stats`, and to the demo). */
import type { BreakerState } from '@breakwater/circuit-breaker';

/** How a request ended, as the demo counts it. */
export const OUTCOMES = [
  /** POST /orders: charged (201). */
  'paid',
  /** POST /orders: the breaker refused the call; order taken, payment queued (202). */
  'queued',
  /** POST /orders: the upstream kept failing, retries spent or refused by the budget (502). */
  'failed',
  /** POST /orders: the bulkhead was full (503). */
  'shed',
  /** Any route: over the client's rate limit (429). */
  'limited',
  /** GET /products/:id answered (200 or 404). */
  'product',
  /** Anything else (unexpected errors). */
  'error',
] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface Transition {
  from: BreakerState;
  to: BreakerState;
  /** Epoch ms, on this replica's clock. */
  at: number;
}

/** What one run of the payments' dead-letter replay did (`POST /dead-letters/replay`). */
export interface DeadLetterReplay {
  /** Payments charged and removed from the queue. */
  replayed: number;
  /** Payments whose charge failed again; they stay in the queue. */
  failed: number;
  /** Entries another replica was replaying, or had replayed, meanwhile. */
  skipped: number;
}

export interface ReplicaStats {
  replica: number;
  pid: number;
  /** `memory` or `redis`: where the patterns keep their state. */
  stateStore: string;
  /** Where order records go (see orders.ts). */
  orderStore: string;
  breaker: BreakerState;
  transitions: Transition[];
  /** Payment calls this replica let through while its breaker was half-open. */
  probes: number;
  requests: Record<Outcome, number>;
  /** Payment attempts that were retries. */
  retries: number;
  /** Retries the budget refused. */
  retriesRefused: number;
  /** Payment attempts sent to the upstream. */
  upstreamCalls: number;
  bulkhead: { active: number; queued: number; limit: number };
  cache: { hits: number; misses: number };
  orders: { pending: number; lagMs: number };
  deadLetters: {
    /** Payments this replica sent to the dead-letter queue after their retries were spent. */
    written: number;
    /** Dead letters this replica could not write (the queue's store failed). */
    lost: number;
    /** Entries in the queue now (the fleet's, on Redis); `null` when the store did not answer. */
    pending: number | null;
  };
}

export function emptyRequests(): Record<Outcome, number> {
  return Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
}
