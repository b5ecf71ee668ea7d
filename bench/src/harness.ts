/**
 * A small benchmark harness on top of tinybench.
 *
 * A {@link Suite} is one question ("what does wrapping a call in X cost?"): a baseline and the cases
 * compared with it, all measured in the same process, in turn, over a few interleaved rounds after
 * one shared warmup. Each case performs
 * exactly one operation per call; the harness runs it in batches so that a timer read (tens of
 * nanoseconds) never dominates a sample, and reports per-operation numbers.
 */
import { hrtime } from 'node:process';
import { Bench, hrtimeNow } from 'tinybench';
import { type CaseRole, checkComparisons, type Target } from './comparison.js';
import { formatSuiteText } from './report.js';
import { summarize } from './stats.js';

/** One measured thing. */
export interface BenchCase {
  /** Row label in the tables, e.g. `pipeline(timeout, fallback)`. */
  readonly name: string;
  /**
   * Performs exactly one operation. Return a promise for asynchronous work: the harness awaits it,
   * so the measured time includes the promise round trip. The result is stored where the engine
   * cannot prove it unused.
   */
  readonly fn: () => unknown;
  /** npm package this case exercises; the report lists it with its installed version. */
  readonly library?: string;
  /** A short remark printed under the table. */
  readonly note?: string;
  /**
   * The part this case plays in `bench/RESULTS.md`: `ours` is a Breakwater case compared with
   * every `competitor` case of the suite (usually one main Breakwater case per suite). Cases
   * without a role (variants, reference points) appear in `results/latest.md` only.
   */
  readonly role?: CaseRole;
  /**
   * For an `ours` case: the competitors it is compared with in `bench/RESULTS.md`, by case name,
   * when not all of them are like for like (a breaker with a timeout against breakers without
   * one). Default: every competitor of the suite.
   */
  readonly pairsWith?: readonly string[];
  /** Performance targets of this case (from the issues), checked in `bench/RESULTS.md`. */
  readonly targets?: readonly Target[];
  /**
   * Counts measured beside the time, read once the case was measured (e.g. `store round trips
   * per call`, counted in the suite's setup): what a `count` target judges.
   */
  readonly counts?: () => Readonly<Record<string, number>> | undefined;
}

/** A baseline and the cases compared with it, measured in the same run. */
export interface Suite {
  /**
   * Stable identifier, `<pattern>/<what>` (e.g. `core/policies`); the CLI filter matches it.
   */
  readonly id: string;
  /** Heading of the table. */
  readonly title: string;
  /** What the suite measures and why, in a sentence or two. */
  readonly description?: string;
  /** The reference every case is compared with: usually the bare call without any wrapper. */
  readonly baseline: BenchCase;
  /** The cases compared with the baseline (ours and the libraries users would pick instead). */
  readonly cases: readonly BenchCase[];
  /** Measuring time per case in milliseconds, over all rounds. @default the harness's `timeMs` */
  readonly timeMs?: number;
  /** Rounds the measuring time is split into. @default the harness's `rounds` */
  readonly rounds?: number;
  /** Warmup time per case in milliseconds. @default the harness's `warmupMs` */
  readonly warmupMs?: number;
  /**
   * Operations per sample, for every case. @default calibrated per case so that one sample lasts
   * about `targetSampleNs`
   */
  readonly batch?: number;
  /** Runs before the suite (connect a client, create a key prefix, …). */
  readonly setup?: () => void | Promise<void>;
  /** Runs after the suite, also when it failed (close what setup opened). */
  readonly teardown?: () => void | Promise<void>;
}

/** Options of {@link runSuite}. */
export interface HarnessOptions {
  /** Measuring time per case in milliseconds, unless the suite says otherwise. @default 750 */
  readonly timeMs?: number;
  /**
   * Rounds the measuring time is split into: every case is measured once per round, in turn, and
   * the samples are pooled, so a slow spell of the machine hits all cases rather than one.
   * @default 3
   */
  readonly rounds?: number;
  /** Warmup time per case in milliseconds, unless the suite says otherwise. @default 150 */
  readonly warmupMs?: number;
  /** How long one calibrated sample should last, in nanoseconds. @default 25_000 */
  readonly targetSampleNs?: number;
  /** Where progress and the table go. @default console.log */
  readonly log?: (line: string) => void;
}

