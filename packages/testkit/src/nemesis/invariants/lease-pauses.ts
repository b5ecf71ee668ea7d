/**
 * The pauses that caught a lease holder: the nemesis records, just before each `replica-pause` of
 * a scenario that names its leases, whom it hit and whether that replica held a fleet lease then
 * (a `pause-target` event, see scenario.ts). The lease checkers report how many did, so a run
 * shows that it judged what a resumed holder does.
 */
import type { HistoryEvent } from '../history.js';

/** A pause of a replica that held a lease, as the nemesis recorded it. */
export interface HolderPause {
  replica: number;
  /** The call under the lease (`pid:call`), its start's kind and key. */
  call: string;
  kind: string;
  key: string | undefined;
  /** When the pause was chosen (just before the SIGSTOP), shared monotonic ms. */
  at: number;
}

/** The `replica-pause`s that hit a replica holding a lease whose call starts with `kind`. */
export function holderPauses(history: HistoryEvent[], kind: string): HolderPause[] {
  const pauses: HolderPause[] = [];
  for (const event of history) {
    if (event.f !== 'pause-target' || event.process !== -1) continue;
    const target = event.value as {
      replica: number;
      holding: boolean;
      call?: string;
      kind?: string;
      key?: string;
    };
    if (!target.holding || target.kind !== kind) continue;
    pauses.push({
      replica: target.replica,
      call: target.call ?? '',
      kind: target.kind,
      key: target.key,
      at: event.mono,
    });
  }
  return pauses;
}
