/** Messages between the cluster primary (fleet.ts) and a replica (worker.ts). */
import type { ReplicaStats } from './stats.js';

export type ToWorker = { type: 'stats'; id: number } | { type: 'close' };

export type FromWorker =
  | { type: 'ready'; url: string }
  | { type: 'failed'; error: string }
  | { type: 'stats'; id: number; stats: ReplicaStats };
