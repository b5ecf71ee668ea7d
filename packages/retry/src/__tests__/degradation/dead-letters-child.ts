// The degradation suite's child process for the Redis dead-letter queue: builds it as the test does.
import { runDegradationChild } from '@breakwater/testkit/degradation-child';
import { build } from './dead-letters-subject.js';

await runDegradationChild(build);
