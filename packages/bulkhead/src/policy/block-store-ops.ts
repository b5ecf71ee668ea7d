/**
 * The store operations of `permitQuota`'s blocks (see `permit-blocks.ts`), built once per bulkhead
 * on the one store call path of core (deadline, degraded mode, store telemetry). A failure is
 * answered with `undefined`, whatever `onStoreError` says: no block then, and the calls take
 * per-call permits, which give the `onStoreError` answers as without a quota.
 */
import { randomUUID } from 'node:crypto';
import type { StoreCalls, StoreError } from '@breakwater/core';
import type { ResolvedClass, ResolvedOptions } from '../options.js';
import type { AcquireResult, Lease, PermitLayout, PermitScope, ResizeResult } from '../store.js';
import type { AcquireAttempt } from './fleet-permits.js';

/** One acquire of a block: up to `permits` permits in one lease. */
interface BlockAttempt extends AcquireAttempt {
  readonly permits: number;
}

/** One resize of a block: its lease and the permits wanted. */
interface ResizeAttempt {
  readonly lease: Lease;
  readonly permits: number;
}

/** What {@link blockStoreOps} builds the operations from. */
export interface BlockStoreOpsOptions {
  readonly calls: StoreCalls;
  /** The bulkhead's scope; its store grants blocks (`grantsBlocks`), so it has `resize`. */
  readonly scope: PermitScope;
  /** Whether the scope's requests stop when their signal aborts (a signal per call then). */
  readonly abortable: boolean;
  readonly options: ResolvedOptions;
  /** The layout sent with each operation. */
  readonly layout: () => PermitLayout;
  /** Bookkeeping of an acquire the store did not answer (releases a grant it may hide). */
  readonly failedAcquire: (error: StoreError, attempt: AcquireAttempt) => void;
}

/** A block's acquire and resize; each resolves `undefined` when the store did not answer. */
export interface BlockStoreOps {
  acquire(cls: ResolvedClass, permits: number): Promise<AcquireResult | undefined>;
  resize(lease: Lease, permits: number): Promise<ResizeResult | undefined>;
}

/** Builds the block operations of one bulkhead. */
export function blockStoreOps(deps: BlockStoreOpsOptions): BlockStoreOps {
  const { calls, scope, options } = deps;
  const resizeOf = scope.resize;
  if (resizeOf === undefined) {
    throw new TypeError(
      `Expected the permit store's scope to have resize() for \`permitQuota\`, got a scope without it (permitQuota ${options.permitQuota})`,
    );
  }
  // Twice the longest sleep of a waiter, as for single permits: a refusal counts that long.
  const refusedWaitMs = 2 * options.wakeupPollMs;
  const acquireOp = calls.guarded<AcquireResult | undefined, BlockAttempt>(
    'acquire',
    (attempt, signal) => {
      attempt.sent = true;
      return scope.acquire(
        {
          classIndex: attempt.cls.index,
          layout: deps.layout(),
          ttlMs: options.leaseTtlMs,
          leaseId: attempt.leaseId,
          refusedWaitMs,
          permits: attempt.permits,
        },
        signal,
      );
    },
    (error, attempt) => {
      deps.failedAcquire(error, attempt);
      return undefined;
    },
    { abortable: deps.abortable },
  );
  const resizeOp = calls.guarded<ResizeResult | undefined, ResizeAttempt>(
    'resize',
    (attempt, signal) =>
      resizeOf.call(
        scope,
        attempt.lease,
        {
          layout: deps.layout(),
          ttlMs: options.leaseTtlMs,
          permits: attempt.permits,
          refusedWaitMs,
        },
        signal,
      ),
    () => undefined,
    { abortable: deps.abortable },
  );
  return {
    acquire: (cls, permits) =>
      Promise.resolve(acquireOp.run({ cls, leaseId: randomUUID(), sent: false, permits })),
    resize: (lease, permits) => Promise.resolve(resizeOp.run({ lease, permits })),
  };
}
