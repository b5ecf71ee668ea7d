/**
 * A Redis Cluster the nemesis owns: three masters (testkit's {@link startRedisCluster}), one
 * replica per master joined with `CLUSTER MEET` / `CLUSTER REPLICATE`, and the topology changes
 * a fleet must survive mid-run — moving a slot to another master (clients meet ASK while it moves,
 * MOVED once it has), promoting a master's replica with `CLUSTER FAILOVER`, and promoting it with
 * `CLUSTER FAILOVER FORCE` while its master is frozen (SIGSTOP).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import {
  CLUSTER_CONFIG_FILE,
  type ClusterNodeAddress,
  type RedisCluster,
  startRedisCluster,
  waitForClusterOk,
} from '../redis-cluster.js';
import { type RedisServer, startRedisServer } from '../redis-server.js';

/** Options of {@link startNemesisCluster}. */
export interface NemesisClusterOptions {
  /**
   * `cluster-node-timeout` of every node, in ms.
   * @default 2000
   */
  nodeTimeoutMs?: number;
  /**
   * How long a forced failover's master goes on taking writes with its replica cut off before it
   * is frozen, in ms: the replica misses what the master acknowledged meanwhile, the writes the
   * failover loses (a lagging or partitioned replica, as Sentinel's fault has). 0 freezes the
   * master once its replica has caught up, which on one machine loses next to nothing.
   * @default 300
   */
  replicaLagMs?: number;
  /**
   * How long starting the cluster, and each topology change, may take, in ms.
   * @default 20000
   */
  timeoutMs?: number;
}

/** What {@link NemesisCluster.migrateSlot} started: the slot, whence and whither. */
export interface SlotMigration {
  /** The slot being moved. */
  slot: number;
  /** Port of the master that owned it. */
  from: number;
  /** Port of the master it moves to. */
  to: number;
  /** How many keys `MIGRATE` moved so far. */
  keys: number;
  /** Moves what is left and gives the slot to the target on every master (clients see MOVED). */
  finish(): Promise<void>;
}

/** Options of {@link NemesisCluster.forceFailover}. */
export interface ForceFailoverOptions {
  /**
   * Called just before the replica is cut off (with `replicaLagMs`), or before the master's
   * replication offset is read and the replica let catch up to it (without): every write
   * acknowledged before this call is on the replica; one acknowledged from then on may be lost.
   */
  beforeStop?: () => void;
}

/** What {@link NemesisCluster.forceFailover} did. The old master stays frozen until `resume()`. */
export interface ForcedFailover {
  /** The slot whose master was replaced. */
  slot: number;
  /** Port of the promoted replica: the slot's owner now. */
  promoted: number;
  /** Port of the old master, frozen by SIGSTOP. */
  stopped: number;
  /** The old master's replication offset, read just before it was stopped. */
  masterOffset: number;
  /**
   * The promoted replica's offset read just before the master was stopped: what it had of the old
   * master's stream. With `replicaLagMs`, short of {@link masterOffset} by about the bytes the
   * master took while its replica was cut off; without, at least `masterOffset` (it caught up to
   * it, and the master may have gone on taking writes meanwhile).
   */
  replicaOffset: number;
  /** How many `CLUSTER FAILOVER FORCE` the replica was sent before every running node saw it own the slot. */
  requests: number;
  /**
   * Wakes the old master (SIGCONT) and resolves once it knows it was demoted: it is a replica and
   * owns no slot, so it takes no more writes for them. Idempotent.
   */
  resume(): Promise<void>;
}

