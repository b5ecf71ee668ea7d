// The replica registry across processes: replica processes (testkit's fleet harness) sharing one
// Redis or one DynamoDB (dynalite) count each other as they join and as one is SIGKILLed, and a
// `{ perReplica }` limit follows the count — in what each replica reports and in what the fleet
// admits.
import { fileURLToPath } from 'node:url';
import {
  describeWithDynamo,
  describeWithRedis,
  dynamoFixture,
  type ReplicaHandle,
  redisClientEnv,
  redisFixture,
  spawnReplica,
} from '@breakwater/testkit';
import { afterAll, describe, expect, it } from 'vitest';

const memberScript = fileURLToPath(new URL('./fleet-scripts/member.ts', import.meta.url));

/** The members' `replicaRenewIntervalMs` and `replicaTtlMs` (fleet-scripts/member.ts). */
const RENEW_MS = 200;
const TTL_MS = 1000;
/** Each member's part of the fleet's limit, per minute (fleet-scripts/member.ts). */
const PER_REPLICA = 20;
/** Room for a loaded 2-core machine running four tsx processes on top of the bounds below. */
const SLACK_MS = 500;

/** Resolves once every replica printed `line` (from now on). */
function allSay(replicas: ReplicaHandle[], line: string, timeoutMs: number): Promise<unknown> {
  return Promise.all(replicas.map((replica) => replica.waitForMessage(line, timeoutMs)));
}

/** Sends `burst <key> <n>` to every replica and sums what they were admitted. */
async function burst(replicas: ReplicaHandle[], key: string, n: number): Promise<number> {
  // The members' window is the aligned minute: start well inside one, so the burst stays in it.
  const intoMinute = Date.now() % 60_000;
  if (intoMinute > 50_000) await new Promise((r) => setTimeout(r, 60_500 - intoMinute));
  const answers = replicas.map((replica) =>
    replica.waitForMessage((line) => line.startsWith(`burst ${key} `), 20_000),
  );
  for (const replica of replicas) replica.send(`burst ${key} ${n}`);
  const lines = await Promise.all(answers);
  return lines.reduce((sum, line) => sum + Number(line.split('admitted=')[1]), 0);
}

function membership(env: () => Record<string, string>, checkAdmissions: boolean): void {
  const spawned: ReplicaHandle[] = [];
  afterAll(() => {
    for (const replica of spawned) replica.kill('SIGKILL');
  });

  function member(): ReplicaHandle {
    const replica = spawnReplica({
      script: memberScript,
      stdin: true,
      timeoutMs: 90_000,
      env: { ...env(), PER_REPLICA: String(PER_REPLICA) },
    });
    spawned.push(replica);
    return replica;
  }

  it('a join and a SIGKILL reach every replica within the TTL, and perReplica limits follow N', async () => {
    const fleet = [member(), member(), member()];
    await allSay(fleet, `limit=${3 * PER_REPLICA}`, 20_000);

    // A fourth joins: every replica counts it at its next heartbeat after the joiner's first.
    const othersSee = allSay(fleet, 'count=4', 25_000);
    const othersFollow = allSay(fleet, `limit=${4 * PER_REPLICA}`, 25_000);
    const joiner = member();
    const joinerFollows = joiner.waitForMessage(`limit=${4 * PER_REPLICA}`, 20_000);
    await joiner.waitForMessage('count=4', 20_000);
    const started = performance.now();
    await othersSee;
    const joinMs = performance.now() - started;
    await Promise.all([othersFollow, joinerFollows]);
    const four = [...fleet, joiner];
    if (checkAdmissions) expect(await burst(four, 'with-four', 40)).toBe(4 * PER_REPLICA);

    // SIGKILL: no goodbye; the others stop counting it once its last heartbeat runs out.
    const survivors = four.slice(1);
    const seen = allSay(survivors, `limit=${3 * PER_REPLICA}`, 10_000);
    const killedAt = performance.now();
    four[0]!.kill('SIGKILL');
    await seen;
    const leaveMs = performance.now() - killedAt;
    console.info(
      `fleet/per-replica (${checkAdmissions ? 'redis' : 'dynamodb'}): join seen in ${joinMs.toFixed(0)} ms, SIGKILL in ${leaveMs.toFixed(0)} ms`,
    );
    // A join: within one renew interval of the joiner's first heartbeat. A SIGKILL: within the
    // TTL after its last heartbeat, plus the renew interval of the replica that notices.
    expect(joinMs).toBeLessThan(RENEW_MS + SLACK_MS);
    expect(leaveMs).toBeLessThan(TTL_MS + RENEW_MS + SLACK_MS);
    if (checkAdmissions) expect(await burst(survivors, 'with-three', 40)).toBe(3 * PER_REPLICA);

    for (const replica of survivors) replica.endInput();
    for (const replica of survivors) expect((await replica.result).exitCode).toBe(0);
  }, 120_000);
}

describeWithRedis('fleet: limit { perReplica } on Redis, 4 replica processes', () => {
  const redis = redisFixture();
  // The replicas' client library: ioredis, then node-redis.
  for (const kind of ['ioredis', 'node-redis'] as const) {
    describe(kind, () => {
      const prefix = `${redis.prefix}:per-replica:${kind}`;
      membership(() => ({ ...redisClientEnv(kind, { url: redis.url }), PREFIX: prefix }), true);
    });
  }
});

describeWithDynamo(
  'fleet: limit { perReplica } on DynamoDB (dynalite), 4 replica processes',
  () => {
    const dynamo = dynamoFixture();
    membership(
      () => ({
        DYNAMO_ENDPOINT: dynamo.endpoint,
        DYNAMO_TABLE: dynamo.tableName,
        PREFIX: `${dynamo.prefix}:per-replica`,
      }),
      false,
    );
  },
);
