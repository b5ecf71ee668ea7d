import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import setup, { START_REDIS_COMMAND } from '../global-setup.js';
import { RUN_DIR_ENV } from '../scratch-dir.js';
import type { ServiceAvailability } from '../service-availability.js';
import { services } from '../services.js';

// A port nothing listens on: connecting is refused at once.
const DEAD_REDIS = 'redis://127.0.0.1:1';

function fakeProject() {
  const provided: Record<string, unknown> = {};
  const provide = ((key: string, value: unknown) => {
    provided[key] = value;
  }) as Parameters<typeof setup>[0]['provide'];
  return { provide, provided };
}

describe('global setup', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  it('provided this run with the service availability', () => {
    const available = services();
    expect(typeof available.redisUrl).toBe('string');
    expect(typeof available.redis).toBe('boolean');
    expect(typeof available.redisServerBinary).toBe('boolean');
    expect(typeof available.dynamodb).toBe('boolean');
    expect(process.env[RUN_DIR_ENV]).toBeDefined();
  });

  it('records a missing Redis and announces the skip loudly at teardown', async () => {
    vi.stubEnv('CI', '');
    vi.stubEnv('REDIS_URL', DEAD_REDIS);
    const outerRunDir = process.env[RUN_DIR_ENV];
    const { provide, provided } = fakeProject();
    const teardown = await setup({ provide });
    const availability = provided.breakwaterServices as ServiceAvailability;
    expect(availability).toMatchObject({ redisUrl: DEAD_REDIS, redis: false });
    const runDir = process.env[RUN_DIR_ENV];
    expect(runDir).not.toBe(outerRunDir);
    expect(existsSync(runDir ?? '')).toBe(true);

    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    teardown();
    const notice = warn.mock.calls.map((call) => String(call[0])).join('\n');
    expect(notice).toContain('SKIPPED');
    expect(notice).toContain(`Redis at ${DEAD_REDIS}`);
    expect(notice).toContain(START_REDIS_COMMAND);
    expect(existsSync(runDir ?? '')).toBe(false);
    expect(process.env[RUN_DIR_ENV]).toBe(outerRunDir);
  });

  it('fails the run when CI is set and a service is missing, saying how to start it', async () => {
    vi.stubEnv('CI', 'true');
    vi.stubEnv('REDIS_URL', DEAD_REDIS);
    const { provide, provided } = fakeProject();
    const failure = setup({ provide });
    await expect(failure).rejects.toThrow(/CI is set/);
    await expect(failure).rejects.toThrow(`Redis at ${DEAD_REDIS}`);
    await expect(failure).rejects.toThrow(START_REDIS_COMMAND);
    expect(provided).toEqual({});
  });

  it('prints nothing when everything is there', async () => {
    const available = services();
    if (!available.redis || !available.redisServerBinary || !available.dynamodb) return;
    vi.stubEnv('REDIS_URL', available.redisUrl);
    const { provide, provided } = fakeProject();
    const teardown = await setup({ provide });
    expect(provided.breakwaterServices).toEqual(available);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    teardown();
    expect(warn).not.toHaveBeenCalled();
  });
});
