// Fleet replica: announces it is running, then never finishes (until killed).
import { replicaIdentity, reportMessage } from '@breakwater/testkit/replica';

process.stderr.write(`replica ${replicaIdentity().index} is stuck on purpose\n`);
await reportMessage('ready');
setInterval(() => {}, 60_000);
