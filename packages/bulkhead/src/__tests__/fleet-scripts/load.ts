/**
 * Fleet replica: runs tasks through a fleet bulkhead (global limit 8) and reports the highest
 * fleet-wide in-flight count any task observed. `PERMIT_QUOTA` serves the calls from blocks of
 * permits (`permitQuota`).
 */

import { reportResult } from '@breakwater/testkit/replica';
import { bulkhead } from '../../index.js';
import { backendFromEnv } from './store-from-env.js';

const backend = await backendFromEnv();
const b = bulkhead({
  name: 'fleet',
  maxConcurrent: 8,
  maxQueue: 1_000,
  maxWaitMs: 30_000,
  leaseTtlMs: 5_000,
  wakeupPollMs: 250,
  storeDeadlineMs: Number(process.env.STORE_DEADLINE_MS ?? 1_000),
  store: backend.store,
  permitQuota:
    process.env.PERMIT_QUOTA === undefined ? undefined : Number(process.env.PERMIT_QUOTA),
});
/** Concurrent callers in this replica, and tasks each runs. */
const workers = Number(process.env.WORKERS ?? 6);
const tasksPerWorker = Number(process.env.TASKS ?? 6);
/** Base duration of a task; a slower store needs longer tasks for the limit to be reached. */
const taskMs = Number(process.env.TASK_MS ?? 10);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let maxSeen = 0;
let completed = 0;
const errors: string[] = [];
await Promise.all(
  Array.from({ length: workers }, async () => {
    for (let task = 0; task < tasksPerWorker; task++) {
      try {
        await b.execute(async () => {
          const inflight = await backend.count(1);
          maxSeen = Math.max(maxSeen, inflight);
          await sleep(taskMs * (1 + Math.random()));
          await backend.count(-1);
        });
        completed++;
      } catch (error) {
        const cause = (error as { cause?: unknown }).cause;
        const detail = cause instanceof Error ? ` (cause: ${cause.name}: ${cause.message})` : '';
        errors.push(
          error instanceof Error ? `${error.name}: ${error.message}${detail}` : String(error),
        );
      }
    }
  }),
);
await b.close();
await backend.close();
await reportResult({ maxSeen, completed, expected: workers * tasksPerWorker, errors });
