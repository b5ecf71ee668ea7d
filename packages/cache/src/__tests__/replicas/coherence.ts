/**
 * Role 0 writes, role 1 reads: a `set` on one replica is visible on the other's next read — once
 * the write's invalidation has reached it. The writer announces each write on the coordination
 * channel after the write returned; the reader hears the announcement on its bus connection,
 * behind the write's own bus message, so its next read is one the bus has already made coherent.
 * (Polling a coordination key on another connection raced the bus message: the reader could see
 * the key before its bus connection delivered the message, and read its old L1 copy.)
 */
import { replicaIdentity, reportResult } from '@breakwater/testkit/replica';
import { connectReplica } from './connect.js';

const { index, count } = replicaIdentity();
const replica = await connectReplica();
await replica.waitForBus(count);
const c = replica.cache;
if (index === 0) {
  await c.set('profile', { name: 'v1' });
  await replica.signal('step', '1');
  await replica.waitFor('step', '2');
  await c.set('profile', { name: 'v2' });
  await replica.announce('step', '3');
  await replica.waitFor('step', '4');
  await c.delete('profile');
  await replica.announce('step', '5');
  await reportResult({ ok: true });
} else {
  await replica.waitFor('step', '1');
  const first = await c.get<{ name: string }>('profile'); // now in this replica's L1
  const again = await c.get<{ name: string }>('profile');
  await replica.signal('step', '2');
  await replica.waitForAnnouncement('step', '3');
  const afterSet = await c.get<{ name: string }>('profile');
  await replica.signal('step', '4');
  await replica.waitForAnnouncement('step', '5');
  const afterDelete = await c.get('profile');
  await reportResult({
    first: first?.name,
    again: again?.name,
    afterSet: afterSet?.name,
    afterDelete: afterDelete ?? null,
  });
}
await replica.close();
