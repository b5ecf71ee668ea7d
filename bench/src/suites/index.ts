/**
 * The one list of benchmark suites. To add a pattern, write `suites/<pattern>.ts` exporting its
 * suites (ids `<pattern>/<what>`) and spread them in here.
 */
import type { Suite } from '../harness.js';
import { bulkheadSuites } from './bulkhead.js';
import { cacheSuites } from './cache.js';
import { chaosSuites } from './chaos.js';
import { circuitBreakerSuites } from './circuit-breaker.js';
import { coreSuites } from './core.js';
import { pipelineSuites } from './pipeline.js';
import { rateLimitSuites } from './rate-limit.js';
import { retrySuites } from './retry.js';
import { timeoutSuites } from './timeout.js';
import { writeBehindSuites } from './write-behind.js';

/** Every registered suite, in the order `pnpm bench` runs them. */
export const suites: readonly Suite[] = [
  ...coreSuites,
  ...timeoutSuites,
  ...chaosSuites,
  ...pipelineSuites,
  ...retrySuites,
  ...cacheSuites,
  ...rateLimitSuites,
  ...circuitBreakerSuites,
  ...bulkheadSuites,
  ...writeBehindSuites,
];
