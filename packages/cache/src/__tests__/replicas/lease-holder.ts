/**
 * Role 0 takes the lease and hangs in its loader (the test kills it); role 1 waits for the value
 * and, once the dead holder's lease expires, loads it itself.
 */
import { replicaIdentity, reportMessage, reportResult } from '@breakwater/testkit/replica';
import { connectReplica } from './connect.js';

const { index } = replicaIdentity();
const replica = await connectReplica({ leaseTtlMs: 1_000 });
if (index === 0) {
  await replica.cache.getOrLoad('k', async () => {
    await replica.signal('holder', 'loading');
    await reportMessage('loading');
    return new Promise<string>(() => {});
  });
} else {
  await replica.waitFor('holder', 'loading');
  let loads = 0;
  const started = Date.now();
  const value = await replica.cache.getOrLoad('k', async () => {
    loads++;
    return 'loaded-by-1';
  });
  await reportResult({ value, loads, waitedMs: Date.now() - started });
  await replica.close();
}
