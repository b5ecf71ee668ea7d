import { type DeadlineQueue, isStoreTimeoutError } from '@breakwater/core';
import { describe, expect, it } from 'vitest';
import { StoreCalls } from '../store-calls.js';
import { LimiterTelemetry } from '../telemetry.js';

function storeCalls(deadlineMs: number): StoreCalls {
  return new StoreCalls(
    'test',
    deadlineMs,
    new LimiterTelemetry('calls', 'test'),
    { now: () => Date.now() },
    false,
  );
}

/** The calls still tracked as in flight (the private deadline queue's size). */
function tracked(calls: StoreCalls): number {
  return (calls as unknown as { deadlines: DeadlineQueue }).deadlines.size;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('StoreCalls', () => {
  it('settles calls out of order; only the hung one misses the deadline', async () => {
    const calls = storeCalls(40);
    const never = new Promise<number>(() => {});
    const first = calls.run('consume', () => Promise.resolve(1), undefined);
    const hung = calls.run('consume', () => never, undefined);
    const third = calls.run('consume', () => sleep(5).then(() => 3), undefined);
    const sync = calls.run('peek', () => 4, undefined);
    expect(tracked(calls)).toBe(3);
    expect(await first).toBe(1);
    expect(await sync).toBe(4);
    expect(await third).toBe(3);
    // Settled calls left the list at once: only the hung one is still there.
    expect(tracked(calls)).toBe(1);
    const error = await hung.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isStoreTimeoutError(error)).toBe(true);
    expect(calls.status).toBe('degraded');
    expect(tracked(calls)).toBe(0);
  });

  it('rejects with the caller’s reason when the caller aborts, without degrading the store', async () => {
    const calls = storeCalls(1000);
    const controller = new AbortController();
    const pending = calls.run('consume', () => sleep(20).then(() => 1), controller.signal);
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(tracked(calls)).toBe(0);
    await sleep(30);
    expect(calls.status).toBe('healthy');
  });

  it('turns a synchronous throw into a store error', async () => {
    const calls = storeCalls(1000);
    const pending = calls.run(
      'consume',
      () => {
        throw new Error('boom');
      },
      undefined,
    );
    await expect(pending).rejects.toMatchObject({ name: 'StoreError' });
    expect(calls.status).toBe('degraded');
    expect(tracked(calls)).toBe(0);
  });
});
