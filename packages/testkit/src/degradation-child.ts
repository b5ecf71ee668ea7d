/**
 * The child side of the degradation suite's exit check (`@breakwater/testkit/degradation-child`).
 * A pattern's child script is one call:
 *
 * ```ts
 * import { runDegradationChild } from '@breakwater/testkit/degradation-child';
 * import { build } from './degradation-subject.js';
 * await runDegradationChild(build);
 * ```
 *
 * No vitest here.
 */
import {
  closeClientNow,
  connectWithDefaults,
  type StoreAddress,
  warmUp,
} from './default-clients.js';
import {
  type BuildSubject,
  type DegradationSettings,
  type StoreErrorMode,
  type StoreStatusEvent,
  subjectConnection,
} from './degradation-target.js';
import { reportClosed, waitForParent } from './exit-child.js';
import { reportMessage, reportResult } from './replica.js';
import {
  causeChain,
  errorKinds,
  isStoreErrorLike,
  isStoreTimeoutErrorLike,
} from './store-error-brand.js';

// What a subject module needs, importable without loading vitest.
export type {
  BuildSubject,
  DegradationBuildContext,
  DegradationSubject,
  StoreErrorMode,
  StoreStatusEvent,
  SubjectConnection,
} from './degradation-target.js';

/** Environment variable carrying the child's {@link DegradationChildConfig} as JSON. */
export const DEGRADATION_CHILD_ENV = 'BREAKWATER_DEGRADATION_CHILD';

/** Progress lines the child prints, in order; the suite waits for them. */
export const DEGRADATION_CHILD_STEPS = {
  ready: 'ready',
  callsDone: 'calls done',
  closingSubject: 'closing subject',
  closingClient: 'closing client',
} as const;

/** What the suite tells the child to build and do. */
export interface DegradationChildConfig extends DegradationSettings {
  /** Where the store listens. */
  address: StoreAddress;
  /** The `onStoreError` mode. */
  mode: StoreErrorMode;
  /** The subject's key prefix. */
  prefix: string;
  /** The subject's policy name. */
  policyName: string;
  /** How many calls to make once the fault is in place. */
  failingCalls: number;
}

/** One call as the child reports it (errors do not cross processes, so their kinds do). */
export interface ChildCallReport {
  /** Whether the call resolved or rejected. */
  status: 'fulfilled' | 'rejected';
  /** How long it took, in milliseconds. */
  elapsedMs: number;
  /** For a rejection: whether a `StoreError` is in its cause chain. */
  storeError: boolean;
  /** For a rejection: whether a `StoreTimeoutError` is in its cause chain. */
  storeTimeoutError: boolean;
  /** For a rejection: `name: message` of the error. */
  error?: string;
}

/** A status event as the child reports it. */
export interface ChildStatusReport {
  /** The event without its error. */
  event: Omit<StoreStatusEvent, 'error'>;
  /** The Breakwater kinds of its error (`['BreakwaterError', 'StoreError', …]`). */
  errorKinds: readonly string[];
  /** How many failing calls had been made when it arrived. */
  afterCalls: number;
}

/** What the child passes to `reportResult()`. */
export interface DegradationChildReport {
  /** The healthy call before the fault. */
  healthy: ChildCallReport;
  /** The calls after the fault, in order. */
  calls: ChildCallReport[];
  /** The status events the subject emitted. */
  events: ChildStatusReport[];
}

function readConfig(): DegradationChildConfig {
  const raw = process.env[DEGRADATION_CHILD_ENV];
  if (raw === undefined) {
    throw new Error(
      `${DEGRADATION_CHILD_ENV} is not set: this script is started by runDegradationSuite's exit ` +
        'check, not by hand.',
    );
  }
  return JSON.parse(raw) as DegradationChildConfig;
}

async function timedCall(call: () => Promise<unknown>): Promise<ChildCallReport> {
  const started = performance.now();
  try {
    await call();
    return {
      status: 'fulfilled',
      elapsedMs: performance.now() - started,
      storeError: false,
      storeTimeoutError: false,
    };
  } catch (error) {
    const elapsedMs = performance.now() - started;
    const chain = causeChain(error);
    return {
      status: 'rejected',
      elapsedMs,
      storeError: chain.some(isStoreErrorLike),
      storeTimeoutError: chain.some(isStoreTimeoutErrorLike),
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    };
  }
}

/**
 * Runs the child side of the exit check: builds a default client of the store the suite names
 * (`DEGRADATION_CHILD_ENV`), warms it up, builds the subject with `build`, makes one healthy call,
 * prints `ready`, waits for the test's go-ahead (the fault is in place by then), makes the
 * configured number of calls, reports them, closes the subject and then its own client
 * (`closeClientNow`, as a user shutting down with a broken store must), and prints `closed` with
 * what still keeps the process alive. It then returns: the process must exit by itself.
 */
export async function runDegradationChild(build: BuildSubject): Promise<void> {
  const config = readConfig();
  const client = connectWithDefaults(config.address);
  await warmUp(client, config.address);
  const subject = await build({
    ...subjectConnection(config.address, client),
    mode: config.mode,
    deadlineMs: config.deadlineMs,
    failureThreshold: config.failureThreshold,
    probeIntervalMs: config.probeIntervalMs,
    prefix: config.prefix,
    policyName: config.policyName,
  });
  const events: ChildStatusReport[] = [];
  const calls: ChildCallReport[] = [];
  const unsubscribe = subject.onStoreStatusChange((event) => {
    const { error, ...rest } = event;
    events.push({ event: rest, errorKinds: errorKinds(error), afterCalls: calls.length });
  });
  const healthy = await timedCall(() => subject.call());
  await reportMessage(DEGRADATION_CHILD_STEPS.ready);

  await waitForParent();
  for (let i = 0; i < config.failingCalls; i++) calls.push(await timedCall(() => subject.call()));
  const report: DegradationChildReport = { healthy, calls, events };
  await reportResult(report);
  await reportMessage(DEGRADATION_CHILD_STEPS.callsDone);

  await reportMessage(DEGRADATION_CHILD_STEPS.closingSubject);
  unsubscribe();
  await subject.close();
  await reportMessage(DEGRADATION_CHILD_STEPS.closingClient);
  closeClientNow(client);
  reportClosed();
}
