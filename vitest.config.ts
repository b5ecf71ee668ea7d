import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

/**
 * Tests import the packages by their public names (`@breakwater/core/redis`). These aliases point
 * every public entry point at its TypeScript source, so the suite tests the code as written and
 * never a stale build.
 */
function sourceAliases(): { find: RegExp; replacement: string }[] {
  const aliases: { find: RegExp; replacement: string }[] = [];
  for (const dir of readdirSync('packages')) {
    const manifestPath = join('packages', dir, 'package.json');
    if (!existsSync(manifestPath)) continue;
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
      name: string;
      exports?: Record<string, unknown>;
    };
    for (const subpath of Object.keys(manifest.exports ?? {})) {
      if (subpath === './package.json' || subpath.endsWith('.ts')) continue;
      const entry = subpath === '.' ? 'index' : subpath.slice(2);
      const source = resolve('packages', dir, 'src', `${entry}.ts`);
      if (!existsSync(source)) continue;
      const specifier = subpath === '.' ? manifest.name : `${manifest.name}/${entry}`;
      aliases.push({ find: new RegExp(`^${specifier.replace('/', '\\/')}$`), replacement: source });
    }
  }
  return aliases;
}

const alias = sourceAliases();
const packagesWithTests = readdirSync('packages').filter((dir) =>
  existsSync(join('packages', dir, 'src', '__tests__')),
);
const examplesWithTests = existsSync('examples')
  ? readdirSync('examples').filter((dir) => existsSync(join('examples', dir, 'src', '__tests__')))
  : [];

/**
 * In CI, a test that fails is run once more before it fails the run: one slow moment of a loaded
 * 2-core machine (a store call missing its deadline, a child process starting late) should not
 * fail a whole 30-minute run. A test that only passes on its retry is listed at the end of the log
 * with its first error (scripts/flaky-reporter.mjs), so that flakes are seen and fixed, not hidden.
 * Locally nothing is retried (`CI` set as the test set-up reads it: anything but empty, 0 or false).
 */
const ci = process.env.CI;
const retry = ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false' ? 1 : 0;

export default defineConfig({
  test: {
    globalSetup: ['./packages/testkit/src/global-setup.ts'],
    reporters: retry > 0 ? ['default', './scripts/flaky-reporter.mjs'] : ['default'],
    // Two files at a time, even on a 2-core machine (vitest would run one there): most of the
    // suite waits on Redis, child processes and timers rather than the CPU. On the 2-core CI
    // machine the suite took 977 s with one worker and 541 s with two, with the same results.
    maxWorkers: 2,
    projects: [
      ...packagesWithTests.map((dir) => ({
        resolve: { alias },
        test: {
          name: dir,
          root: resolve('packages', dir),
          include: ['src/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
          retry,
        },
      })),
      // The benchmark report (ratios, RESULTS.md, the chart): pure functions on fixed results;
      // nothing is measured in tests.
      {
        resolve: { alias },
        test: { name: 'bench', root: resolve('bench'), include: ['src/__tests__/**/*.test.ts'] },
      },
      // Runnable examples, tested end to end (a service, its upstream and load, in seconds).
      ...examplesWithTests.map((dir) => ({
        resolve: { alias },
        test: {
          name: `example:${dir}`,
          root: resolve('examples', dir),
          include: ['src/__tests__/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          retry,
        },
      })),
    ],
  },
});
