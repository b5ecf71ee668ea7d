// The degradation suite's child process for the retry budget: builds it as the test does.
import { runDegradationChild } from '@breakwater/testkit/degradation-child';
import { build } from './budget-subject.js';

await runDegradationChild(build);
