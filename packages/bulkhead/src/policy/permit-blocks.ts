/**
 * Fleet quota (`permitQuota`): a replica holds its fleet permits in blocks and serves its calls
 * from them, instead of one acquire and one release round trip per call.
 *
 * Design:
 *
 * - **One lease per block.** A block is one lease in the store that counts `k` permits (the Redis
 *   store keeps `k` beside the lease, the memory store in the lease). The store's acquire grants
 *   up to the `k` asked, as many as the layout allows, atomically, so the fleet count stays
 *   exact: at every instant the permits of all per-call leases and all blocks of the fleet are at
 *   most the limit. Each priority class has its own block, counted against that class's
 *   reservation and cap like single permits.
 * - **Served locally.** A call takes a free permit of its class's block with no store call. It
 *   carries the block's fencing token; when the block's lease is lost, every call under it has
 *   its signal aborted with a `LeaseLostError`, as a call with its own lease would. The block's
 *   lease is judged by local time on each read of a call's signal and before each new call takes
 *   a permit of it, so after a pause past the lease no call acts on it, nor starts under it.
 * - **Sized by demand.** The first block asks for twice the calls waiting for it (at least 2);
 *   a call that finds the block full asks to double it (one resize round trip, shared by every
 *   call that arrives meanwhile), up to `permitQuota`. The lease keeper renews the block every
 *   `renewIntervalMs` with the same resize operation, which cuts it down to the most calls that
 *   ran under it at once since the previous renewal, and hands it back when none ran (idle).
 *   `close()` and `settle()` hand back every block with no call running. Resizes of one block
 *   run one after the other, and a block shrinks locally before the store is told, so the store
 *   never counts fewer permits than calls of this replica run under the block.
 * - **Per-call path under contention.** The fleet is near its limit when the store grants a block
 *   fewer permits than asked, answers a resize with "someone was refused recently" (the Redis
 *   store's waiting marker), or tells the scope's contention listeners that a caller anywhere was
 *   refused (Redis publishes it on the bulkhead's channel, once per waiting marker). Then, for the
 *   next `renewIntervalMs`, this replica takes no permit from its blocks for new calls — they
 *   acquire a lease each, as without a quota, and wait in the store with the other replicas' calls
 *   — and each block gives a permit back as soon as the call holding it ends (one resize at a
 *   time, cut to the calls still running), and is handed back once none runs.
 *
 * Fairness given up: while the fleet is not contended, a permit freed in a block goes to the next
 * call of the same replica, not to the call that has waited longest in the fleet, and a block
 * holds permits its replica does not use for up to `renewIntervalMs` (until the renewal that
 * trims it). Contention is heard at once through the store's channel; without a subscriber
 * (`subscriber: false`) only at the next grow or renewal of each block, so a replica whose block
 * holds most of the permits can keep the others waiting for up to `renewIntervalMs`.
 */
import { raceAbort } from '@breakwater/core';
import type { ResolvedClass } from '../options.js';
import type { AcquireResult, Lease, ResizeResult } from '../store.js';
import { HeldPermit, type LeaseHolder } from './held-permit.js';
import type { LeaseKeeper } from './lease-keeper.js';

/** The permit of one call served from a block: the block's lease, checked through the block. */
export class BlockCall extends HeldPermit {
  constructor(readonly block: PermitBlock) {
    // Its lease end is the block's: the block answers `checkLapsed` for it.
    super(block.lease, 0, Number.POSITIVE_INFINITY, block);
  }
}

/** One block: a lease counting `size` permits, and the calls running under it. */
export class PermitBlock extends HeldPermit implements LeaseHolder {
  /** The permits the store counts for the lease, as far as this replica may use them. */
  size: number;
  /** Calls running under the block now. */
  inUse = 0;
  /** The most calls that ran under the block at once since its last renewal. */
  peak = 0;
  /** No new call may take a permit of it: lost, or being handed back. */
  retired = false;
  /** Whether its lease was given back (or found gone): it is released at most once. */
  released = false;
  /** The resize in flight (grow or renewal): resizes of one block run one after the other. */
  busy: Promise<unknown> = Promise.resolve();
  /** Whether a trim (contention) waits to run: one at a time is enough, it reads `inUse` then. */
  trimQueued = false;
  private readonly calls = new Set<HeldPermit>();

