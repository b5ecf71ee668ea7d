/**
 * Every pattern package has the one skeleton ARCHITECTURE.md describes, so that a reader who knows
 * one package knows where to look in all of them. This checks the parts a machine can: the files
 * and their names, the `DEFAULTS` constant, the `scope` method and `close()` on every store
 * interface, `close()` and `Symbol.asyncDispose` on every policy and store the package builds, the
 * 600-line limit, and the README's link to the one store-failure rule.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const PACKAGES = resolve(import.meta.dirname, '../../..');

/** A pattern package, the file of its policy, and how to build its policies and memory stores. */
interface PatternPackage {
  readonly dir: string;
  readonly name: string;
  /** `src/<policy>.ts`: the policy's interface and factory. */
  readonly policyFile: string;
  /** The folder of the policy's internals, behind `policyFile`. */
  readonly internals: string;
  /** Builds each policy of the package with an in-memory store. */
  readonly policies: (entry: Record<string, unknown>) => unknown[];
  /** Builds each memory store of the package. */
  readonly memoryStores: (entry: Record<string, unknown>) => unknown[];
}

type Factory = (options?: unknown) => unknown;
const call = (entry: Record<string, unknown>, name: string, options?: unknown): unknown =>
  (entry[name] as Factory)(options);

const PATTERNS: readonly PatternPackage[] = [
  {
    dir: 'circuit-breaker',
    name: '@breakwater/circuit-breaker',
    policyFile: 'circuit-breaker.ts',
    internals: 'breaker',
    policies: (e) => [call(e, 'circuitBreaker')],
    memoryStores: (e) => [call(e, 'memoryStore')],
  },
  {
    dir: 'rate-limit',
    name: '@breakwater/rate-limit',
    policyFile: 'rate-limiter.ts',
    internals: 'limiter',
    policies: (e) => [call(e, 'rateLimiter', { name: 'skeleton', limit: 1, intervalMs: 1000 })],
    memoryStores: (e) => [call(e, 'memoryStore')],
  },
  {
    dir: 'bulkhead',
    name: '@breakwater/bulkhead',
    policyFile: 'bulkhead.ts',
    internals: 'policy',
    policies: (e) => [call(e, 'bulkhead', { maxConcurrent: 1 })],
    memoryStores: (e) => [call(e, 'memoryStore')],
  },
  {
    dir: 'retry',
    name: '@breakwater/retry',
    policyFile: 'retry.ts',
    internals: 'retrying',
    policies: (e) => [call(e, 'retry'), call(e, 'retryBudget'), call(e, 'hedge', { delayMs: 10 })],
    memoryStores: (e) => [call(e, 'memoryBudgetStore')],
  },
  {
    dir: 'cache',
    name: '@breakwater/cache',
    policyFile: 'cache.ts',
    internals: 'engine',
    policies: (e) => [call(e, 'cache', { name: 'skeleton' })],
    memoryStores: (e) => [call(e, 'memoryStore'), call(e, 'memoryWriteBehindQueue')],
  },
];

/** Every `.ts` file under `dir`, recursively. */
function typeScriptFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) files.push(...typeScriptFiles(path));
    else if (entry.endsWith('.ts')) files.push(path);
  }
  return files;
}

const lineCount = (path: string): number => readFileSync(path, 'utf8').split('\n').length - 1;

describe.each(PATTERNS)('the skeleton of $name', (pattern) => {
  const root = join(PACKAGES, pattern.dir);
  const src = join(root, 'src');
  const read = (path: string): string => readFileSync(join(root, path), 'utf8');

  it('has the files of the skeleton', () => {
    const expected = [
      'src/index.ts',
      `src/${pattern.policyFile}`,
      'src/options.ts',
      'src/store.ts',
      'src/stores/memory.ts',
      'src/stores/redis.ts',
      'src/stores/dynamodb.ts',
      'src/telemetry.ts',
      'src/redis.ts',
      'src/dynamodb.ts',
      'src/__tests__/store.contract.test.ts',
      'src/__tests__/degradation.test.ts',
      'README.md',
    ];
    expect(expected.filter((path) => !existsSync(join(root, path)))).toEqual([]);
  });

  it('keeps the policy file to its interface and factory, the internals in a folder', () => {
    expect(statSync(join(src, pattern.internals)).isDirectory()).toBe(true);
    // The implementation is a class behind the factory, never in the public file.
    expect(read(`src/${pattern.policyFile}`)).not.toMatch(/^(export )?class /m);
  });

  it('exports only named re-exports from its entry points', () => {
    for (const entry of ['src/index.ts', 'src/redis.ts', 'src/dynamodb.ts']) {
      const code = read(entry)
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/\/\/.*$/gm, '');
      const statements = code
        .split(';')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
      const others = statements.filter(
        (s) => !/^export\s+(type\s+)?\{[\s\S]*\}\s+from\s+'[^']+'$/.test(s),
      );
      expect(others, `${pattern.dir}/${entry}`).toEqual([]);
    }
  });

  it('names its defaults `DEFAULTS` in options.ts', () => {
    expect(read('src/options.ts')).toMatch(/export const DEFAULTS\b/);
  });

  it('scopes a store to one policy with `scope`, and stores can be closed', () => {
    const store = read('src/store.ts');
    expect(store).toMatch(/\n\s+scope\(/);
    expect(store).toMatch(/\n\s+close\(\): Promise<void>/);
    expect(store).toMatch(/\[Symbol\.asyncDispose\]\(\): Promise<void>/);
  });

  it('has no source file over 600 lines and no utils.ts', () => {
    const files = typeScriptFiles(src);
    const long = files
      .filter((file) => lineCount(file) > 600)
      .map((file) => `${relative(root, file)}: ${lineCount(file)} lines`);
    expect(long).toEqual([]);
    expect(files.filter((file) => /(^|\/)utils\.ts$/.test(file))).toEqual([]);
  });

  it("links the core README's store-failure rule instead of describing its own", () => {
    expect(read('README.md')).toContain('../core/README.md#when-the-store-fails');
  });

  it('gives every policy and memory store close() and Symbol.asyncDispose', async () => {
    // Imported by name: vitest resolves the package to its TypeScript source.
    const entry = (await import(/* @vite-ignore */ pattern.name)) as Record<string, unknown>;
    const built = [...pattern.policies(entry), ...pattern.memoryStores(entry)];
    for (const thing of built) {
      const closable = thing as { close?: unknown; [Symbol.asyncDispose]?: unknown };
      expect(typeof closable.close, `close() of ${describeThing(thing)}`).toBe('function');
      expect(typeof closable[Symbol.asyncDispose], `asyncDispose of ${describeThing(thing)}`).toBe(
        'function',
      );
      await (closable.close as () => Promise<void>)();
    }
  });
});

function describeThing(thing: unknown): string {
  return (thing as { constructor?: { name?: string } })?.constructor?.name ?? typeof thing;
}
