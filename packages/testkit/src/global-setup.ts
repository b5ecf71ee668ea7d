import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { killLeftoverServers } from './leftover-servers.js';
import { RUN_DIR_ENV } from './scratch-dir.js';
import { SERVICES_KEY, type ServiceAvailability } from './service-availability.js';
import {
  type ProbeOutcome,
  postgresUrlFromEnv,
  probeDynalite,
  probePostgres,
  probeRedis,
  probeRedisBinaries,
  redisUrlFromEnv,
} from './service-probes.js';

/** How to start the Redis the tests expect, quoted in failures and in the end-of-run notice. */
export const START_REDIS_COMMAND =
  'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no';

interface MissingService {
  name: string;
  reason: string;
  remedy: string;
  needs: string;
}

/** Whether `CI` is set to something other than an explicit "no". */
function isCi(): boolean {
  const value = process.env.CI;
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}

function missingServices(
  redisUrl: string,
  outcomes: {
    redis: ProbeOutcome;
    binaries: ProbeOutcome;
    dynalite: ProbeOutcome;
    postgres: ProbeOutcome;
    postgresUrl: string;
  },
): MissingService[] {
  const missing: MissingService[] = [];
  if (!outcomes.postgres.ok) {
    missing.push({
      name: `PostgreSQL at ${outcomes.postgresUrl}`,
      reason: outcomes.postgres.reason,
      remedy: 'start PostgreSQL with a `test` database (or point DATABASE_URL at one)',
      needs: 'write-behind tests against a real database (describeWithPostgres)',
    });
  }
  if (!outcomes.redis.ok) {
    missing.push({
      name: `Redis at ${redisUrl}`,
      reason: outcomes.redis.reason,
      remedy: `start one: ${START_REDIS_COMMAND} (or point REDIS_URL at one)`,
      needs: 'Redis store tests (describeWithRedis, contract suites [redis])',
    });
  }
  if (!outcomes.binaries.ok) {
    missing.push({
      name: 'redis-server / redis-cli binaries',
      reason: outcomes.binaries.reason,
      remedy:
        'install Redis 7 so both are on PATH (apt-get install redis-server, brew install redis)',
      needs: 'Redis Cluster tests and tests that own a throwaway redis-server',
    });
  }
  if (!outcomes.dynalite.ok) {
    missing.push({
      name: 'dynalite (in-process DynamoDB)',
      reason: outcomes.dynalite.reason,
      remedy: 'run `npx --yes pnpm@10 install` (dynalite is a dependency of @breakwater/testkit)',
      needs: 'DynamoDB store tests (describeWithDynamo, contract suites [dynamodb])',
    });
  }
  return missing;
}

function describeMissing(missing: MissingService[]): string[] {
  return missing.flatMap((service) => [
    `  - ${service.name}: ${service.reason}`,
    `      needed by: ${service.needs}`,
    `      fix:       ${service.remedy}`,
  ]);
}

function banner(lines: string[]): string {
  const rule = '!'.repeat(100);
  return ['', rule, ...lines.map((line) => `!! ${line}`), rule, ''].join('\n');
}

/**
 * Vitest global setup: probes Redis (`REDIS_URL`), the `redis-server` / `redis-cli` binaries and
 * dynalite, and provides the result as `inject('breakwaterServices')`. With `CI` set, anything
 * missing fails the run; otherwise the tests needing it are skipped and the returned teardown
 * prints a loud notice at the end of the run. It also gives the run a scratch dir for throwaway
 * servers, from which the teardown kills any a crashed worker left running.
 */
export default async function setup({
  provide,
}: Pick<TestProject, 'provide'>): Promise<() => void> {
  const redisUrl = redisUrlFromEnv();
  const postgresUrl = postgresUrlFromEnv();
  const [redis, binaries, dynalite, postgres] = await Promise.all([
    probeRedis(redisUrl),
    probeRedisBinaries(),
    probeDynalite(),
    probePostgres(postgresUrl),
  ]);
  const missing = missingServices(redisUrl, { redis, binaries, dynalite, postgres, postgresUrl });
  if (missing.length > 0 && isCi()) {
    throw new Error(
      [
        '[breakwater testkit] CI is set, so every test service must be available, but these are missing:',
        ...describeMissing(missing),
      ].join('\n'),
    );
  }

  const availability: ServiceAvailability = {
    redisUrl,
    redis: redis.ok,
    redisServerBinary: binaries.ok,
    dynamodb: dynalite.ok,
    postgresUrl,
    postgres: postgres.ok,
  };
  provide(SERVICES_KEY, availability);

  const runDir = mkdtempSync(join(tmpdir(), 'breakwater-testkit-run-'));
  const previousRunDir = process.env[RUN_DIR_ENV];
  process.env[RUN_DIR_ENV] = runDir;

  return function teardown(): void {
    const leftovers = killLeftoverServers(runDir);
    rmSync(runDir, { recursive: true, force: true });
    if (previousRunDir === undefined) delete process.env[RUN_DIR_ENV];
    else process.env[RUN_DIR_ENV] = previousRunDir;
    if (leftovers.length > 0) {
      console.warn(
        `[breakwater testkit] killed ${leftovers.length} redis-server process(es) that tests ` +
          `left running (pids ${leftovers.join(', ')}): a fixture was not stopped.`,
      );
    }
    if (missing.length > 0) {
      console.warn(
        banner([
          'BREAKWATER: TEST SERVICES WERE MISSING. THE TESTS THAT NEED THEM WERE SKIPPED, NOT RUN.',
          '',
          ...describeMissing(missing),
          '',
          'A green run here does NOT cover those stores. With CI set, a missing service fails the run.',
        ]),
      );
    }
  };
}