/** The measurement of one case. Times are per operation, in nanoseconds. */
export interface CaseMeasurement {
  readonly ok: true;
  readonly name: string;
  readonly library: string | undefined;
  readonly note: string | undefined;
  /** Whether this is the suite's baseline. */
  readonly isBaseline: boolean;
  /** See {@link BenchCase.role}. */
  readonly role: CaseRole | undefined;
  /** See {@link BenchCase.pairsWith}. */
  readonly pairsWith?: readonly string[] | undefined;
  /** See {@link BenchCase.targets}. */
  readonly targets: readonly Target[] | undefined;
  /** See {@link BenchCase.counts}: the counts the case reported, if any. */
  readonly counts?: Readonly<Record<string, number>> | undefined;
  /** `async` when `fn` returned a promise (each operation was awaited). */
  readonly mode: 'sync' | 'async';
  /** Operations per tinybench sample. */
  readonly batch: number;
  /** Number of tinybench samples (each one a batch of operations). */
  readonly samples: number;
  /** Operations performed while measuring. */
  readonly operations: number;
  /** Operations per second, from the mean. */
  readonly opsPerSec: number;
  /** Mean time per operation. */
  readonly meanNs: number;
  /** Median of the per-sample means (a batch mean, not a single-call percentile). */
  readonly medianNs: number;
  /** 99th percentile of the per-sample means. */
  readonly p99Ns: number;
  /** Relative margin of error of the mean at 95 % confidence, in percent. */
  readonly rmePct: number;
  /** Absolute margin of error of the mean at 95 % confidence. */
  readonly moeNs: number;
  /**
   * How many times as long one operation takes as one baseline operation: `mean / baseline mean`.
   * 1 = same cost, 2 = twice as slow, 0.5 = twice as fast.
   */
  readonly timeVsBaseline: number;
  /** Added cost per operation: `mean − baseline mean`. */
  readonly overheadNs: number;
  /** Margin of error of {@link overheadNs} (the two margins combined). */
  readonly overheadMoeNs: number;
}

/** A case that threw or rejected; it is reported and not measured. */
export interface CaseFailure {
  readonly ok: false;
  readonly name: string;
  readonly library: string | undefined;
  readonly isBaseline: boolean;
  readonly role: CaseRole | undefined;
  readonly pairsWith?: readonly string[] | undefined;
  readonly targets: readonly Target[] | undefined;
  /** The error, as `name: message`. */
  readonly error: string;
}

/** What happened to one case. */
export type CaseResult = CaseMeasurement | CaseFailure;

/** The outcome of one suite. */
export interface SuiteResult {
  readonly id: string;
  readonly title: string;
  readonly description: string | undefined;
  /** Operations per sample, when the suite fixed it; otherwise each case was calibrated. */
  readonly fixedBatch: number | undefined;
  /** Calibration target: how long one sample should last, in nanoseconds. */
  readonly targetSampleNs: number;
  /** Measuring time per case over all rounds, in milliseconds. */
  readonly timeMs: number;
  /** Rounds the measuring time was split into. */
  readonly rounds: number;
  /** Warmup time per case, in milliseconds. */
  readonly warmupMs: number;
  /** Baseline first, then the cases in the order the suite lists them. */
  readonly cases: readonly CaseResult[];
  /** Wall-clock time the suite took, in milliseconds. */
  readonly durationMs: number;
  /** Set when the suite's teardown failed (after the measurements were taken). */
  readonly teardownError: string | undefined;
}

const DEFAULT_TIME_MS = 750;
const DEFAULT_WARMUP_MS = 150;
const DEFAULT_ROUNDS = 3;
const DEFAULT_TARGET_SAMPLE_NS = 25_000;
const MAX_BATCH = 100_000;
/** Calibration grows its batch until one batch takes this long… */
const CALIBRATION_BATCH_NS = 1_000_000;
/** …then times warm batches for this long. */
const CALIBRATION_NS = 50_000_000;

type Operation = () => unknown;
type Loop = () => unknown;
type LoopFactory = (fn: Operation, batch: number, out: { value: unknown }) => Loop;

// Each case gets its own batch loop compiled from source. Closures created from one function
// literal share their type feedback in V8, so a shared loop's `fn()` call site would turn
// megamorphic and each case's number would depend on which other cases ran before it; a loop
// compiled per case keeps its call site monomorphic, and adding a case to a suite cannot move the
// numbers of the others.
const SYNC_LOOP_SOURCE =
  'return function syncBatch() { for (let i = 0; i < batch; i++) out.value = fn(); };';
const ASYNC_LOOP_SOURCE =
  'return async function asyncBatch() { for (let i = 0; i < batch; i++) out.value = await fn(); };';

const sink: { value: unknown } = { value: undefined };

