// The degradation suite must be able to fail: each broken stand-in below must be caught, with a
// message that says what broke.
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import {
  DEGRADATION_SETTINGS,
  runDegradationScenario,
  runExitScenario,
  type ScenarioOptions,
} from '../degradation-scenario.js';
import type { DegradationTarget } from '../degradation-target.js';
import { type FaultyRedis, startFaultyStore } from '../faulty-store.js';
import { describeWithRedisCluster } from '../services.js';
import { buildStandIn, type StandInFlaws } from './degradation-fixtures/stand-in.js';
import { standInChild, standInTarget } from './degradation-fixtures/stand-in-target.js';

describeWithRedisCluster('the degradation suite catches a subject that', () => {
  let store: FaultyRedis;
  beforeAll(async () => {
    store = await startFaultyStore('redis');
  });
  afterAll(async () => {
    await store?.stop();
  });
  afterEach(async () => {
    await store.restore();
  });

  const options = (
    flaws: StandInFlaws,
    overrides: Partial<ScenarioOptions> = {},
  ): ScenarioOptions => {
    const target: DegradationTarget = { ...standInTarget, build: buildStandIn(flaws) };
    return {
      target,
      store,
      fault: 'hang',
      mode: 'fail-open',
      settings: DEGRADATION_SETTINGS,
      callsToDegrade: DEGRADATION_SETTINGS.failureThreshold,
      ...overrides,
    };
  };

  it('waits on a hung store without a deadline', async () => {
    await expect(runDegradationScenario(options({ noDeadline: true }))).rejects.toThrow(
      /main: failing call 1 did not answer within 400 ms \(deadline 150 \+ slack 250\)/,
    );
  });

  it('is built again, not failed, when its first healthy calls stall (a loaded machine)', async () => {
    // Each stalled subject would degrade on a second try; a fresh one is built instead.
    await runDegradationScenario(options({ stalledSubjects: 2 }));
    // Up to three tries of a subject in all: a machine stalled longer than that fails the run.
    await expect(runDegradationScenario(options({ stalledSubjects: 3 }))).rejects.toThrow(
      /main: healthy call: wrong answer/,
    );
  });

  it('degrades before failureThreshold failures', async () => {
    await expect(
      runDegradationScenario(options({ ignoreThreshold: true }, { fault: 'refuse' })),
    ).rejects.toThrow(/'degraded' arrived after 1 failing call\(s\); expected only after 2/);
  });

  it('never reports the store healthy again', async () => {
    await expect(runDegradationScenario(options({ neverRecovers: true }))).rejects.toThrow(
      /main: no 'healthy' event within 500 ms/,
    );
  });

  it('answers the wrong fallback', async () => {
    // A fail-closed expectation judging a fail-open subject.
    const target: DegradationTarget = {
      ...standInTarget,
      expectAnswer: (outcome, context) =>
        standInTarget.expectAnswer(outcome, { ...context, mode: 'fail-closed' }),
    };
    await expect(runDegradationScenario({ ...options({}), target })).rejects.toThrow(
      /expected 'fulfilled' to be 'rejected'/,
    );
  });

  it('keeps its process alive after close()', async () => {
    const target: DegradationTarget = {
      ...standInTarget,
      childScript: standInChild('stand-in-leaky-child'),
    };
    await expect(runExitScenario({ ...options({}), target })).rejects.toThrow(
      /did not exit by itself within 2000 ms of 'closed' and was killed\. Still keeping it alive: .*Timeout/,
    );
  });
});
