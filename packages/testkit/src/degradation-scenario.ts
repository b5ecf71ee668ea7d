/**
 * The two scenarios the degradation suite runs per backend and fault: the store failing and
 * coming back under a running policy, and a process that must exit by itself after closing a
 * policy whose store is broken. Each throws (vitest `expect`) at the first broken promise.
 */
import { expect } from 'vitest';
import { clientLibraryOf, closeClientNow, type FaultyBackend, warmUp } from './default-clients.js';
import {
  clientReady,
  expectAnsweredWithin,
  expectCompletesWithin,
  expectStatusEvent,
  expectStoreErrorCause,
  judgeAnswer,
  StatusRecorder,
  timedCall,
} from './degradation-checks.js';
import {
  DEGRADATION_CHILD_ENV,
  DEGRADATION_CHILD_STEPS,
  type DegradationChildConfig,
  type DegradationChildReport,
} from './degradation-child.js';
import {
  type AnswerContext,
  type CallOutcome,
  type DegradationSettings,
  type DegradationSubject,
  type DegradationTarget,
  type StoreErrorMode,
  subjectConnection,
} from './degradation-target.js';
import { expectExitsByItself } from './exit-check.js';
import { CLOSED_LINE } from './exit-child.js';
import type { Fault, FaultyStore } from './faulty-store.js';
import { uniquePrefix } from './key-prefix.js';

/** The store settings the suite builds subjects with (a target may override them). */
export const DEGRADATION_SETTINGS: Readonly<DegradationSettings> = {
  deadlineMs: 150,
  failureThreshold: 2,
  probeIntervalMs: 100,
};

/**
 * The store deadline on DynamoDB, unless the target sets one: dynalite is a Node process of its
 * own, slower than Redis per request, and on a 2-core CI machine running two test files at once
 * its healthy answers took over 150 ms often enough to fail the suite (a strict breaker's
 * healthy call is two requests, one after the other).
 */
export const DYNAMODB_DEADLINE_MS = 300;

/** The settings of `backend`'s scenarios: the target's, else the suite's for that backend. */
export function settingsFor(
  backend: FaultyBackend,
  target: Partial<DegradationSettings> | undefined,
): DegradationSettings {
  const deadlineMs =
    target?.deadlineMs ??
    (backend === 'dynamodb' ? DYNAMODB_DEADLINE_MS : DEGRADATION_SETTINGS.deadlineMs);
  return { ...DEGRADATION_SETTINGS, ...target, deadlineMs };
}

/**
 * What a timing bound allows on top of the deadline or interval it is about: timer lateness, GC
 * and event-loop stalls on a busy 2-core CI machine running other test files in parallel.
 */
export const SCHEDULING_SLACK_MS = 250;

/**
 * How fast a degraded policy must answer: it waits on nothing, so only scheduling counts. Kept
 * below the suite's 150 ms store deadline, so a call that did wait on the store still fails the
 * check; 50 ms proved too tight on a 2-core machine running other suites (107 ms once seen).
 */
export const IMMEDIATE_SLACK_MS = 120;

/** How long a child process may take after `closed` to exit by itself. */
export const EXIT_WITHIN_MS = 2_000;

/** A healthy call's only bound: the first one also waits for the client to connect. */
const HEALTHY_CALL_LIMIT_MS = 5_000;

/**
 * Attempts of a healthy call that keeps waiting out its deadline (see `healthyCall` and
 * `buildHealthy`).
 */
const HEALTHY_ATTEMPTS = 3;

/** Calls made after the subject degraded, each of which must answer at once. */
const DEGRADED_CALLS = 3;

/** Child startup (tsx compiling the script's imports), build and healthy call. */
const CHILD_READY_TIMEOUT_MS = 20_000;

/** Everything one scenario needs. */
export interface ScenarioOptions {
  /** The pattern package's target. */
  target: DegradationTarget;
  /** The faulty store, healthy when the scenario starts. */
  store: FaultyStore;
  /** The fault to inject. */
  fault: Fault;
  /** The `onStoreError` mode to build subjects with. */
  mode: StoreErrorMode;
  /** The store settings. */
  settings: DegradationSettings;
  /** Failing calls until `'degraded'`. */
  callsToDegrade: number;
}

/** `redis`, or `redis · node-redis` when the store's clients are not ioredis: for messages. */
function storeLabel(store: FaultyStore): string {
  const library = clientLibraryOf(store.address);
  return library === 'ioredis' ? store.backend : `${store.backend} · ${library}`;
}

