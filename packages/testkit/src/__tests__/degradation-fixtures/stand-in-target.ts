import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { DegradationTarget } from '../../degradation-target.js';
import { buildStandIn, STAND_IN_PATTERN } from './stand-in.js';

/** The script path of a child in this directory. */
export const standInChild = (name: string): string =>
  fileURLToPath(new URL(`./${name}.ts`, import.meta.url));

/**
 * The stand-in as a degradation target: it answers `'store'` from the store, and `'open'`,
 * `'local'` or a rejection (fail-closed) while the store fails.
 */
export const standInTarget: DegradationTarget = {
  pattern: STAND_IN_PATTERN,
  build: buildStandIn(),
  childScript: standInChild('stand-in-child'),
  expectAnswer(outcome, { mode, phase }) {
    if (phase === 'healthy') {
      expect(outcome).toMatchObject({ status: 'fulfilled', value: 'store' });
    } else if (mode === 'fail-closed') {
      expect(outcome.status).toBe('rejected');
    } else {
      expect(outcome).toMatchObject({
        status: 'fulfilled',
        value: mode === 'fail-open' ? 'open' : 'local',
      });
    }
  },
};