  constructor(
    override readonly lease: Lease,
    readonly classIndex: number,
    sentAt: number,
    ttlMs: number,
    private readonly keeper: LeaseKeeper,
    private readonly onLost: (block: PermitBlock) => void,
  ) {
    super(lease, sentAt, ttlMs, keeper);
    this.size = lease.permits ?? 1;
  }

  /** Takes one permit for a call (the caller checked there is room). */
  take(): BlockCall {
    this.inUse++;
    if (this.inUse > this.peak) this.peak = this.inUse;
    return new BlockCall(this);
  }

  /** A call under the block started (its `open`): it is aborted with the block. */
  hold(call: HeldPermit): void {
    if (this.lostReason !== undefined) call.lose(this.lostReason);
    else this.calls.add(call);
  }

  /** A call under the block reads its signal: the block's lease decides. */
  checkLapsed(): void {
    if (this.lostReason === undefined) this.keeper.checkLapsed(this);
  }

  /** A call under the block finished. */
  finish(call: BlockCall): void {
    this.calls.delete(call);
    call.close();
    this.inUse--;
  }

  /** The lease is lost: aborts every call under the block. */
  override lose(reason: unknown): void {
    super.lose(reason);
    this.retired = true;
    for (const call of this.calls) call.lose(reason);
    this.calls.clear();
    this.onLost(this);
  }
}

/** What the blocks need from their bulkhead's fleet permits. */
export interface PermitBlocksOptions {
  /** `permitQuota`: the most permits one block counts. */
  readonly quota: number;
  readonly renewIntervalMs: number;
  readonly leaseTtlMs: number;
  /** The time lease ends are measured on (`leaseClock`). */
  readonly now: () => number;
  /** The current fleet limit: a block never asks for more. */
  readonly limit: () => number;
  readonly keeper: LeaseKeeper;
  /** Acquires a block lease of up to `permits`; `undefined` when the store did not answer. */
  readonly acquire: (cls: ResolvedClass, permits: number) => Promise<AcquireResult | undefined>;
  /** Renews a block lease and sets its count; `undefined` when the store did not answer. */
  readonly resize: (lease: Lease, permits: number) => Promise<ResizeResult | undefined>;
  /** Gives a lease back (never rejects; tracked by the fleet permits' pending releases). */
  readonly release: (lease: Lease) => Promise<void>;
  /** A block of a class has room again for calls queued for a per-call permit. */
  readonly onRoom: (classIndex: number) => void;
}

/** The blocks of one bulkhead, one per priority class at most. */
export class PermitBlocks {
  private readonly blocks: (PermitBlock | undefined)[];
  /** Per class: the acquire or grow in flight, which arriving calls wait for. */
  private readonly pending: (Promise<void> | undefined)[];
  /** Per class: calls waiting for {@link pending}. */
  private readonly demand: number[];
  /** Per class: until when (lease clock) new calls take per-call permits (contention). */
  private readonly contendedUntil: number[];
  private closed = false;

  constructor(
    private readonly options: PermitBlocksOptions,
    classCount: number,
  ) {
    this.blocks = new Array<PermitBlock | undefined>(classCount).fill(undefined);
    this.pending = new Array<Promise<void> | undefined>(classCount).fill(undefined);
    this.demand = new Array<number>(classCount).fill(0);
    this.contendedUntil = new Array<number>(classCount).fill(Number.NEGATIVE_INFINITY);
  }

  /** Whether new calls of the class take per-call permits now (contention). */
  contended(classIndex: number): boolean {
    return this.options.now() < this.contendedUntil[classIndex]!;
  }

