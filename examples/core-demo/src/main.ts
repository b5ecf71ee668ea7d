/**
 * A tour of @breakwater/core in three parts:
 *
 * 1. A flaky inventory service behind `pipeline(fallback, timeout)`: ten calls, and for each what
 *    the upstream did, what the caller got and how long the caller waited.
 * 2. Cooperative vs aggressive timeouts against an upstream that honours ctx.signal and one that
 *    ignores it.
 * 3. The caller cancelling a call with its own AbortSignal.
 *
 * Run it with `pnpm demo` from the repository root. The upstream's misbehaviour comes from a seeded
 * pseudo-random generator, so every run tells the same story (the millisecond counts vary a little).
 */
import {
  type FallbackContext,
  fallback,
  isTimeoutError,
  pipeline,
  type TimeoutStrategy,
  timeout,
} from '@breakwater/core';
import {
  createInventoryService,
  sleep,
  UnknownSkuError,
  type UpstreamReport,
} from './inventory.js';

/** Change it (`DEMO_SEED=8 pnpm demo`) to see the upstream misbehave in another order. */
const SEED = Number(process.env.DEMO_SEED ?? 19);
const TIMEOUT_MS = 50;
const CATALOGUE: Readonly<Record<string, number>> = {
  'SKU-1001': 14,
  'SKU-1002': 3,
  'SKU-1003': 120,
  'SKU-1004': 0,
};
/** The SKUs the ten calls ask for; SKU-9999 does not exist. */
const REQUESTS = [
  'SKU-1001',
  'SKU-1002',
  'SKU-1003',
  'SKU-1004',
  'SKU-1001',
  'SKU-9999',
  'SKU-1002',
  'SKU-1003',
  'SKU-1004',
  'SKU-1001',
];

/** What the caller gets: a live answer, or the fallback's stand-in and why it stood in. */
type StockAnswer =
  | { readonly source: 'live'; readonly units: number }
  | { readonly source: 'fallback'; readonly cause: 'timeout' | 'failure'; readonly reason: string };

/** Prints lines of prose, indented under the current heading. */
function say(...lines: string[]): void {
  for (const line of lines) console.log(line === '' ? '' : `   ${line}`);
}

function elapsedSince(start: number): string {
  return `${Math.round(performance.now() - start)} ms`;
}

