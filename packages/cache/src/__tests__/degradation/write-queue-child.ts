// The degradation suite's child process for write-behind without a cache (the queue alone):
// builds the subject as write-queue.degradation.test.ts does.
import { runDegradationChild } from '@breakwater/testkit/degradation-child';
import { buildQueueOnly } from './write-behind-subject.js';

await runDegradationChild(buildQueueOnly);
