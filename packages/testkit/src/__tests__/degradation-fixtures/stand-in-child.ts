// Degradation suite child: the stand-in subject, as a pattern package's child script would be.
import { runDegradationChild } from '@breakwater/testkit/degradation-child';
import { buildStandIn } from './stand-in.js';

await runDegradationChild(buildStandIn());
