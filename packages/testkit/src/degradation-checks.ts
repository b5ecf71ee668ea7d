/**
 * The building blocks of the degradation scenarios: timed calls, a status event recorder, and the
 * assertions on answers, store errors and status events, each with a message that names the
 * subject, the step and the budget it missed.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { expect } from 'vitest';
import { isNodeRedisClient, type NodeRedisCluster, type StoreClient } from './default-clients.js';
import type { CallOutcome, DegradationSubject, StoreStatusEvent } from './degradation-target.js';
import type { Fault } from './faulty-store.js';
import {
  causeChain,
  describeCauseChain,
  isStoreErrorLike,
  isStoreTimeoutErrorLike,
} from './store-error-brand.js';

/** A call that had not settled when its budget ran out. */
export interface PendingOutcome {
  /** Never settled within the budget. */
  status: 'pending';
  /** How long the suite waited. */
  elapsedMs: number;
}

// A call settling at exactly its budget must not be reported as pending by a timer that fired a
// hair earlier; the elapsed time is asserted against the budget separately.
const PENDING_GRACE_MS = 25;

/**
 * Runs `call` and resolves how it ended and how long it took, or `pending` once `limitMs` (plus a
 * small grace) has passed without an answer. The call is left running in that case.
 */
export async function timedCall(
  call: () => Promise<unknown>,
  limitMs: number,
): Promise<CallOutcome | PendingOutcome> {
  const started = performance.now();
  const settled = new Promise<unknown>((resolve) => resolve(call())).then(
    (value): CallOutcome => ({
      status: 'fulfilled',
      value,
      elapsedMs: performance.now() - started,
    }),
    (error: unknown): CallOutcome => ({
      status: 'rejected',
      error,
      elapsedMs: performance.now() - started,
    }),
  );
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<PendingOutcome>((resolve) => {
    timer = setTimeout(
      () => resolve({ status: 'pending', elapsedMs: performance.now() - started }),
      limitMs + PENDING_GRACE_MS,
    );
  });
  try {
    return await Promise.race([settled, pending]);
  } finally {
    clearTimeout(timer);
  }
}

/** Asserts that `outcome` settled within `limitMs`; narrows it to a {@link CallOutcome}. */
export function expectAnsweredWithin(
  outcome: CallOutcome | PendingOutcome,
  limitMs: number,
  what: string,
  budget: string,
): asserts outcome is CallOutcome {
  if (outcome.status === 'pending') {
    expect.fail(
      `${what} did not answer within ${limitMs} ms (${budget}); still waiting after ` +
        `${Math.round(outcome.elapsedMs)} ms`,
    );
  }
  expect(
    outcome.elapsedMs,
    `${what} answered after ${Math.round(outcome.elapsedMs)} ms, more than ${limitMs} ms (${budget})`,
  ).toBeLessThanOrEqual(limitMs);
}

/** One line about an outcome, for messages: `fulfilled 'open' after 152 ms`. */
export function describeOutcome(outcome: CallOutcome): string {
  const elapsed = `after ${Math.round(outcome.elapsedMs)} ms`;
  if (outcome.status === 'fulfilled') {
    return `fulfilled ${inspectValue(outcome.value)} ${elapsed}`;
  }
  return `rejected ${elapsed}: ${describeCauseChain(outcome.error)}`;
}

function inspectValue(value: unknown): string {
  try {
    const text = JSON.stringify(value) ?? String(value);
    return text.length > 200 ? `${text.slice(0, 200)}…` : text;
  } catch {
    return String(value);
  }
}

/**
 * Runs the target's judgement of an answer and, when it throws, rethrows with the call named and
 * the answer described (the target's own message stays first in the chain).
 */
export async function judgeAnswer(
  judge: () => void | Promise<void>,
  outcome: CallOutcome,
  what: string,
): Promise<void> {
  try {
    await judge();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`${what}: wrong answer (${describeOutcome(outcome)}): ${reason}`, {
      cause: error,
    });
  }
}

/** Runs `action` (a `close()`) and asserts it completes within `limitMs`. */
export async function expectCompletesWithin(
  action: () => Promise<unknown>,
  limitMs: number,
  what: string,
  budget: string,
): Promise<void> {
  const outcome = await timedCall(action, limitMs);
  expectAnsweredWithin(outcome, limitMs, what, budget);
  if (outcome.status === 'rejected') {
    expect.fail(`${what} rejected: ${describeCauseChain(outcome.error)}`);
  }
}

/**
 * For a rejection: asserts that a `StoreError` is in its cause chain, and a `StoreTimeoutError`
 * when `requireTimeout` (the call waited out its deadline on a hung store).
 */
export function expectStoreErrorCause(
  outcome: CallOutcome,
  what: string,
  requireTimeout: boolean,
): void {
  if (outcome.status !== 'rejected') return;
  const chain = causeChain(outcome.error);
  expect(
    chain.some(isStoreErrorLike),
    `${what} rejected without a StoreError in its cause chain:\n  ${describeCauseChain(outcome.error)}`,
  ).toBe(true);
  if (requireTimeout) {
    expect(
      chain.some(isStoreTimeoutErrorLike),
      `${what} waited out its deadline (${Math.round(outcome.elapsedMs)} ms) on a hung store, but ` +
        `its cause chain holds no StoreTimeoutError:\n  ${describeCauseChain(outcome.error)}`,
    ).toBe(true);
  }
}