function describeError(error: unknown): string {
  if (isTimeoutError(error)) return `TimeoutError from policy "${error.policyName}"`;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** Prints rows as aligned columns. */
function printTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((cell, i) =>
    Math.max(cell.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  console.log(line(header));
  console.log(line(widths.map((width) => '-'.repeat(width))));
  for (const row of rows) console.log(line(row));
  console.log('');
}

/** The fallback's answer: the call failed, so the stock level is unknown, and here is why. */
function stockUnknown({ error }: FallbackContext): StockAnswer {
  if (isTimeoutError(error)) {
    return {
      source: 'fallback',
      cause: 'timeout',
      reason: `timed out after ${error.timeoutMs} ms`,
    };
  }
  const reason = error instanceof Error ? error.message : String(error);
  return { source: 'fallback', cause: 'failure', reason };
}

/** Part 1: the everyday case, a pipeline that turns an outage into a graceful answer. */
async function flakyInventory(): Promise<string> {
  console.log('1. Ten calls to a flaky inventory service');
  say(
    '',
    'const lookup = pipeline(',
    '  fallback({ handler: stockUnknown, shouldHandle: (e) => !(e instanceof UnknownSkuError) }),',
    `  timeout({ ms: ${TIMEOUT_MS} }), // cooperative by default`,
    ');',
    '',
    'fallback is outermost, so it also answers for the timeout inside it: a timeout or a',
    '503 becomes stock "unknown". An unknown SKU is a real answer, not an outage, so',
    'shouldHandle lets it through to the caller as an error.',
    '',
  );

  const inventory = createInventoryService(SEED, CATALOGUE);
  const lookup = pipeline(
    fallback({
      name: 'inventory-fallback',
      handler: stockUnknown,
      shouldHandle: (error) => !(error instanceof UnknownSkuError),
    }),
    timeout({ ms: TIMEOUT_MS, name: 'inventory-timeout' }),
  );

  const counts = { live: 0, timeout: 0, failure: 0, error: 0 };
  const rows: string[][] = [];
  for (const [index, sku] of REQUESTS.entries()) {
    const report: UpstreamReport = { did: '' };
    const start = performance.now();
    let got: string;
    try {
      const answer = await lookup.execute(
        async ({ signal }): Promise<StockAnswer> => ({
          source: 'live',
          units: await inventory.getStock(sku, signal, report),
        }),
      );
      if (answer.source === 'live') {
        counts.live++;
        got = `${answer.units} units (live)`;
      } else {
        counts[answer.cause]++;
        got = `fallback "unknown" (${answer.reason})`;
      }
    } catch (error) {
      counts.error++;
      got = `error: ${describeError(error)}`;
    }
    rows.push([`${index + 1}`, sku, report.did, got, elapsedSince(start)]);
  }
  printTable(['#', 'sku', 'upstream did', 'caller got', 'caller waited'], rows);
  return (
    `${REQUESTS.length} calls: ${counts.live} live, ` +
    `${counts.timeout + counts.failure} answered by the fallback ` +
    `(${counts.timeout} timed out, ${counts.failure} failed), ${counts.error} error passed through`
  );
}

/** An upstream call that takes 150 ms unless it is stopped, and remembers when it stopped. */
function slowUpstream(honoursSignal: boolean) {
  const start = performance.now();
  let stoppedAt: string | undefined;
  const run = async ({ signal }: { signal: AbortSignal }): Promise<string> => {
    try {
      await sleep(150, honoursSignal ? signal : undefined);
      return 'late answer';
    } finally {
      stoppedAt = elapsedSince(start);
    }
  };
  return { run, stoppedAt: () => stoppedAt };
}

/** Part 2: what each timeout strategy does when time runs out. */
async function timeoutStrategies(): Promise<string> {
  console.log(`2. Cooperative vs aggressive timeout (${TIMEOUT_MS} ms) around a 150 ms call`);
  say(
    '',
    'cooperative: aborts ctx.signal, then waits for fn to finish before rejecting, so nothing',
    '             keeps running behind your back.',
    'aggressive:  aborts ctx.signal and rejects at once; fn may keep running.',
    '',
  );

  const rows: string[][] = [];
  const waited = new Map<TimeoutStrategy, string>();
  const strategies: TimeoutStrategy[] = ['cooperative', 'aggressive'];
  for (const strategy of strategies) {
    for (const honoursSignal of [true, false]) {
      const policy = timeout({ ms: TIMEOUT_MS, strategy, name: `${strategy}-timeout` });
      const upstream = slowUpstream(honoursSignal);
      const start = performance.now();
      const got = await policy.execute(upstream.run).then(
        (value) => `resolved: ${value}`,
        (error: unknown) => `rejected: ${describeError(error)}`,
      );
      const callerWaited = elapsedSince(start);
      if (!honoursSignal) waited.set(strategy, callerWaited);
      // A stubborn upstream may still be running: wait for it, to say when it really stopped.
      while (upstream.stoppedAt() === undefined) await sleep(5);
      rows.push([
        strategy,
        honoursSignal ? 'honours ctx.signal' : 'ignores ctx.signal',
        got,
        callerWaited,
        upstream.stoppedAt() ?? '',
      ]);
    }
  }
  printTable(['strategy', 'upstream', 'caller got', 'caller waited', 'upstream stopped at'], rows);
  say(
    'Against an upstream that ignores the signal, cooperative makes the caller wait for it;',
    'aggressive answers on time and leaves the upstream running, unobserved.',
    '',
  );
  return (
    `an upstream that ignored the signal kept the caller waiting ${waited.get('cooperative')} ` +
    `with a cooperative timeout, ${waited.get('aggressive')} with an aggressive one`
  );
}

/** Part 3: the caller cancels; the pipeline rejects with the caller's reason, no fallback. */
async function callerAbort(): Promise<string> {
  console.log('3. The caller gives up: execute(fn, { signal })');
  say('');
  const lookup = pipeline(
    fallback<StockAnswer>({ value: { source: 'fallback', cause: 'failure', reason: 'n/a' } }),
    timeout({ ms: TIMEOUT_MS }),
  );
  const reason = new Error('client closed the connection');

  const controller = new AbortController();
  setTimeout(() => controller.abort(reason), 20);
  let upstreamSaw = 'nothing';
  const start = performance.now();
  const got = await lookup
    .execute(
      async ({ signal }): Promise<StockAnswer> => {
        try {
          await sleep(40, signal);
          return { source: 'live', units: 1 };
        } catch (error) {
          upstreamSaw = `the abort, at ${elapsedSince(start)}`;
          throw error;
        }
      },
      { signal: controller.signal },
    )
    .then(
      (answer) => `resolved with ${JSON.stringify(answer)}`,
      (error: unknown) =>
        `rejected with ${describeError(error)} (is signal.reason: ${error === reason})`,
    );
  say(
    `Aborted after 20 ms of a 40 ms call: ${got}, after ${elapsedSince(start)}.`,
    `The upstream saw ${upstreamSaw}. The fallback does not answer for a call the caller aborted.`,
  );

  let called = false;
  const already = await lookup
    .execute(
      (): StockAnswer => {
        called = true;
        return { source: 'live', units: 1 };
      },
      { signal: AbortSignal.abort(reason) },
    )
    .then(
      () => 'resolved',
      (error: unknown) => `rejected with ${describeError(error)}`,
    );
  say(`Signal already aborted: ${already}; fn was called: ${called}.`, '');
  return called || upstreamSaw === 'nothing'
    ? 'the caller abort did NOT behave as documented'
    : "the caller's abort rejected with its own reason and reached the upstream";
}

async function main(): Promise<void> {
  console.log(`Breakwater core demo (seed ${SEED})`);
  console.log('');
  const summaries = [await flakyInventory(), await timeoutStrategies(), await callerAbort()];
  console.log(`Summary: ${summaries.join('; ')}.`);
}

await main();