/** A Redis Cluster with a replica per master whose topology the nemesis changes mid-run. */
export interface NemesisCluster {
  /** The masters' addresses at start (a client's startup nodes). */
  readonly nodes: ClusterNodeAddress[];
  /**
   * The slots that hold keys now, read from every master (the run's cluster is fresh, so these are
   * the policies' keys).
   */
  slotsInUse(): Promise<number[]>;
  /**
   * Starts moving `slot` to a master other than its owner (`pick` chooses among them): the target
   * is set `IMPORTING`, the owner `MIGRATING`, and every key of the slot is moved with `MIGRATE`,
   * so a client asking the owner for a key now gets ASK until {@link SlotMigration.finish}.
   */
  migrateSlot(slot: number, pick?: (count: number) => number): Promise<SlotMigration>;
  /**
   * Promotes the replica of `slot`'s master with `CLUSTER FAILOVER` (graceful: the master stops
   * taking writes until the replica has them all) and resolves once every node sees the replica
   * as the slot's owner. Returns the new owner's port.
   */
  failover(slot: number): Promise<number>;
  /**
   * Freezes `slot`'s master with SIGSTOP and promotes the replica with `CLUSTER FAILOVER FORCE`:
   * no handshake with the frozen master, the other masters vote. With `replicaLagMs` the master
   * first refuses its replica's (re)sync and drops its link, and takes writes alone that long; with
   * none, the replica is let catch up to every write the master had acknowledged when
   * {@link ForceFailoverOptions.beforeStop} was called. Resolves once every running node sees the
   * replica own the slot. What the master acknowledged after `beforeStop`, and what it
   * acknowledges once resumed until it learns of its demotion, is lost when it rejoins as the new
   * master's replica.
   */
  forceFailover(slot: number, options?: ForceFailoverOptions): Promise<ForcedFailover>;
  /** Stops every node. Idempotent. */
  stop(): Promise<void>;
}

/** How long a `CLUSTER FAILOVER` may go unanswered before it is sent again, in ms. */
const MANUAL_FAILOVER_RETRY_MS = 6_000;

/** Slack on the masters' vote timer (2 × node timeout) before a master is failed over again, in ms. */
const VOTE_MARGIN_MS = 500;

function admin(port: number): Redis {
  return new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    commandTimeout: 5_000,
  });
}

interface NodeLine {
  id: string;
  port: number;
  myself: boolean;
  master: boolean;
  masterId: string;
  slots: string[];
}

function parseNodes(text: string): NodeLine[] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [id, address, flags, masterId, , , , , ...slots] = line.split(' ');
      return {
        id: id!,
        port: Number(/:(\d+)@/.exec(address ?? '')?.[1]),
        myself: (flags ?? '').split(',').includes('myself'),
        master: (flags ?? '').split(',').includes('master'),
        masterId: masterId ?? '-',
        slots: slots.filter((range) => !range.startsWith('[')),
      };
    });
}

function owns(node: NodeLine, slot: number): boolean {
  return node.slots.some((range) => {
    const [from, to = from] = range.split('-').map(Number);
    return slot >= from! && slot <= to!;
  });
}

/** The numeric field `name` of an `INFO` reply. */
function infoField(info: string, name: string): number {
  const value = new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1];
  if (value === undefined) throw new Error(`Redis Cluster: INFO has no ${name}`);
  return Number(value);
}

