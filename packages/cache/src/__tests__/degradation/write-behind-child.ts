// The degradation suite's child process for write-behind: builds the subject as the test does.
import { runDegradationChild } from '@breakwater/testkit/degradation-child';
import { build } from './write-behind-subject.js';

await runDegradationChild(build);