/** When the subject exposes `storeStatus`, it must agree with the events. */
function expectStoreStatus(
  subject: DegradationSubject,
  expected: 'healthy' | 'degraded',
  label: string,
): void {
  if (!('storeStatus' in subject)) return;
  expect(subject.storeStatus, `${label}: storeStatus`).toBe(expected);
}

function expectedStoreKind(options: ScenarioOptions): string {
  const { backend } = options.store;
  return options.target.storeKind?.(backend) ?? (backend === 'dynamodb' ? 'dynamodb' : 'redis');
}

/**
 * a) a healthy call answers from the store; b) after the fault the first calls answer per the
 * mode within deadline + slack, with a StoreError (a StoreTimeoutError when they waited out the
 * deadline on a hung store) in any rejection's cause chain; c) after `callsToDegrade` calls one
 * `'degraded'` event of the one shape arrives and later calls answer at once; d) `close()` of a
 * degraded subject and of one with a call in flight completes within deadline + slack during the
 * fault; e) after `restore()` one `'healthy'` event arrives within the client's reconnect time +
 * probe interval + deadline + slack, and calls answer from the store again.
 */
export async function runDegradationScenario(options: ScenarioOptions): Promise<void> {
  const { target, store, fault, mode, settings, callsToDegrade } = options;
  const { deadlineMs, probeIntervalMs } = settings;
  const backend = store.backend;
  const clientLibrary = clientLibraryOf(store.address);
  const where = storeLabel(store);
  const storeKind = expectedStoreKind(options);
  const failingLimit = deadlineMs + SCHEDULING_SLACK_MS;
  const failingBudget = `deadline ${deadlineMs} + slack ${SCHEDULING_SLACK_MS}`;
  const context = (phase: AnswerContext['phase']): AnswerContext => ({
    mode,
    phase,
    backend,
    clientLibrary,
    fault,
    deadlineMs,
  });
  const client = store.newClient();
  const open = new Set<DegradationSubject>();
  const recorders: StatusRecorder[] = [];
  const build = async (role: string) => {
    const policyName = `degradation-${role}`;
    const subject = await target.build({
      ...subjectConnection(store.address, client),
      ...settings,
      mode,
      prefix: uniquePrefix(),
      policyName,
    });
    open.add(subject);
    const recorder = new StatusRecorder(subject);
    recorders.push(recorder);
    return { subject, recorder, policyName, label: `[${where} ${fault} ${mode}] ${role}` };
  };
  const judge = (outcome: CallOutcome, phase: AnswerContext['phase'], what: string) =>
    judgeAnswer(() => target.expectAnswer(outcome, context(phase)), outcome, what);
  // A healthy store can still miss the subject's deadline when the machine stalls (a loaded CI
  // runner at the start of a run). One healthy call: `true` when judged right, `false` when it
  // waited out the deadline and may be tried again; a wrong answer that came sooner, or a stall
  // on the last attempt, fails at once.
  const healthyAttempt = async (
    subject: DegradationSubject,
    what: string,
    limitMs: number,
    attempt: number,
  ): Promise<boolean> => {
    const outcome = await timedCall(() => subject.call(), limitMs);
    expectAnsweredWithin(outcome, limitMs, what, `${limitMs} ms`);
    try {
      await judge(outcome, 'healthy', what);
      return true;
    } catch (error) {
      if (attempt >= HEALTHY_ATTEMPTS || outcome.elapsedMs < deadlineMs - 1) throw error;
      return false;
    }
  };
  const healthyCall = async (subject: DegradationSubject, what: string, limitMs: number) => {
    for (let attempt = 1; !(await healthyAttempt(subject, what, limitMs, attempt)); attempt++);
  };
  const close = async (subject: DegradationSubject, what: string) => {
    open.delete(subject);
    await expectCompletesWithin(() => subject.close(), failingLimit, what, failingBudget);
  };
  // A subject and its first healthy call. Two calls that waited out the deadline degrade a
  // subject (the suite's failureThreshold), so after a stall the call is not tried again on the
  // same subject: that one is closed and a fresh one built in its place.
  const buildHealthy = async (role: string) => {
    for (let attempt = 1; ; attempt++) {
      const built = await build(role);
      const what = `${built.label}: healthy call`;
      if (await healthyAttempt(built.subject, what, HEALTHY_CALL_LIMIT_MS, attempt)) return built;
      recorders.splice(recorders.indexOf(built.recorder), 1);
      built.recorder.dispose();
      await close(built.subject, `${built.label}: close() after a stalled healthy call`);
    }
  };

  try {
    await warmUp(client, store.address);
    // main lives through fault and recovery; degraded is closed degraded; inflight is closed
    // with a call waiting on the broken store.
    // a) healthy
    const main = await buildHealthy('main');
    const degraded = await buildHealthy('degraded');
    const inflight = await buildHealthy('inflight');
    for (const { subject, recorder, label } of [main, degraded, inflight]) {
      expect(recorder.summary(), `${label}: status events while healthy`).toBe('(none)');
      expectStoreStatus(subject, 'healthy', label);
    }

    const faultAt = performance.now();
    await store.inject(fault);

    // b) and c), on two subjects at once: neither waits on the other's deadlines.
    await Promise.all(
      [main, degraded].map(async ({ subject, recorder, policyName, label }) => {
        for (let call = 1; call <= callsToDegrade; call++) {
          expect(
            recorder.count('degraded'),
            `${label}: 'degraded' arrived after ${call - 1} failing call(s); expected only after ` +
              `${callsToDegrade} (failureThreshold ${settings.failureThreshold})`,
          ).toBe(0);
          const what = `${label}: failing call ${call}`;
          const outcome = await timedCall(() => subject.call(), failingLimit);
          expectAnsweredWithin(outcome, failingLimit, what, failingBudget);
          await judge(outcome, 'failing', what);
          const waitedOut = outcome.elapsedMs >= deadlineMs - 1;
          expectStoreErrorCause(outcome, what, fault === 'hang' && waitedOut);
        }
        const event = await recorder.waitFor('degraded', IMMEDIATE_SLACK_MS);
        if (event === undefined) {
          expect.fail(
            `${label}: no 'degraded' event within ${IMMEDIATE_SLACK_MS} ms of failing call ` +
              `${callsToDegrade} (events: ${recorder.summary()})`,
          );
        }
        expectStatusEvent(
          event.event,
          { policy: policyName, pattern: target.pattern, store: storeKind, status: 'degraded' },
          fault,
          label,
        );
        for (let call = 1; call <= DEGRADED_CALLS; call++) {
          const what = `${label}: call ${call} after 'degraded'`;
          const outcome = await timedCall(() => subject.call(), IMMEDIATE_SLACK_MS);
          expectAnsweredWithin(outcome, IMMEDIATE_SLACK_MS, what, 'degraded: no store wait');
          await judge(outcome, 'failing', what);
          expectStoreErrorCause(outcome, what, false);
        }
        expect(recorder.summary(), `${label}: status events while failing`).toBe('degraded');
        expectStoreStatus(subject, 'degraded', label);
      }),
    );

    // d) close during the fault
    const waiting = timedCall(() => inflight.subject.call(), failingLimit);
    await Promise.all([
      close(degraded.subject, `${degraded.label}: close() while degraded`),
      close(inflight.subject, `${inflight.label}: close() with a call in flight`),
    ]);
    expectAnsweredWithin(
      await waiting,
      failingLimit,
      `${inflight.label}: the call in flight during close()`,
      failingBudget,
    );

    // e) the store comes back
    const restoreStarted = performance.now();
    await store.restore();
    const restoredAt = performance.now();
    const outageMs = restoredAt - faultAt;
    const reconnectBound = store.reconnectBoundMs(fault, outageMs) + SCHEDULING_SLACK_MS;
    const readyAt = await clientReady(client, reconnectBound);
    if (readyAt === undefined) {
      expect.fail(
        `[${where} ${fault}] the client did not reconnect within ${Math.round(reconnectBound)} ms ` +
          `of restore() after a ${Math.round(outageMs)} ms outage (the faulty store's documented ` +
          'bound + slack): has the client library changed its reconnect behaviour?',
      );
    }
    const healthyBudget = probeIntervalMs + deadlineMs + SCHEDULING_SLACK_MS;
    const healthy = await main.recorder.waitFor(
      'healthy',
      readyAt - performance.now() + healthyBudget,
    );
    if (healthy === undefined) {
      expect.fail(
        `${main.label}: no 'healthy' event within ${healthyBudget} ms (probe interval ` +
          `${probeIntervalMs} + deadline ${deadlineMs} + slack ${SCHEDULING_SLACK_MS}) of the client ` +
          `reaching the store again (restore() took ${Math.round(restoredAt - restoreStarted)} ms, ` +
          `the client ${Math.round(readyAt - restoredAt)} ms more; events: ${main.recorder.summary()})`,
      );
    }
    expectStatusEvent(
      healthy.event,
      { policy: main.policyName, pattern: target.pattern, store: storeKind, status: 'healthy' },
      fault,
      main.label,
    );
    await healthyCall(main.subject, `${main.label}: call after recovery`, failingLimit);
    expectStoreStatus(main.subject, 'healthy', main.label);
    expect(main.recorder.summary(), `${main.label}: status events, in order`).toBe(
      'degraded, healthy',
    );
    await close(main.subject, `${main.label}: close() after recovery`);
  } finally {
    for (const recorder of recorders) recorder.dispose();
    // After a failure: close what is left without waiting on it for long, then drop the client
    // (which also rejects whatever it still has queued).
    await Promise.all([...open].map((subject) => timedCall(() => subject.close(), failingLimit)));
    closeClientNow(client);
  }
}

