/**
 * What a replica enforces on its own under `onStoreError: 'local'`: its share of every limit (and
 * burst), in an in-process store. The share is `localShare` when given, otherwise `1 / N` for the
 * fleet's last known size N, resized as the replica registry reports a new N. A `perReplica`
 * limit is `perReplica × N` for the fleet, so its `1 / N` share is exactly `perReplica`, whatever
 * N.
 */
import { compileLimit } from '../algorithms/compile.js';
import { type CompiledLimit, layoutName } from '../algorithms/limit.js';
import type { LimitSpec } from '../options.js';
import type { StoreHandle } from '../store.js';
import { memoryStore } from '../stores/memory.js';

/** The in-process limits of one replica, and the store that applies them. */
export class LocalShares {
  /** The in-process store holding this replica's local state. */
  handle: StoreHandle;
  /** Every limit scaled to this replica's share. */
  limits: readonly CompiledLimit[];
  private replicas: number;

  /**
   * @param specs The limits as configured.
   * @param fixedShare `localShare`, when given: the share whatever the fleet's size.
   * @param replicas The fleet's size as known now.
   */
  constructor(
    private readonly name: string,
    private specs: readonly LimitSpec[],
    private readonly fixedShare: number | undefined,
    replicas: number,
  ) {
    this.replicas = replicas;
    this.limits = this.scaled(replicas);
    this.handle = this.scope(this.limits);
  }

  /** The share of each fleet limit this replica enforces alone, in (0, 1]. */
  get share(): number {
    return this.fixedShare ?? 1 / this.replicas;
  }

  /**
   * Follows a new fleet size. When the local limits change, the local state starts afresh: a
   * resize happens when the registry heard from the store, so the local limits were not in use
   * (while they are, N is frozen). When they do not (only `perReplica` limits, and no
   * `localShare`), the local state is kept.
   */
  resize(replicas: number): void {
    if (replicas === this.replicas) return;
    this.replicas = replicas;
    const limits = this.scaled(replicas);
    if (sameLimits(limits, this.limits)) return;
    this.limits = limits;
    this.handle = this.scope(limits);
  }

  /** New limits (`setLimits()`): the local state starts afresh under the new shares. */
  respec(specs: readonly LimitSpec[]): void {
    this.specs = specs;
    this.limits = this.scaled(this.replicas);
    this.handle = this.scope(this.limits);
  }

  private scaled(replicas: number): CompiledLimit[] {
    const fixed = this.fixedShare;
    return this.specs.map((spec) => {
      // Written so that a perReplica limit's share under `1 / N` is `perReplica` exactly, not
      // `perReplica × N × (1 / N)` with its rounding.
      let factor: number;
      if (fixed !== undefined) factor = spec.perReplica ? replicas * fixed : fixed;
      else factor = spec.perReplica ? 1 : 1 / replicas;
      return compileLimit(
        spec.algorithm,
        spec.limit * factor,
        spec.intervalMs,
        spec.burst * factor,
      );
    });
  }

  private scope(limits: readonly CompiledLimit[]): StoreHandle {
    return memoryStore().scope({ name: this.name, layout: layoutName(limits), limits });
  }
}

function sameLimits(a: readonly CompiledLimit[], b: readonly CompiledLimit[]): boolean {
  return a.every((limit, i) => limit.limit === b[i]!.limit && limit.burst === b[i]!.burst);
}