async function until(what: string, deadline: number, test: () => Promise<boolean>): Promise<void> {
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`Redis Cluster: timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Starts a 3-master Redis Cluster with one replica per master, all in sync. */
export async function startNemesisCluster(
  options: NemesisClusterOptions = {},
): Promise<NemesisCluster> {
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 2_000;
  const timeoutMs = options.timeoutMs ?? 20_000;
  const replicaLagMs = options.replicaLagMs ?? 300;
  if (!(Number.isFinite(replicaLagMs) && replicaLagMs >= 0)) {
    throw new RangeError(
      `startNemesisCluster: expected \`replicaLagMs\` to be a finite number of ms ≥ 0, got ${replicaLagMs}`,
    );
  }
  const cluster: RedisCluster = await startRedisCluster({ nodeTimeoutMs, timeoutMs });
  const replicas: RedisServer[] = [];
  const clients = new Map<number, Redis>();
  const client = (port: number): Redis => {
    let found = clients.get(port);
    if (found === undefined) {
      found = admin(port);
      clients.set(port, found);
    }
    return found;
  };
  // Nodes frozen by a forced failover, by port: their process ids.
  const frozen = new Map<number, number>();
  const thaw = (port: number): void => {
    const pid = frozen.get(port);
    if (pid === undefined) return;
    frozen.delete(port);
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // Already gone.
    }
  };
  // Masters that refuse their replicas' sync (a forced failover's lag), by port.
  const cutOff = new Set<number>();
  /** Lets the node on `port` serve its replicas' sync again, if a lag had it refuse them. */
  const reconnect = async (port: number): Promise<void> => {
    if (!cutOff.has(port)) return;
    await client(port).call('ACL', 'SETUSER', 'default', '+psync', '+sync');
    cutOff.delete(port);
  };
  // When each master (by id) was last replaced by its replica: the other masters vote for a
  // replica of a given master at most once per 2 × node timeout.
  const replacedAt = new Map<string, number>();
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      for (const port of [...frozen.keys()]) thaw(port);
      for (const connection of clients.values()) connection.disconnect();
      await Promise.all(replicas.map((replica) => replica.stop()));
      await cluster.stop();
    })();
    return stopping;
  };
  const allPorts = (): number[] => [
    ...cluster.nodes.map((node) => node.port),
    ...replicas.map((replica) => replica.port),
  ];
  const topology = async (): Promise<NodeLine[]> =>
    parseNodes(String(await client(cluster.nodes[0]!.port).cluster('NODES')));
  const ownerOf = async (slot: number): Promise<NodeLine> => {
    const owner = (await topology()).find((node) => node.master && owns(node, slot));
    if (owner === undefined) throw new Error(`Redis Cluster: no master owns slot ${slot}`);
    return owner;
  };
  /**
   * The replica of `owner`. A master demoted by a forced failover rejoins as the new master's
   * replica once it has learnt of its demotion (up to a few hundred ms after SIGCONT): waited for
   * until `deadline` rather than taken for a master without a replica.
   */
  const replicaOf = async (owner: NodeLine, deadline: number): Promise<NodeLine> => {
    for (;;) {
      const replica = (await topology()).find((node) => node.masterId === owner.id);
      if (replica !== undefined) return replica;
      if (Date.now() > deadline) {
        throw new Error(`Redis Cluster: the master on port ${owner.port} has no replica`);
      }
      await sleep(50);
    }
  };
  /** Resolves once `replica`'s link to its master is up (it has synced), or throws at `deadline`. */
  const awaitSynced = (replica: { port: number }, deadline: number): Promise<void> =>
    until(`the replica on port ${replica.port} to sync`, deadline, async () =>
      String(await client(replica.port).info('replication')).includes('master_link_status:up'),
    );
  const masterPorts = async (): Promise<number[]> =>
    (await topology()).filter((node) => node.master).map((node) => node.port);

  try {
    const args = [
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      CLUSTER_CONFIG_FILE,
      '--cluster-node-timeout',
      String(nodeTimeoutMs),
    ];
    const deadline = Date.now() + timeoutMs;
    for (const master of cluster.nodes) {
      const replica = await startRedisServer({ args, clusterBus: true });
      replicas.push(replica);
      const masterId = String(await client(master.port).cluster('MYID'));
      await client(replica.port).cluster('MEET', '127.0.0.1', String(master.port));
      // REPLICATE needs the replica to know the master: wait for the handshake.
      await until('a new node to learn its master', deadline, async () =>
        String(await client(replica.port).cluster('NODES')).includes(masterId),
      );
      await client(replica.port).cluster('REPLICATE', masterId);
    }
    for (const replica of replicas) {
      await awaitSynced(replica, deadline);
    }
    await waitForClusterOk(
      allPorts().map((port) => ({ host: '127.0.0.1', port })),
      deadline,
    );
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    nodes: cluster.nodes,
    async slotsInUse() {
      const slots = new Set<number>();
      for (const port of await masterPorts()) {
        const keys = (await client(port).scan('0', 'COUNT', '1000'))[1];
        for (const key of keys) slots.add(Number(await client(port).cluster('KEYSLOT', key)));
      }
      return [...slots].sort((a, b) => a - b);
    },
    async migrateSlot(slot, pick = () => 0) {
      const owner = await ownerOf(slot);
      const others = (await topology()).filter((node) => node.master && node.id !== owner.id);
      const target = others[pick(others.length) % others.length]!;
      const slotArg = String(slot);
      await client(target.port).cluster('SETSLOT', slotArg, 'IMPORTING', owner.id);
      await client(owner.port).cluster('SETSLOT', slotArg, 'MIGRATING', target.id);
      const moveKeys = async (): Promise<number> => {
        let moved = 0;
        for (;;) {
          const keys = (await client(owner.port).cluster(
            'GETKEYSINSLOT',
            slotArg,
            '100',
          )) as string[];
          if (keys.length === 0) return moved;
          await client(owner.port).migrate(
            '127.0.0.1',
            String(target.port),
            '',
            '0',
            '5000',
            'KEYS',
            ...keys,
          );
          moved += keys.length;
        }
      };
      const migration: SlotMigration = {
        slot,
        from: owner.port,
        to: target.port,
        keys: await moveKeys(),
        async finish() {
          // Keys a script wrote on the owner between two batches are moved too.
          migration.keys += await moveKeys();
          // The target first, then the owner (it stops answering ASK), then everyone else.
          // (SETSLOT is for masters; replicas learn it from their masters.)
          const ports = [
            target.port,
            owner.port,
            ...(await masterPorts()).filter((port) => port !== target.port && port !== owner.port),
          ];
          for (const port of ports) {
            await client(port).cluster('SETSLOT', slotArg, 'NODE', target.id);
          }
        },
      };
      return migration;
    },
    async failover(slot) {
      const deadline = Date.now() + timeoutMs;
      const owner = await ownerOf(slot);
      const replica = await replicaOf(owner, deadline);
      // A manual failover needs the replica's link up (a master demoted by the last failover
      // resyncs first); one the master does not answer in time is given up by the replica
      // silently (cluster-manual-failover timeout, 5 s): it is asked again.
      await awaitSynced(replica, deadline);
      // The master only takes part when it knows the node as its replica (a demoted master is
      // still a master in its table until the gossip says otherwise).
      await until(`the master on port ${owner.port} to know its replica`, deadline, async () =>
        parseNodes(String(await client(owner.port).cluster('NODES'))).some(
          (node) => node.id === replica.id && node.masterId === owner.id,
        ),
      );
      let askedAt = 0;
      try {
        await until(
          `the replica on port ${replica.port} to own slot ${slot}`,
          deadline,
          async () => {
            if (Date.now() - askedAt > MANUAL_FAILOVER_RETRY_MS) {
              askedAt = Date.now();
              await client(replica.port).cluster('FAILOVER');
            }
            for (const port of allPorts()) {
              const nodes = parseNodes(String(await client(port).cluster('NODES')));
              const seen = nodes.find((node) => node.master && owns(node, slot));
              if (seen?.id !== replica.id) return false;
            }
            return true;
          },
        );
      } catch (error) {
        const server = replicas.find((candidate) => candidate.port === replica.port);
        const log = server?.log() ?? '(the replica is one of the first masters: no log kept)';
        const view = String(await client(replica.port).cluster('NODES'));
        throw new Error(
          `${(error as Error).message}\nIts CLUSTER NODES:\n${view}\nIts log:\n${log}`,
          {
            cause: error,
          },
        );
      }
      replacedAt.set(owner.id, Date.now());
      return replica.port;
    },
    async forceFailover(slot, { beforeStop } = {}) {
      const deadline = Date.now() + timeoutMs;
      const owner = await ownerOf(slot);
      const replica = await replicaOf(owner, deadline);
      await awaitSynced(replica, deadline);
      const pid = infoField(String(await client(owner.port).info('server')), 'process_id');
      // An election refused for that rule is not tried again for 4 × node timeout: wait it out
      // (with the master still up) rather than keep the master frozen meanwhile.
      const votesAt = (replacedAt.get(owner.id) ?? Number.NEGATIVE_INFINITY) + 2 * nodeTimeoutMs;
      if (votesAt + VOTE_MARGIN_MS > Date.now()) await sleep(votesAt + VOTE_MARGIN_MS - Date.now());
      beforeStop?.();
      if (replicaLagMs > 0) {
        // The master stops serving its replica's (re)sync and drops the link: what it
        // acknowledges from now on never reaches the replica. Undone as it resumes (ACLs are not
        // replicated: a later failover may make it a master again, with a replica to serve).
        await client(owner.port).call('ACL', 'SETUSER', 'default', '-psync', '-sync');
        cutOff.add(owner.port);
        await client(owner.port).call('CLIENT', 'KILL', 'TYPE', 'replica');
        await sleep(replicaLagMs);
      }
      // Without a lag: every write acknowledged before `beforeStop` is within this offset; once
      // the replica has processed it, only later writes can be missing from it.
      const masterOffset = infoField(
        String(await client(owner.port).info('replication')),
        'master_repl_offset',
      );
      const replicaOffset = async (): Promise<number> =>
        infoField(String(await client(replica.port).info('replication')), 'slave_repl_offset');
      if (replicaLagMs === 0) {
        await until(
          `the replica on port ${replica.port} to reach offset ${masterOffset}`,
          deadline,
          async () => (await replicaOffset()) >= masterOffset,
        );
      }
      const caughtUp = await replicaOffset();
      process.kill(pid, 'SIGSTOP');
      frozen.set(owner.port, pid);
      const running = (): number[] => allPorts().filter((port) => !frozen.has(port));
      // FORCE skips the handshake with the (frozen) master but still needs the votes of a
      // majority of masters: the two others answer (TAKEOVER, which needs no votes, is for a
      // minority side). A master votes for a replica of a given master at most once per
      // 2 × node timeout: a refused election makes the manual failover time out (5 s), and it is
      // asked again.
      let requests = 0;
      let askedAt = 0;
      try {
        await until(
          `the replica on port ${replica.port} to own slot ${slot}`,
          deadline,
          async () => {
            // Asked again only while it is still a replica (one that won meanwhile refuses).
            if (Date.now() - askedAt > MANUAL_FAILOVER_RETRY_MS) {
              askedAt = Date.now();
              const [role] = (await client(replica.port).role()) as [string];
              if (role === 'slave') {
                requests++;
                await client(replica.port).cluster('FAILOVER', 'FORCE');
              }
            }
            for (const port of running()) {
              const nodes = parseNodes(String(await client(port).cluster('NODES')));
              const seen = nodes.find((node) => node.master && owns(node, slot));
              if (seen?.id !== replica.id) return false;
            }
            return true;
          },
        );
      } catch (error) {
        thaw(owner.port);
        await reconnect(owner.port).catch(() => {});
        const views: string[] = [];
        for (const port of running()) {
          const view = await client(port)
            .cluster('NODES')
            .catch((cause: unknown) => `(no answer: ${String(cause)})`);
          views.push(`CLUSTER NODES of ${port}:\n${String(view)}`);
        }
        throw new Error(`${(error as Error).message}\n${views.join('\n')}`, { cause: error });
      }
      replacedAt.set(owner.id, Date.now());
      let resuming: Promise<void> | undefined;
      return {
        slot,
        promoted: replica.port,
        stopped: owner.port,
        masterOffset,
        replicaOffset: caughtUp,
        requests,
        resume() {
          resuming ??= (async () => {
            thaw(owner.port);
            await reconnect(owner.port);
            const resumeDeadline = Date.now() + timeoutMs;
            await until(
              `the old master on port ${owner.port} to learn it was demoted`,
              resumeDeadline,
              async () => {
                const nodes = parseNodes(String(await client(owner.port).cluster('NODES')));
                const myself = nodes.find((node) => node.myself);
                return myself !== undefined && !myself.master && myself.slots.length === 0;
              },
            );
          })();
          return resuming;
        },
      };
    },
    stop,
  };
}
