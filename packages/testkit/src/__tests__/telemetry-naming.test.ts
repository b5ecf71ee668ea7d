/**
 * One naming rule for every instrument of every Breakwater package. Each package's policies are
 * built with an in-memory SDK registered, whose meters note every instrument created (name, kind,
 * unit, description, advice), and each instrument is held to the rule below. Building a policy
 * creates all of its instruments (core's `LazyInstruments` makes them from the SDK's meter at
 * construction), so every metric name a package exports (`METRIC_*`) must be among them.
 *
 * The rule:
 * - the name is `breakwater.<pattern>.<what>`: `<pattern>` is one of {@link PATTERNS} and
 *   `<what>` is one or more dot-separated snake_case words (`store.duration`, `leases.lost`,
 *   `unreadable_entries`);
 * - a non-empty OTel unit: a UCUM unit (`s`, `1`) or an annotation in braces (`{call}`);
 * - a non-empty description;
 * - a duration (a name ending in `duration` or `delay`) is a histogram in `s`, and every
 *   histogram gives explicit bucket advice, in increasing order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CreatedInstrument, installOtel, type OtelHarness } from '../otel.js';

/** The `<pattern>` part of a name: the pattern in snake_case (write-behind is the cache's). */
const PATTERNS = [
  'circuit_breaker',
  'bulkhead',
  'rate_limit',
  'retry',
  'cache',
  'write_behind',
  'timeout',
  'fallback',
] as const;

const NAME = new RegExp(`^breakwater\\.(${PATTERNS.join('|')})(\\.[a-z][a-z0-9]*(_[a-z0-9]+)*)+$`);
/** A UCUM unit without spaces, or a curly-brace annotation (OTel's `{call}` style). */
const UNIT = /^(\{[a-z][a-z_]*\}|[A-Za-z0-9/.]+)$/;
const DURATION = /(duration|delay)$/;

type Entry = Record<string, unknown>;
type Factory = (options?: unknown) => unknown;
const call = (entry: Entry, name: string, options?: unknown): unknown =>
  (entry[name] as Factory)(options);

/** A package, and how to build the policies that create all of its instruments. */
interface TelemetryPackage {
  readonly name: string;
  readonly build: (entry: Entry) => unknown[];
}

const PACKAGES: readonly TelemetryPackage[] = [
  {
    name: '@breakwater/core',
    build: (e) => [call(e, 'timeout', { ms: 1000 }), call(e, 'fallback', { value: 0 })],
  },
  {
    name: '@breakwater/circuit-breaker',
    build: (e) => [call(e, 'circuitBreaker', { name: 'naming', store: call(e, 'memoryStore') })],
  },
  {
    name: '@breakwater/bulkhead',
    build: (e) => [
      call(e, 'bulkhead', { name: 'naming', maxConcurrent: 1, store: call(e, 'memoryStore') }),
    ],
  },
  {
    name: '@breakwater/rate-limit',
    build: (e) => [
      call(e, 'rateLimiter', {
        name: 'naming',
        limit: 1,
        intervalMs: 1000,
        store: call(e, 'memoryStore'),
      }),
    ],
  },
  {
    name: '@breakwater/retry',
    build: (e) => [
      call(e, 'retry', { name: 'naming' }),
      call(e, 'retryBudget', { name: 'naming' }),
      call(e, 'hedge', { name: 'naming', delayMs: 10 }),
    ],
  },
  {
    name: '@breakwater/cache',
    build: (e) => [
      call(e, 'cache', { name: 'naming', store: call(e, 'memoryStore') }),
      call(e, 'writeBehind', { name: 'naming', persist: async () => {} }),
    ],
  },
];

let otel: OtelHarness;
const built: unknown[] = [];
const exported = new Map<string, string[]>();

beforeAll(async () => {
  otel = installOtel();
  for (const pkg of PACKAGES) {
    // Imported by name: vitest resolves each package to its TypeScript source.
    const entry = (await import(/* @vite-ignore */ pkg.name)) as Entry;
    built.push(...pkg.build(entry));
    exported.set(
      pkg.name,
      Object.entries(entry)
        .filter(([key, value]) => key.startsWith('METRIC_') && typeof value === 'string')
        .map(([, value]) => value as string),
    );
  }
});