function compileLoop(mode: 'sync' | 'async', fn: Operation, batch: number): Loop {
  const source = mode === 'async' ? ASYNC_LOOP_SOURCE : SYNC_LOOP_SOURCE;
  const factory = new Function('fn', 'batch', 'out', source) as LoopFactory;
  return factory(fn, batch, sink);
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** Calls `fn` once: proves it works and tells whether it is asynchronous. */
async function probe(fn: Operation): Promise<'sync' | 'async'> {
  const result = fn();
  if (!isPromiseLike(result)) return 'sync';
  sink.value = await result;
  return 'async';
}

/**
 * Finds the batch size at which one sample of `fn` lasts about `targetNs`. First grows a batch
 * until one takes a millisecond (which also warms `fn` up), then times warm batches for a while:
 * timing a single cold batch would mistake compilation for the cost of the operation.
 */
async function calibrate(fn: Operation, mode: 'sync' | 'async', targetNs: number): Promise<number> {
  let size = 1;
  let loop = compileLoop(mode, fn, size);
  for (;;) {
    const start = hrtime.bigint();
    await loop();
    if (Number(hrtime.bigint() - start) >= CALIBRATION_BATCH_NS || size >= MAX_BATCH) break;
    size *= 2;
    loop = compileLoop(mode, fn, size);
  }
  let operations = 0;
  const start = hrtime.bigint();
  let elapsedNs = 0;
  while (elapsedNs < CALIBRATION_NS) {
    await loop();
    operations += size;
    elapsedNs = Number(hrtime.bigint() - start);
  }
  return Math.min(MAX_BATCH, Math.max(1, Math.round((targetNs * operations) / elapsedNs)));
}

/**
 * How long measuring a suite may take before it counts as hung (a case whose promise never
 * settles would otherwise stall the whole run): ten times the expected duration, at least 60 s.
 */
function suiteDeadlineMs(caseCount: number, { timeMs, warmupMs }: Settings): number {
  const expectedMs = caseCount * (timeMs + warmupMs + 2 * CALIBRATION_NS * 1e-6);
  return Math.max(60_000, 10 * expectedMs);
}

/** Settles like `promise`, or rejects once `ms` have passed. */
async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not finish within ${Math.round(ms / 1000)} s`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** How one suite is measured, once defaults are applied. */
interface Settings {
  readonly timeMs: number;
  readonly warmupMs: number;
  readonly rounds: number;
  readonly targetSampleNs: number;
  readonly log: (line: string) => void;
}

/**
 * Probes every case once, calibrates each case's batch size, warms every case up, then measures
 * all cases in turn, round after round.
 */
async function measureCases(
  suite: Suite,
  all: readonly BenchCase[],
  { timeMs, warmupMs, rounds, targetSampleNs, log }: Settings,
): Promise<CaseResult[]> {
  const modes = new Map<BenchCase, 'sync' | 'async'>();
  const failures = new Map<BenchCase, string>();
  for (const benchCase of all) {
    try {
      modes.set(benchCase, await probe(benchCase.fn));
    } catch (error) {
      failures.set(benchCase, describeError(error));
    }
  }
  if (failures.has(suite.baseline)) {
    throw new Error(
      `Suite ${suite.id}: the baseline "${suite.baseline.name}" failed: ${failures.get(suite.baseline)}`,
    );
  }
  const batches = new Map<BenchCase, number>();
  const loops = new Map<BenchCase, Loop>();
  for (const [benchCase, mode] of modes) {
    try {
      const batch = suite.batch ?? (await calibrate(benchCase.fn, mode, targetSampleNs));
      batches.set(benchCase, batch);
      // Compiled once and reused by every round, so later rounds run warm code too.
      loops.set(benchCase, compileLoop(mode, benchCase.fn, batch));
    } catch (error) {
      failures.set(benchCase, describeError(error));
    }
  }
  const batchOf = (benchCase: BenchCase) => batches.get(benchCase) ?? 1;

  // Samples in nanoseconds per operation, pooled over the rounds.
  const samples = new Map<BenchCase, number[]>();
  const measured = all.filter((benchCase) => loops.has(benchCase));
  log(`Running ${suite.id} (${measured.length} cases, ${timeMs} ms each in ${rounds} rounds)…`);
  for (let round = 0; round < rounds; round++) {
    const bench = new Bench({
      name: suite.id,
      time: timeMs / rounds,
      warmup: round === 0,
      warmupTime: warmupMs,
      warmupIterations: 4,
      iterations: 16,
      now: hrtimeNow,
      throws: false,
    });
    const inRound = measured.filter((benchCase) => !failures.has(benchCase));
    for (const benchCase of inRound) bench.add(benchCase.name, loops.get(benchCase)!);
    await bench.run();
    for (const benchCase of inRound) {
      const result = bench.getTask(benchCase.name)?.result;
      if (result?.error !== undefined || result?.latency === undefined) {
        failures.set(benchCase, describeError(result?.error ?? 'no samples were taken'));
        continue;
      }
      const perOperation = 1e6 / batchOf(benchCase);
      const pooled = samples.get(benchCase) ?? [];
      for (const sampleMs of result.latency.samples) pooled.push(sampleMs * perOperation);
      samples.set(benchCase, pooled);
    }
  }

  const baselineFailure = failures.get(suite.baseline);
  if (baselineFailure !== undefined) {
    throw new Error(`Suite ${suite.id}: the baseline failed while measuring: ${baselineFailure}`);
  }
  const baseline = summarize(samples.get(suite.baseline) ?? []);

  const cases: CaseResult[] = all.map((benchCase) => {
    const isBaseline = benchCase === suite.baseline;
    const failure = failures.get(benchCase);
    const pooled = samples.get(benchCase);
    if (failure !== undefined || pooled === undefined) {
      return {
        ok: false,
        name: benchCase.name,
        library: benchCase.library,
        isBaseline,
        role: benchCase.role,
        pairsWith: benchCase.pairsWith,
        targets: benchCase.targets,
        error: failure ?? 'no samples were taken',
      };
    }
    const summary = summarize(pooled);
    const batch = batchOf(benchCase);
    return {
      ok: true,
      name: benchCase.name,
      library: benchCase.library,
      note: benchCase.note,
      isBaseline,
      role: benchCase.role,
      pairsWith: benchCase.pairsWith,
      targets: benchCase.targets,
      counts: benchCase.counts?.(),
      mode: modes.get(benchCase) ?? 'sync',
      batch,
      samples: summary.count,
      operations: summary.count * batch,
      opsPerSec: 1e9 / summary.mean,
      meanNs: summary.mean,
      medianNs: summary.p50,
      p99Ns: summary.p99,
      rmePct: summary.rmePct,
      moeNs: summary.moe,
      timeVsBaseline: summary.mean / baseline.mean,
      overheadNs: summary.mean - baseline.mean,
      overheadMoeNs: isBaseline ? 0 : Math.hypot(summary.moe, baseline.moe),
    };
  });
  return cases;
}

/**
 * Runs one suite: sets it up, measures its cases (see {@link measureCases}), tears it down, prints
 * the table and returns the numbers. A case that throws is reported as failed and does not stop
 * the others; a failing baseline or setup fails the whole suite (there is nothing to compare
 * with), and teardown still runs. A failing teardown is reported in the result, which keeps its
 * measurements.
 */
export async function runSuite(suite: Suite, options: HarnessOptions = {}): Promise<SuiteResult> {
  const settings: Settings = {
    log: options.log ?? ((line: string) => console.log(line)),
    timeMs: suite.timeMs ?? options.timeMs ?? DEFAULT_TIME_MS,
    warmupMs: suite.warmupMs ?? options.warmupMs ?? DEFAULT_WARMUP_MS,
    rounds: Math.max(1, Math.round(suite.rounds ?? options.rounds ?? DEFAULT_ROUNDS)),
    targetSampleNs: options.targetSampleNs ?? DEFAULT_TARGET_SAMPLE_NS,
  };
  const started = performance.now();
  const all: readonly BenchCase[] = [suite.baseline, ...suite.cases];
  const names = all.map((benchCase) => benchCase.name);
  const duplicate = names.find((name, index) => names.indexOf(name) !== index);
  if (duplicate !== undefined) {
    throw new Error(`Suite ${suite.id}: two cases are named "${duplicate}"; names must be unique`);
  }
  const comparisonProblems = checkComparisons(suite);
  if (comparisonProblems.length > 0) {
    throw new Error(`Suite ${suite.id}: ${comparisonProblems.join('; ')}`);
  }

  let cases: CaseResult[];
  try {
    await suite.setup?.();
    cases = await withDeadline(
      measureCases(suite, all, settings),
      suiteDeadlineMs(all.length, settings),
      `Suite ${suite.id}`,
    );
  } catch (error) {
    try {
      await withDeadline(Promise.resolve(suite.teardown?.()), 10_000, `Teardown of ${suite.id}`);
    } catch {
      // The setup or measuring error is the one worth reporting; teardown only releases what
      // setup took (also when setup failed halfway).
    }
    throw error;
  }
  let teardownError: string | undefined;
  try {
    await withDeadline(Promise.resolve(suite.teardown?.()), 10_000, `Teardown of ${suite.id}`);
  } catch (error) {
    teardownError = describeError(error);
  }

  const suiteResult: SuiteResult = {
    id: suite.id,
    title: suite.title,
    description: suite.description,
    fixedBatch: suite.batch,
    targetSampleNs: settings.targetSampleNs,
    timeMs: settings.timeMs,
    rounds: settings.rounds,
    warmupMs: settings.warmupMs,
    cases,
    teardownError,
    durationMs: performance.now() - started,
  };
  settings.log(formatSuiteText(suiteResult));
  return suiteResult;
}