/**
 * f) A child process builds the subject on its own default client, makes a healthy call, the
 * fault is injected, it makes `callsToDegrade + 1` calls (the last one degraded), closes the
 * subject and its client, and must exit by itself within {@link EXIT_WITHIN_MS}.
 */
export async function runExitScenario(options: ScenarioOptions): Promise<void> {
  const { target, store, fault, mode, settings, callsToDegrade } = options;
  const { deadlineMs } = settings;
  const failingLimit = deadlineMs + SCHEDULING_SLACK_MS;
  const label = `[${storeLabel(store)} ${fault} ${mode}] child`;
  const config: DegradationChildConfig = {
    ...settings,
    address: store.address,
    mode,
    prefix: uniquePrefix(),
    policyName: 'degradation-child',
    failingCalls: callsToDegrade + 1,
  };
  const callsBudgetMs = callsToDegrade * failingLimit + IMMEDIATE_SLACK_MS + SCHEDULING_SLACK_MS;
  const closeBudgetMs = failingLimit + SCHEDULING_SLACK_MS;

  const exit = await expectExitsByItself({
    script: target.childScript,
    env: { [DEGRADATION_CHILD_ENV]: JSON.stringify(config) },
    // The user's own client may linger by itself (refused: ioredis Cluster's disconnect timers,
    // node-redis's reconnect wait); that is not the subject's doing, so it does not count against
    // the subject's 2 s.
    withinMs: EXIT_WITHIN_MS + store.clientLingerMs(fault),
    async drive(child) {
      await child.waitForMessage(DEGRADATION_CHILD_STEPS.ready, CHILD_READY_TIMEOUT_MS);
      await store.inject(fault);
      // Both waiters from now on: the child may print both lines in one chunk.
      const callsDone = child.waitForMessage(DEGRADATION_CHILD_STEPS.callsDone, callsBudgetMs);
      const closed = child.waitForMessage(CLOSED_LINE, callsBudgetMs + closeBudgetMs);
      closed.catch(() => {});
      child.send('go');
      const step = (line: string, budgetMs: number) => (error: unknown) => {
        const reason = error instanceof Error ? error.message : String(error);
        throw new Error(
          `${label}: no '${line}' within ${budgetMs} ms of the go-ahead (${reason})`,
          { cause: error },
        );
      };
      await callsDone.catch(step(DEGRADATION_CHILD_STEPS.callsDone, callsBudgetMs));
      await closed.catch(step(CLOSED_LINE, callsBudgetMs + closeBudgetMs));
    },
  });

  const report = exit.result as DegradationChildReport | undefined;
  expect(report, `${label}: reported nothing`).toBeDefined();
  const calls = report?.calls ?? [];
  expect(calls, `${label}: calls after the fault`).toHaveLength(callsToDegrade + 1);
  calls.forEach((call, index) => {
    const degradedCall = index === callsToDegrade;
    const limit = degradedCall ? IMMEDIATE_SLACK_MS : failingLimit;
    expect(
      call.elapsedMs,
      `${label}: call ${index + 1} after the fault took ${Math.round(call.elapsedMs)} ms` +
        (degradedCall ? ' although degraded' : ''),
    ).toBeLessThanOrEqual(limit);
    if (call.status === 'rejected') {
      expect(
        call.storeError,
        `${label}: call ${index + 1} rejected without a StoreError cause: ${call.error}`,
      ).toBe(true);
    }
  });
  const degradedEvents = (report?.events ?? []).filter((e) => e.event.status === 'degraded');
  expect(degradedEvents, `${label}: 'degraded' events in the child`).toHaveLength(1);
  expect(degradedEvents[0]?.errorKinds, `${label}: the degrading error's kinds`).toContain(
    'StoreError',
  );
}