afterAll(async () => {
  for (const thing of built) await (thing as { close?: () => Promise<void> }).close?.();
  await otel.uninstall();
});

/** What is wrong with one instrument, by the rule in this file's comment (empty when nothing). */
function problemsOf(instrument: CreatedInstrument): string[] {
  const problems: string[] = [];
  if (!NAME.test(instrument.name)) problems.push('name is not breakwater.<pattern>.<snake_case>');
  if (instrument.unit === undefined || !UNIT.test(instrument.unit)) problems.push('no OTel unit');
  if (!instrument.description) problems.push('no description');
  if (DURATION.test(instrument.name)) {
    if (instrument.kind !== 'histogram') problems.push('a duration that is not a histogram');
    if (instrument.unit !== 's') problems.push('a duration not in s');
  }
  if (instrument.kind === 'histogram') {
    const buckets = instrument.advice?.explicitBucketBoundaries;
    if (buckets === undefined || buckets.length === 0) problems.push('no bucket advice');
    else if (buckets.some((bound, i) => i > 0 && bound <= buckets[i - 1]!)) {
      problems.push('buckets not increasing');
    }
  }
  return problems;
}

describe('instrument naming', () => {
  it('creates an instrument for every metric name each package exports', () => {
    const created = new Set(otel.instruments().map((instrument) => instrument.name));
    for (const [pkg, names] of exported) {
      // Core names its two instruments (timeout, fallback) inline; the patterns export theirs.
      if (pkg !== '@breakwater/core') {
        expect(names.length, `${pkg} exports metric names`).toBeGreaterThan(0);
      }
      expect(
        names.filter((name) => !created.has(name)),
        `${pkg}'s METRIC_* not created`,
      ).toEqual([]);
    }
    const scopes = new Set(otel.instruments().map((instrument) => instrument.scope));
    expect([...scopes].sort()).toEqual(PACKAGES.map((pkg) => pkg.name).sort());
  });

  it('holds every instrument to the one rule', () => {
    const instruments = otel.instruments();
    expect(instruments.length).toBeGreaterThan(25);
    const broken = instruments
      .map((instrument) => ({ name: instrument.name, problems: problemsOf(instrument) }))
      .filter((found) => found.problems.length > 0);
    expect(broken).toEqual([]);
  });

  it('gives one name one kind, unit and description in every package and policy', () => {
    const seen = new Map<string, string>();
    for (const instrument of otel.instruments()) {
      const shape = `${instrument.kind} ${instrument.unit} ${instrument.description}`;
      expect(seen.get(instrument.name) ?? shape, instrument.name).toBe(shape);
      seen.set(instrument.name, shape);
    }
  });

  it('rejects names, units and advice that break the rule', () => {
    const good: CreatedInstrument = {
      scope: '@breakwater/bulkhead',
      kind: 'histogram',
      name: 'breakwater.bulkhead.wait.duration',
      unit: 's',
      description: 'Time calls waited.',
      advice: { explicitBucketBoundaries: [0.001, 0.01] },
    };
    expect(problemsOf(good)).toEqual([]);
    expect(problemsOf({ ...good, name: 'breakwater.bulkhead.waitDuration' })).not.toEqual([]);
    expect(problemsOf({ ...good, name: 'breakwater.write-behind.lag' })).not.toEqual([]);
    expect(problemsOf({ ...good, name: 'bulkhead.wait.duration' })).not.toEqual([]);
    expect(problemsOf({ ...good, unit: 'ms' })).not.toEqual([]);
    expect(problemsOf({ ...good, unit: undefined })).not.toEqual([]);
    expect(problemsOf({ ...good, description: '' })).not.toEqual([]);
    expect(problemsOf({ ...good, advice: undefined })).not.toEqual([]);
    expect(problemsOf({ ...good, advice: { explicitBucketBoundaries: [1, 0.5] } })).not.toEqual([]);
    expect(problemsOf({ ...good, kind: 'gauge' })).not.toEqual([]);
  });
});