  /**
   * A permit of the class's block if it has room now, its lease has not lapsed by local time, and
   * the fleet is not contended.
   */
  tryTake(classIndex: number): BlockCall | undefined {
    const block = this.blocks[classIndex];
    if (block === undefined || block.retired || block.inUse >= block.size) return undefined;
    // After a pause of the process (SIGSTOP, a long GC, a blocked event loop) a call may arrive
    // before the keeper's tick has found the block's lease lapsed: the store may have handed its
    // permits on, so the block serves no new call. Declaring it lost retires it (its running calls
    // are aborted), and the caller takes a new block or a per-call permit. One clock read.
    block.checkLapsed();
    if (block.retired || this.contended(classIndex)) return undefined;
    return block.take();
  }

  /**
   * A permit from the class's block: at once when it has room, else after taking a block or
   * growing it (one store round trip, shared with every call that arrives meanwhile). `undefined`
   * when the call should take a per-call permit instead: the fleet is contended, the block is at
   * the quota, or the store did not grant enough. Rejects with `signal.reason` if the caller
   * leaves while it waits.
   */
  async take(cls: ResolvedClass, signal: AbortSignal | undefined): Promise<BlockCall | undefined> {
    const i = cls.index;
    const now = this.tryTake(i);
    if (now !== undefined || this.closed || this.contended(i)) return now;
    let pending = this.pending[i];
    if (pending === undefined) {
      const block = this.blocks[i];
      if (block !== undefined && !block.retired) {
        if (block.size >= this.cap()) return undefined;
        pending = this.grow(block);
      } else {
        pending = this.open(cls);
      }
      const started = pending.finally(() => {
        if (this.pending[i] === started) this.pending[i] = undefined;
      });
      this.pending[i] = started;
      pending = started;
    }
    this.demand[i]!++;
    try {
      await raceAbort(pending, signal);
    } finally {
      this.demand[i]!--;
    }
    return this.tryTake(i);
  }

  /**
   * A call under a block finished: frees its permit — for the next call of this replica, or under
   * contention back to the fleet — and hands back a retired block once idle.
   */
  finish(call: BlockCall): void {
    const block = call.block;
    block.finish(call);
    if (block.retired) {
      if (block.inUse === 0) this.release(block);
    } else if (this.contended(block.classIndex)) {
      this.trimSoon(block);
    } else if (block.inUse < block.size) {
      this.options.onRoom(block.classIndex);
    }
  }

  /**
   * The store says the fleet became contended (someone was refused): new calls take per-call
   * permits for a while, and every block gives back the permits no call uses now.
   */
  contention(): void {
    for (let i = 0; i < this.blocks.length; i++) this.contend(i);
    for (const block of this.blocks) if (block !== undefined) this.trimSoon(block);
  }

  /**
   * The keeper's renewal of a block: cuts it down to its peak use since the last renewal (to the
   * calls running now under contention), or hands it back when no call ran under it.
   */
  renew(block: PermitBlock): Promise<boolean | undefined> {
    return this.serially(block, async () => {
      if (block.released) return undefined;
      const i = block.classIndex;
      // A retired block still renews for the calls that run under it, cut down to them.
      const wanted =
        block.retired || this.contended(i) ? block.inUse : Math.max(block.inUse, block.peak);
      block.peak = block.inUse;
      if (wanted === 0) {
        this.retire(block);
        return undefined;
      }
      // Shrink here first: from now on no more calls run under it than the store will count.
      if (wanted < block.size) block.size = wanted;
      const answer = await this.options.resize(block.lease, Math.min(wanted, block.size));
      if (answer === undefined) return undefined;
      if (answer.permits === 0) return false;
      this.settle(block, answer);
      return true;
    });
  }

  /** Hands back every block no call runs under now; the others once their last call ends. */
  handBackIdle(): void {
    for (const block of this.blocks) {
      if (block !== undefined && block.inUse === 0) this.retire(block);
    }
  }

  /** Hands back every block (each once no call runs under it) and takes no new one. */
  close(): void {
    this.closed = true;
    for (const block of this.blocks) if (block !== undefined) this.retire(block);
  }

  /** The most permits a block may count now: the quota, within the current limit. */
  private cap(): number {
    return Math.max(1, Math.min(this.options.quota, this.options.limit()));
  }

