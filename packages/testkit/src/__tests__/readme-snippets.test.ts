/**
 * The docs run: every snippet marked `<!-- runnable -->` in the root README, the package READMEs
 * and the packages' docs/ is written to a file of its own and run as a child process (tsx, with
 * `@breakwater/*` resolved to the workspace sources, like a fleet replica) against the real Redis.
 * It must exit with code 0, by itself, before the deadline: a snippet that leaves a client or a
 * timer open fails. Each package README must open with such a quick start.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forgetTempDir, removeOnExit } from '../child-reaper.js';
import { spawnReplica } from '../fleet.js';
import {
  codeSnippets,
  isolateNames,
  REPOSITORY_DIR,
  RUNNABLE_MARKER,
  type Snippet,
  snippetFiles,
} from '../readme-snippets.js';
import { describeWithRedis, services } from '../services.js';
import { PACKAGES_DIR, workspaceSources } from '../workspace-sources.js';

/** The pattern packages (and core) whose README must open with runnable quick starts. */
const PACKAGE_READMES = ['core', 'circuit-breaker', 'bulkhead', 'retry', 'cache', 'rate-limit'].map(
  (dir) => `packages/${dir}/README.md`,
);

/** A quick start is short: the first code of a README, read before anything else. */
const QUICK_START_MAX_LINES = 25;

/** A snippet must have exited by itself this long after it started. */
const DEADLINE_MS = 20_000;

const runnable: Snippet[] = snippetFiles().flatMap((file) =>
  codeSnippets(file).filter((snippet) => snippet.runnable),
);

describe('README quick starts', () => {
  it.each(PACKAGE_READMES)('%s opens with a runnable quick start, then one on Redis', (file) => {
    const snippets = codeSnippets(file);
    const first = snippets[0];
    expect(first?.runnable, `${first?.where} must be marked ${RUNNABLE_MARKER}`).toBe(true);
    expect(first!.code.split('\n').length).toBeLessThanOrEqual(QUICK_START_MAX_LINES);
    const second = snippets[1];
    expect(second?.runnable, `${second?.where} must be marked ${RUNNABLE_MARKER}`).toBe(true);
    // The Redis quick start creates its client, handles its errors and shuts everything down.
    expect(second!.code).toContain("process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'");
    expect(second!.code).toContain("client.on('error'");
    expect(second!.code).toMatch(/await client\.quit\(\)/);
  });

  it('finds the runnable snippets', () => {
    // Guards the extraction itself: a marker that stopped matching would make the suite vacuous.
    expect(runnable.length).toBeGreaterThanOrEqual(PACKAGE_READMES.length * 2);
  });
});

/** Each runnable snippet as it is run: its own file, its names made unique to this run. */
const suffix = randomBytes(4).toString('hex');
const scripts = runnable.map((snippet, index) => ({
  snippet,
  file: `snippet-${index}.ts`,
  ...isolateNames(snippet.code, `${suffix}-${index}`),
}));
let dir: string;

beforeAll(() => {
  // Inside the workspace, so a snippet's `import … from 'ioredis'` resolves as it would in a
  // project that installed it.
  dir = mkdtempSync(join(PACKAGES_DIR, 'testkit', '.readme-snippets-'));
  removeOnExit(dir);
  for (const script of scripts) writeFileSync(join(dir, script.file), `${script.code}\n`);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  forgetTempDir(dir);
});

describe('runnable README snippets', () => {
  it('type-check as pasted into a strict TypeScript project', { timeout: 120_000 }, async () => {
    // The repository's strict settings, with `@breakwater/*` mapped to the workspace sources.
    const paths = Object.fromEntries(
      Object.entries(workspaceSources()).map(([specifier, url]) => [
        specifier,
        [fileURLToPath(url)],
      ]),
    );
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: join(REPOSITORY_DIR, 'tsconfig.base.json'),
        compilerOptions: { noEmit: true, paths },
        include: scripts.map((script) => script.file),
      }),
    );
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    const result = await promisify(execFile)(process.execPath, [tsc, '-p', dir]).then(
      ({ stdout, stderr }) => ({ output: `${stdout}${stderr}`, failed: false }),
      (error: { stdout?: string; stderr?: string }) => ({
        output: `${error.stdout ?? ''}${error.stderr ?? String(error)}`,
        failed: true,
      }),
    );
    // Point each error at its line of the README instead of the temp file.
    const report = result.output.replace(
      /\S*snippet-(\d+)\.ts\((\d+),(\d+)\)/g,
      (_match, index: string, line: string, column: string) => {
        const { snippet } = scripts[Number(index)]!;
        return `${snippet.file}:${snippet.line + Number(line)}:${column}`;
      },
    );
    expect(report).toBe('');
    expect(result.failed).toBe(false);
  });
});

describeWithRedis('runnable README snippets against Redis', () => {
  let client: Redis;

  beforeAll(() => {
    client = new Redis(services().redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  });

  afterAll(async () => {
    // Remove what the snippets left in Redis: every key carries one of their renamed names.
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `*${suffix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await client.unlink(...keys);
    } while (cursor !== '0');
    await client.quit();
  });

  it.each(scripts.map((script) => [script.snippet.where, script] as const))(
    '%s runs and exits by itself',
    async (_where, { snippet, file, code, renamed }) => {
      if (/\bredis/i.test(code)) {
        // Without a renamed policy, parallel runs would share (and break) each other's state.
        expect(renamed, `${snippet.where} names no policy to isolate`).toBeGreaterThan(0);
      }
      // `@breakwater/*` resolves to the workspace sources, as in the fleet harness.
      const child = spawnReplica({
        script: join(dir, file),
        env: { REDIS_URL: services().redisUrl },
        timeoutMs: DEADLINE_MS,
      });
      const output: string[] = [];
      child.onMessage((line) => output.push(line));
      const outcome = await child.result.catch((error: unknown) => {
        throw new Error(
          `${snippet.where} did not exit by itself within ${DEADLINE_MS} ms (an open client, ` +
            `socket or timer keeps it alive): ${String(error)}\n--- stdout ---\n${output.join('\n')}`,
        );
      });
      expect(
        outcome.exitCode,
        `${snippet.where}\n--- stdout ---\n${output.join('\n')}\n--- stderr ---\n${outcome.stderr}`,
      ).toBe(0);
    },
  );
});
