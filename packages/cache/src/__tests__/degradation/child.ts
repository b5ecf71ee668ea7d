// The degradation suite's child process for the cache: builds it as the test does.
import { runDegradationChild } from '@breakwater/testkit/degradation-child';
import { build } from './subject.js';

await runDegradationChild(build);
