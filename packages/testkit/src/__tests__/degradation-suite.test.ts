// The degradation suite run against the stand-in subject (see degradation-fixtures/stand-in.ts),
// on every backend, fault and mode, as a pattern package runs it against its policy.
import { runDegradationSuite } from '../degradation-suite.js';
import { standInTarget } from './degradation-fixtures/stand-in-target.js';

runDegradationSuite(standInTarget);
