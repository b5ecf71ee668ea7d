// Degradation suite child whose subject leaves its probe timer running after close().
import { runDegradationChild } from '@breakwater/testkit/degradation-child';
import { buildStandIn } from './stand-in.js';

await runDegradationChild(buildStandIn({ leakProbeOnClose: true }));
