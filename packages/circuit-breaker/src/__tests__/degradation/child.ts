// The degradation suite's exit check: a process that builds the breaker, breaks, closes, exits.
import { runDegradationChild } from '@breakwater/testkit/degradation-child';
import { build } from './subject.js';

await runDegradationChild(build);