  /** Acquires a block for the class (after the calls arriving in this tick joined the demand). */
  private async open(cls: ResolvedClass): Promise<void> {
    await undefined;
    const i = cls.index;
    const wanted = Math.min(this.cap(), Math.max(2, 2 * this.demand[i]!));
    const sentAt = this.options.now();
    const answer = await this.options.acquire(cls, wanted);
    if (answer === undefined || !answer.granted) {
      // The store did not answer, or the fleet is full: per-call permits, with their waiting and
      // their `onStoreError` answers, for a while.
      this.contend(i);
      return;
    }
    const block = new PermitBlock(
      answer.lease,
      i,
      sentAt,
      this.options.leaseTtlMs,
      this.options.keeper,
      (lost) => this.forget(lost),
    );
    if ((answer.lease.permits ?? 1) < wanted) this.contend(i);
    if (this.closed) {
      this.retire(block);
      return;
    }
    this.blocks[i] = block;
    this.options.keeper.hold(block);
    // Contended already (heard before this answer, or granted fewer than asked): new calls take
    // per-call permits, so what no call uses goes back now.
    if (this.contended(i)) this.trimSoon(block);
  }

  /** Doubles a full block (or more, for the calls waiting), within the cap. */
  private grow(block: PermitBlock): Promise<void> {
    return this.serially(block, async () => {
      await undefined;
      if (block.retired) return;
      const wanted = Math.min(
        this.cap(),
        Math.max(2 * block.size, block.inUse + this.demand[block.classIndex]!),
      );
      if (wanted <= block.size) return;
      const answer = await this.resizeTo(block, wanted);
      if (answer !== undefined && answer.permits < wanted) this.contend(block.classIndex);
    });
  }

  /** Cuts a block down to the calls running under it now, soon (after the resize in flight). */
  private trimSoon(block: PermitBlock): void {
    if (block.trimQueued) return;
    block.trimQueued = true;
    void this.serially(block, async () => {
      block.trimQueued = false;
      if (block.retired) return;
      if (block.inUse === 0) {
        this.retire(block);
        return;
      }
      if (block.inUse >= block.size) return;
      // Shrink here first: from now on no more calls run under it than the store will count.
      block.size = block.inUse;
      await this.resizeTo(block, block.size);
    });
  }

  /**
   * Grows or shrinks a block outside its renewal; applies the answer (which renewed the lease
   * too). `undefined` when the store did not answer; a lease found gone is lost.
   */
  private async resizeTo(block: PermitBlock, wanted: number): Promise<ResizeResult | undefined> {
    const sentAt = this.options.now();
    const answer = await this.options.resize(block.lease, wanted);
    if (answer === undefined || block.retired) return undefined;
    if (answer.permits === 0) {
      this.options.keeper.lose(block, undefined);
      return undefined;
    }
    block.renewedAt = sentAt;
    block.leaseEnd = sentAt + this.options.leaseTtlMs;
    this.settle(block, answer);
    return answer;
  }

  /** Applies a resize's answer: the store's count, and its word on contention. */
  private settle(block: PermitBlock, answer: ResizeResult): void {
    block.size = answer.permits;
    if (answer.contended) this.contend(block.classIndex);
  }

  /** Runs `op` after the block's resize in flight, if any. */
  private serially<T>(block: PermitBlock, op: () => Promise<T>): Promise<T> {
    const run = block.busy.then(op);
    block.busy = run.catch(() => {});
    return run;
  }

  private contend(classIndex: number): void {
    this.contendedUntil[classIndex] = this.options.now() + this.options.renewIntervalMs;
  }

  /**
   * Takes no new call under `block` and gives it back once no call runs under it; until then the
   * keeper goes on renewing it (so its calls keep their permits and still learn of a loss).
   */
  private retire(block: PermitBlock): void {
    block.retired = true;
    this.forget(block);
    if (block.inUse === 0) this.release(block);
  }

  private forget(block: PermitBlock): void {
    if (this.blocks[block.classIndex] === block) this.blocks[block.classIndex] = undefined;
  }

  /** Stops renewing the block and gives its lease back, once. */
  private release(block: PermitBlock): void {
    if (block.released) return;
    block.released = true;
    this.options.keeper.drop(block);
    void this.options.release(block.lease);
  }
}
