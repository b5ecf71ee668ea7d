/**
 * Breaker transitions of every replica, grouped into fleet moves: the same change seen by several
 * replicas within a second is one move, and the spread between them shows how closely the fleet
 * followed the shared state.
 */
import type { BreakerState } from '@breakwater/circuit-breaker';
import type { ReplicaStats } from '../stats.js';

export interface FleetMove {
  from: BreakerState;
  to: BreakerState;
  /** Epoch ms of the first replica's change. */
  at: number;
  /** Each replica's delay after the first, in ms. */
  replicas: { replica: number; delayMs: number }[];
}

const SAME_MOVE_WITHIN_MS = 1_000;

export function fleetMoves(stats: ReplicaStats[]): FleetMove[] {
  const all = stats
    .flatMap((s) => s.transitions.map((t) => ({ ...t, replica: s.replica })))
    .sort((a, b) => a.at - b.at);
  const moves: FleetMove[] = [];
  for (const t of all) {
    const joins = moves.find(
      (m) =>
        m.from === t.from &&
        m.to === t.to &&
        t.at - m.at <= SAME_MOVE_WITHIN_MS &&
        !m.replicas.some((r) => r.replica === t.replica),
    );
    if (joins) joins.replicas.push({ replica: t.replica, delayMs: t.at - joins.at });
    else
      moves.push({
        from: t.from,
        to: t.to,
        at: t.at,
        replicas: [{ replica: t.replica, delayMs: 0 }],
      });
  }
  return moves;
}