/** A status event and when it arrived (`performance.now()`). */
export interface RecordedEvent {
  /** The event as the subject emitted it. */
  event: StoreStatusEvent;
  /** When it arrived. */
  at: number;
}

/** Records the status events of one subject. */
export class StatusRecorder {
  /** Every event so far, in order. */
  readonly events: RecordedEvent[] = [];
  readonly #waiters = new Set<() => void>();
  readonly #unsubscribe: () => void;

  constructor(subject: DegradationSubject) {
    this.#unsubscribe = subject.onStoreStatusChange((event) => {
      this.events.push({ event, at: performance.now() });
      for (const wake of [...this.#waiters]) wake();
    });
  }

  /** How many events of `status` arrived. */
  count(status: StoreStatusEvent['status']): number {
    return this.events.filter((recorded) => recorded.event.status === status).length;
  }

  /** The statuses so far, for messages: `degraded, healthy`. */
  summary(): string {
    return this.events.map((recorded) => recorded.event.status).join(', ') || '(none)';
  }

  /** The first event of `status`, waiting up to `timeoutMs` for it; `undefined` if none came. */
  waitFor(
    status: StoreStatusEvent['status'],
    timeoutMs: number,
  ): Promise<RecordedEvent | undefined> {
    const find = () => this.events.find((recorded) => recorded.event.status === status);
    const found = find();
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve) => {
      const done = (value: RecordedEvent | undefined) => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve(value);
      };
      const wake = () => {
        const event = find();
        if (event !== undefined) done(event);
      };
      const timer = setTimeout(() => done(undefined), Math.max(0, timeoutMs));
      this.#waiters.add(wake);
    });
  }

  /** Stops recording. */
  dispose(): void {
    this.#unsubscribe();
  }
}

const EVENT_KEYS = new Set(['policy', 'pattern', 'store', 'status', 'error']);

/** Asserts that `event` has the one status event shape, with the expected fields. */
export function expectStatusEvent(
  event: StoreStatusEvent,
  expected: Omit<StoreStatusEvent, 'error'>,
  fault: Fault,
  what: string,
): void {
  const extra = Object.keys(event).filter((key) => !EVENT_KEYS.has(key));
  expect(extra, `${what}: the status event has keys outside the one shape`).toEqual([]);
  const { policy, pattern, store, status } = event;
  expect({ policy, pattern, store, status }, `${what}: status event fields`).toEqual(expected);
  if (status === 'healthy') {
    expect(event.error, `${what}: a 'healthy' event carries no error`).toBeUndefined();
    return;
  }
  expect(
    isStoreErrorLike(event.error),
    `${what}: a 'degraded' event must carry the StoreError that degraded the store; got ` +
      describeCauseChain(event.error),
  ).toBe(true);
  if (fault === 'hang') {
    expect(
      isStoreTimeoutErrorLike(event.error),
      `${what}: on a hung store the degrading error must be a StoreTimeoutError; got ` +
        describeCauseChain(event.error),
    ).toBe(true);
  }
}

/** How often {@link clientReady} looks at a node-redis client, which has no cluster-wide `ready`. */
const READY_POLL_MS = 10;

/**
 * Resolves when the client can reach the store again (`performance.now()` at that moment), or
 * `undefined` after `timeoutMs`. ioredis clients: their `ready` state. node-redis: `isReady` of
 * the client, or of every master's node client on a Cluster (the Cluster client itself has no
 * event for a node that came back), looked at every 10 ms. The DynamoDB client opens connections
 * per request, so it is ready at once.
 */
export function clientReady(client: StoreClient, timeoutMs: number): Promise<number | undefined> {
  if (client instanceof DynamoDBClient) return Promise.resolve(performance.now());
  if (isNodeRedisClient(client)) {
    const ready = () => ('getMasters' in client ? everyMasterReady(client) : client.isReady);
    return new Promise((resolve) => {
      const deadline = performance.now() + timeoutMs;
      const look = () => {
        if (ready()) resolve(performance.now());
        else if (performance.now() >= deadline) resolve(undefined);
        else setTimeout(look, READY_POLL_MS);
      };
      look();
    });
  }
  if (client.status === 'ready') return Promise.resolve(performance.now());
  return new Promise((resolve) => {
    const onReady = () => {
      clearTimeout(timer);
      resolve(performance.now());
    };
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      resolve(undefined);
    }, timeoutMs);
    client.once('ready', onReady);
  });
}

function everyMasterReady(cluster: NodeRedisCluster): boolean {
  const masters = cluster.getMasters();
  return (
    cluster.isReady &&
    masters.length > 0 &&
    masters.every(
      (master) => (master.client as { isReady?: boolean } | undefined)?.isReady === true,
    )
  );
}
