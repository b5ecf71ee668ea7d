/**
 * What a replica enforces on its own under `onStoreError: 'local'`: its share of every limit (and
 * burst), in an in-process store. The share is `localShare` when given, otherwise `1 / N` for the
 * fleet's last known size N, resized as the replica registry reports a new N.
 */
import { compileLimit } from '../algorithms/compile.js';
import { type CompiledLimit, layoutName } from '../algorithms/limit.js';
import type { StoreHandle } from '../store.js';
import { memoryStore } from '../stores/memory.js';

/** The in-process limits of one replica, and the store that applies them. */
export class LocalShares {
  /** The in-process store holding this replica's local state. */
  handle: StoreHandle;
  /** Every limit scaled by {@link share}. */
  limits: readonly CompiledLimit[];
  private current: number;

  constructor(
    private readonly name: string,
    private readonly fleetLimits: readonly CompiledLimit[],
    share: number,
  ) {
    this.current = share;
    this.limits = this.scaled(share);
    this.handle = this.scope(this.limits);
  }

  /** The share of each limit this replica enforces alone, in (0, 1]. */
  get share(): number {
    return this.current;
  }

  /**
   * Changes the share. The local state starts afresh: a resize happens when the registry heard
   * from the store, so the local limits were not in use; when they are, N is frozen.
   */
  resize(share: number): void {
    if (share === this.current) return;
    this.current = share;
    this.limits = this.scaled(share);
    this.handle = this.scope(this.limits);
  }

  private scaled(share: number): CompiledLimit[] {
    return this.fleetLimits.map((limit) =>
      compileLimit(limit.algorithm, limit.limit * share, limit.intervalMs, limit.burst * share),
    );
  }

  private scope(limits: readonly CompiledLimit[]): StoreHandle {
    return memoryStore().scope({ name: this.name, layout: layoutName(limits), limits });
  }
}
