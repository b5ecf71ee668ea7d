/**
 * The Redis write-behind queue, for a single node or a Cluster (an ioredis or iovalkey `Redis` or
 * `Cluster`, or a node-redis client or Cluster, through core's client adapter; Redis ≥ 7.0 for
 * XAUTOCLAIM's report of deleted entries).
 *
 * Keys of one write-behind name (`<prefix>:write-behind:{<name>:}:<part>`, one hash tag, so one
 * Cluster slot and every operation is one script):
 *
 * - `stream`: a Redis Stream holding exactly the pending entries (fields `key`, `payload`,
 *   `version`; the entry id's milliseconds are its `enqueuedAt`), read through one consumer group.
 *   Completed and dead-lettered entries are XACKed and XDELed in the same script, so `XLEN` is the
 *   pending count and nothing is ever removed that the group has not acknowledged.
 * - `versions`: a hash, user key → last version handed out, while the key has entries.
 * - `attempts`: a hash, entry id → failed attempts, for entries that failed at least once.
 * - `dead`: a Stream of dead letters (fields `key`, `payload`, `version`, `attempts`, `error`,
 *   `entry`; the id's milliseconds are `failedAt`).
 * - `sweep`: a short-lived marker that spaces out the removal of idle consumers.
 *
 * Round trips: `append`, `appendMany` (any number of writes), `claim`, `touch`, `complete`, `fail`
 * and `backlog` are one EVALSHA each (with `durability: 'wait'`, an append is one pipeline of the
 * EVALSHA and a `WAIT` sent back to back: see redis-wait.ts);
 * `pending` is one XLEN, `listDeadLetters` one XRANGE, `deleteDeadLetters` one XDEL. The probe
 * the write-behind runs while the queue is degraded is core's `redisProbe` on the stream key (a
 * `return 1` script, so a Cluster asks the node that owns the name's slot).
 */
import { expectInteger } from '@breakwater/core';
import {
  defineScript,
  type KeyBuilder,
  keyBuilder,
  type RedisConnection,
  redisProbe,
} from '@breakwater/core/redis';
import { WriteBehindBacklogError } from './errors.js';
import type {
  AppendItem,
  AppendOptions,
  AppendOutcome,
  DeadLetter,
  FailOutcome,
  QueuedWrite,
  WriteBehindQueue,
  WriteQueueScope,
} from './queue.js';
import {
  type RedisWriteBehindQueueOptions,
  resolveRedisQueueOptions,
  type WaitSettings,
  waitSettingsFor,
} from './redis-queue-options.js';
import { runAndWait } from './redis-wait.js';

export type {
  RedisWriteBehindDurability,
  RedisWriteBehindQueueOptions,
} from './redis-queue-options.js';

const MAX_SWEEP_INTERVAL_MS = 60_000;
const MAX_CLAIM = 1_000_000_000;
const PATTERN = 'write-behind';
const PARTS = ['stream', 'versions', 'attempts', 'dead', 'sweep'] as const;

/**
 * A durable Redis queue for {@link "@breakwater/cache"!writeBehind}: a Redis Stream per
 * write-behind name, read by every replica through one consumer group. An entry stays in Redis
 * until it is persisted or dead-lettered, whatever happens to the process that appended or
 * claimed it. With `durability: 'wait'`, a write is acknowledged only once `WAIT` confirmed that
 * `waitReplicas` replicas received it, so a failover to one of them loses nothing acknowledged.
 *
 * @example
 * const client = new Redis(process.env.REDIS_URL);
 * const wb = writeBehind({ name: 'profiles', queue: redisWriteBehindQueue({ client }), persist });
 * @throws {TypeError | RangeError} naming the option and the value received, for bad options.
 */
export function redisWriteBehindQueue(options: RedisWriteBehindQueueOptions): WriteBehindQueue {
  const resolved = resolveRedisQueueOptions(options);
  const { redis, prefix, group, idleConsumerMs } = resolved;
  // The client is yours and the queue opens no connection of its own: nothing to release.
  const close = (): Promise<void> => Promise.resolve();
  return {
    kind: 'redis',
    scope: (name, context) => {
      const keys = keyBuilder({ prefix, pattern: PATTERN, name });
      const wait = waitSettingsFor(resolved, context);
      return new RedisWriteQueue(redis, keys, group, idleConsumerMs, wait);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** `<ms>-<seq>`: what XADD `*` generates. Other ids cannot be ours, and Redis would reject them. */
const STREAM_ID = /^\d{1,20}-\d{1,20}$/;

// Lua helpers shared by the scripts. Versions are µs since 1970 (< 2^53, exact in a Lua double)
// and travel as decimal strings formatted with %.0f (tostring would print 1.7e+15).
const HELPERS = `
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function field(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return false
end
local function is_nogroup(reply)
  return type(reply) == 'table' and reply.err ~= nil and string.find(reply.err, 'NOGROUP', 1, true) ~= nil
end
-- Forget a key's version once its newest entry is gone and the server clock has passed it:
-- later versions start from the clock again, so they keep growing and the hash stays small.
local function forget_version(versions, key, version, now)
  local last = redis.call('HGET', versions, key)
  if last and tonumber(last) == tonumber(version) and tonumber(version) < now then
    redis.call('HDEL', versions, key)
  end
end
-- Removes an entry for good: acknowledged first, then deleted, so the stream only ever loses
-- what the group acknowledged. A missing group (stream recreated) leaves nothing to acknowledge.
local function remove_entry(stream, group, attempts, id)
  redis.pcall('XACK', stream, group, id)
  redis.call('XDEL', stream, id)
  redis.call('HDEL', attempts, id)
end
`;

/**
 * KEYS: stream, versions. ARGV: user key, payload, version ('' = assign), maxPending ('' = none).
 * Returns the version, or false when the queue is full.
 */
const APPEND_SCRIPT = defineScript<string | null>({
  name: 'write-behind.append',
  keys: 2,
  lua: `
if ARGV[4] ~= '' and redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[4]) then return false end
local last = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
local version
if ARGV[3] == '' then
  local t = redis.call('TIME')
  version = math.max(last + 1, tonumber(t[1]) * 1000000 + tonumber(t[2]))
else
  version = tonumber(ARGV[3])
end
local text = ARGV[3]
if text == '' then text = string.format('%.0f', version) end
if version > last then redis.call('HSET', KEYS[2], ARGV[1], text) end
redis.call('XADD', KEYS[1], '*', 'key', ARGV[1], 'payload', ARGV[2], 'version', text)
return text
`,
});

/**
 * KEYS: stream, versions. ARGV: maxPending ('' = none), then (user key, payload, version ('' =
 * assign)) per item. Returns per item its version, or false when the queue was full at its turn.
 * The pending count is read once and counted up locally: the script runs alone, so it stays exact.
 */
const APPEND_MANY_SCRIPT = defineScript<(string | null)[]>({
  name: 'write-behind.append-many',
  keys: 2,
  lua: `
local stream, versions = KEYS[1], KEYS[2]
local limit = tonumber(ARGV[1])
local length = 0
if limit then length = redis.call('XLEN', stream) end
local now
local out = {}
for i = 2, #ARGV - 2, 3 do
  if limit and length >= limit then
    out[#out + 1] = false
  else
    local key, text = ARGV[i], ARGV[i + 2]
    local last = tonumber(redis.call('HGET', versions, key) or '0')
    local version
    if text == '' then
      if not now then
        local t = redis.call('TIME')
        now = tonumber(t[1]) * 1000000 + tonumber(t[2])
      end
      version = math.max(last + 1, now)
      text = string.format('%.0f', version)
    else
      version = tonumber(text)
    end
    if version > last then redis.call('HSET', versions, key, text) end
    redis.call('XADD', stream, '*', 'key', key, 'payload', ARGV[i + 1], 'version', text)
    length = length + 1
    out[#out + 1] = text
  end
end
return out
`,
});

/**
 * KEYS: stream, attempts, sweep. ARGV: group, consumer, max, claimIdleMs ('' = no re-claims),
 * idleConsumerMs, sweep interval ms. Returns `[id, key, payload, version, attempts]…` flattened.
 */
const CLAIM_SCRIPT = defineScript<string[]>({
  name: 'write-behind.claim',
  keys: 3,
  lua: `${HELPERS}
local stream, attempts, group, consumer = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local max = tonumber(ARGV[3])
if redis.call('EXISTS', stream) == 0 then return {} end
local ids, entries = {}, {}
local function take(entry)
  ids[#ids + 1] = entry[1]
  entries[#entries + 1] = entry
end
local function create_group()
  -- From 0: the stream holds exactly the entries no one completed, so all of them are due.
  redis.pcall('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')
end
local grouped = true
if ARGV[4] ~= '' then
  local cursor = '0-0'
  repeat
    local reply = redis.pcall('XAUTOCLAIM', stream, group, consumer, ARGV[4], cursor, 'COUNT', max - #ids)
    if is_nogroup(reply) then
      create_group()
      grouped = false
      break
    end
    if reply.err then return reply end
    cursor = reply[1]
    local claimed = reply[2]
    for i = 1, #claimed do
      if claimed[i] then take(claimed[i]) end
    end
    -- Ids whose entry was deleted behind our back: XAUTOCLAIM dropped them from the group.
    local deleted = reply[3]
    if deleted then
      for i = 1, #deleted do redis.call('HDEL', attempts, deleted[i]) end
    end
  until cursor == '0-0' or #ids >= max
end
if #ids < max then
  local reply = redis.pcall('XREADGROUP', 'GROUP', group, consumer, 'COUNT', max - #ids, 'STREAMS', stream, '>')
  if grouped and is_nogroup(reply) then
    create_group()
    reply = redis.pcall('XREADGROUP', 'GROUP', group, consumer, 'COUNT', max - #ids, 'STREAMS', stream, '>')
  end
  if type(reply) == 'table' then
    if reply.err then return reply end
    local fresh = reply[1][2]
    for i = 1, #fresh do take(fresh[i]) end
  end
end
if ARGV[6] ~= '' and redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[6]) then
  local consumers = redis.pcall('XINFO', 'CONSUMERS', stream, group)
  if type(consumers) == 'table' and not consumers.err then
    local idle_limit = tonumber(ARGV[5])
    for i = 1, #consumers do
      local info = consumers[i]
      local name = field(info, 'name')
      if name ~= consumer and tonumber(field(info, 'pending')) == 0 and tonumber(field(info, 'idle')) >= idle_limit then
        redis.call('XGROUP', 'DELCONSUMER', stream, group, name)
      end
    end
  end
end
if #ids == 0 then return {} end
-- HMGET in slices: unpack() is limited by the Lua stack.
local counts = {}
for first = 1, #ids, 1000 do
  local slice = redis.call('HMGET', attempts, unpack(ids, first, math.min(first + 999, #ids)))
  for i = 1, #slice do counts[first + i - 1] = slice[i] end
end
local out = {}
for i = 1, #entries do
  local fields = entries[i][2]
  out[#out + 1] = ids[i]
  out[#out + 1] = field(fields, 'key') or ''
  out[#out + 1] = field(fields, 'payload') or ''
  out[#out + 1] = field(fields, 'version') or '0'
  out[#out + 1] = counts[i] or '0'
end
return out
`,
});

/**
 * KEYS: stream. Returns `{pending}` or `{pending, oldest id}`. The stream holds exactly the pending
 * entries, so its first entry is the oldest of them; only its id crosses the wire.
 */
const BACKLOG_SCRIPT = defineScript<[number, string?]>({
  name: 'write-behind.backlog',
  keys: 1,
  lua: `
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if #first == 0 then return {0} end
return {redis.call('XLEN', KEYS[1]), first[1][1]}
`,
});

/** KEYS: stream. ARGV: group, consumer, ids…. Re-claims (idle 0) the ids `consumer` holds. */
const TOUCH_SCRIPT = defineScript<number>({
  name: 'write-behind.touch',
  keys: 1,
  lua: `
local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local touched = 0
for i = 3, #ARGV do
  local held = redis.pcall('XPENDING', stream, group, ARGV[i], ARGV[i], 1, consumer)
  if held.err then return touched end
  if #held > 0 then
    redis.call('XCLAIM', stream, group, consumer, 0, ARGV[i], 'JUSTID')
    touched = touched + 1
  end
end
return touched
`,
});

/** KEYS: stream, versions, attempts. ARGV: group, ids…. Removes the entries for good. */
const COMPLETE_SCRIPT = defineScript<number>({
  name: 'write-behind.complete',
  keys: 3,
  lua: `${HELPERS}
local stream, versions, attempts, group = KEYS[1], KEYS[2], KEYS[3], ARGV[1]
local now = now_us()
local removed = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  local found = redis.call('XRANGE', stream, id, id)
  if #found > 0 then
    local fields = found[1][2]
    remove_entry(stream, group, attempts, id)
    forget_version(versions, field(fields, 'key'), field(fields, 'version'), now)
    removed = removed + 1
  else
    -- Not in the stream: drop whatever a lost race left in the group or the attempts.
    redis.pcall('XACK', stream, group, id)
    redis.call('HDEL', attempts, id)
  end
end
return removed
`,
});

/**
 * KEYS: stream, versions, attempts, dead. ARGV: group, id, error, maxAttempts ('' = never).
 * Returns `{'retry', attempts}`, `{'dead', attempts, deadLetterId}` or `{'gone'}`.
 */
const FAIL_SCRIPT = defineScript<[string, number?, string?]>({
  name: 'write-behind.fail',
  keys: 4,
  lua: `${HELPERS}
local stream, versions, attempts, dead, group, id = KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2]
local found = redis.call('XRANGE', stream, id, id)
if #found == 0 then
  redis.call('HDEL', attempts, id)
  return {'gone'}
end
local count = redis.call('HINCRBY', attempts, id, 1)
if ARGV[4] == '' or count < tonumber(ARGV[4]) then return {'retry', count} end
local fields = found[1][2]
local key, version = field(fields, 'key'), field(fields, 'version')
local letter = redis.call('XADD', dead, '*', 'key', key, 'payload', field(fields, 'payload'),
  'version', version, 'attempts', count, 'error', ARGV[3], 'entry', id)
remove_entry(stream, group, attempts, id)
forget_version(versions, key, version, now_us())
return {'dead', count, letter}
`,
});

class RedisWriteQueue implements WriteQueueScope {
  /** A `return 1` script on the stream key: the node that owns the name's slot answers. */
  readonly probe: () => Promise<number>;
  private readonly stream: string;
  private readonly appendKeys: string[];
  private readonly claimKeys: string[];
  /** Just the stream: touch and backlog. */
  private readonly touchKeys: string[];
  private readonly completeKeys: string[];
  private readonly failKeys: string[];
  private readonly dead: string;
  private readonly claimTail: string[];

  /** With `durability: 'wait'`, the `WAIT` every append ends with. */
  private readonly waitTarget: { name: string; wait: WaitSettings } | undefined;

  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: KeyBuilder,
    private readonly group: string,
    idleConsumerMs: number,
    wait: WaitSettings | undefined,
  ) {
    this.waitTarget = wait === undefined ? undefined : { name: keys.name, wait };
    const [stream, versions, attempts, dead, sweep] = keys.redisKeys('', PARTS) as [
      string,
      string,
      string,
      string,
      string,
    ];
    this.stream = stream;
    this.dead = dead;
    this.probe = redisProbe(redis, stream);
    this.appendKeys = [stream, versions];
    this.claimKeys = [stream, attempts, sweep];
    this.touchKeys = [stream];
    this.completeKeys = [stream, versions, attempts];
    this.failKeys = [stream, versions, attempts, dead];
    this.claimTail = [
      String(idleConsumerMs),
      String(Math.min(idleConsumerMs, MAX_SWEEP_INTERVAL_MS)),
    ];
  }

  async append(key: string, payload: string, options: AppendOptions): Promise<number> {
    const version = options.version;
    if (version !== undefined) expectInteger('version', version, 0);
    const maxPending = options.maxPending;
    const args = [
      key,
      payload,
      version === undefined ? '' : String(version),
      Number.isFinite(maxPending) ? String(maxPending) : '',
    ];
    const result =
      this.waitTarget === undefined
        ? await APPEND_SCRIPT.run(this.redis, this.appendKeys, args)
        : await runAndWait(
            this.redis,
            APPEND_SCRIPT,
            this.appendKeys,
            args,
            this.waitTarget,
            isVersion,
          );
    if (!isVersion(result)) {
      throw new WriteBehindBacklogError({ policyName: this.keys.name, maxPending });
    }
    return version ?? Number(result);
  }

  async appendMany(items: readonly AppendItem[], maxPending: number): Promise<AppendOutcome[]> {
    if (items.length === 0) return [];
    const args: string[] = [Number.isFinite(maxPending) ? String(maxPending) : ''];
    for (const { key, payload, version } of items) {
      if (version !== undefined) expectInteger('version', version, 0);
      args.push(key, payload, version === undefined ? '' : String(version));
    }
    const reply =
      this.waitTarget === undefined
        ? await APPEND_MANY_SCRIPT.run(this.redis, this.appendKeys, args)
        : await runAndWait(
            this.redis,
            APPEND_MANY_SCRIPT,
            this.appendKeys,
            args,
            this.waitTarget,
            (outcomes) => outcomes.some(isVersion),
          );
    const outcomes: AppendOutcome[] = new Array(items.length);
    for (let i = 0; i < items.length; i++) {
      const text = reply[i];
      outcomes[i] = isVersion(text)
        ? (items[i]!.version ?? Number(text))
        : new WriteBehindBacklogError({ policyName: this.keys.name, maxPending });
    }
    return outcomes;
  }

  async claim(consumer: string, max: number, claimIdleMs: number): Promise<QueuedWrite[]> {
    // COUNT 0 would mean "no limit" to XREADGROUP.
    if (!(max >= 1)) return [];
    // Lua prints numbers past 1e14 in exponent form; no claim needs more than this anyway.
    const count = Math.min(Math.floor(max), MAX_CLAIM);
    const reply = await CLAIM_SCRIPT.run(this.redis, this.claimKeys, [
      this.group,
      consumer,
      String(count),
      Number.isFinite(claimIdleMs) ? String(Math.max(0, Math.ceil(claimIdleMs))) : '',
      ...this.claimTail,
    ]);
    const entries: QueuedWrite[] = [];
    for (let i = 0; i + 4 < reply.length; i += 5) {
      const id = reply[i]!;
      entries.push({
        id,
        key: reply[i + 1]!,
        payload: reply[i + 2]!,
        version: Number(reply[i + 3]),
        attempts: Number(reply[i + 4]),
        enqueuedAt: idMillis(id),
      });
    }
    return entries;
  }

  async touch(consumer: string, ids: readonly string[]): Promise<void> {
    const valid = ids.filter(isStreamId);
    if (valid.length === 0) return;
    await TOUCH_SCRIPT.run(this.redis, this.touchKeys, [this.group, consumer, ...valid]);
  }

  async complete(ids: readonly string[]): Promise<void> {
    const valid = ids.filter(isStreamId);
    if (valid.length === 0) return;
    await COMPLETE_SCRIPT.run(this.redis, this.completeKeys, [this.group, ...valid]);
  }

  async fail(entry: QueuedWrite, error: string, maxAttempts: number): Promise<FailOutcome> {
    if (!isStreamId(entry.id)) return { status: 'gone' };
    const [status, attempts] = await FAIL_SCRIPT.run(this.redis, this.failKeys, [
      this.group,
      entry.id,
      error,
      Number.isFinite(maxAttempts) ? String(maxAttempts) : '',
    ]);
    if (status === 'gone') return { status };
    return { status: status === 'dead' ? 'dead' : 'retry', attempts: Number(attempts) };
  }

  async pending(): Promise<number> {
    return Number(await this.redis.send('XLEN', [this.stream], this.stream));
  }

  async backlog(): Promise<{ pending: number; oldestEnqueuedAt: number | undefined }> {
    const [pending, oldest] = await BACKLOG_SCRIPT.run(this.redis, this.touchKeys);
    return { pending, oldestEnqueuedAt: oldest === undefined ? undefined : idMillis(oldest) };
  }

  async listDeadLetters(limit: number, after?: string | undefined): Promise<DeadLetter[]> {
    if (after !== undefined && !isStreamId(after)) {
      throw new RangeError(
        `Expected \`after\` to be the id of a dead letter, got ${JSON.stringify(after)}`,
      );
    }
    if (!(limit >= 1)) return [];
    const count = Number.isFinite(limit) ? Math.floor(limit) : Number.MAX_SAFE_INTEGER;
    const rows = (await this.redis.send(
      'XRANGE',
      [this.dead, after === undefined ? '-' : `(${after}`, '+', 'COUNT', count],
      this.dead,
    )) as [string, unknown][];
    return rows.map(([id, fields]) => toDeadLetter(id, fields));
  }

  async deleteDeadLetters(ids: readonly string[]): Promise<number> {
    const valid = ids.filter(isStreamId);
    if (valid.length === 0) return 0;
    return Number(await this.redis.send('XDEL', [this.dead, ...valid], this.dead));
  }
}

/**
 * Whether an append script's answer for one write is its version: a full queue answers Lua
 * `false`, which both libraries decode as `null` (over RESP2 and RESP3 alike).
 */
function isVersion(reply: string | null | undefined): reply is string {
  return typeof reply === 'string';
}

function isStreamId(id: unknown): id is string {
  return typeof id === 'string' && STREAM_ID.test(id);
}

/** The milliseconds part of a stream id: the server time when XADD generated it. */
function idMillis(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}

/** An XRANGE row: its fields are a flat `[name, value, …]` array (RESP2 and RESP3 alike). */
function toDeadLetter(id: string, fields: unknown): DeadLetter {
  const values: Record<string, string> = {};
  const flat = Array.isArray(fields) ? (fields as unknown[]) : [];
  for (let i = 0; i + 1 < flat.length; i += 2) values[String(flat[i])] = String(flat[i + 1]);
  return {
    id,
    key: values.key ?? '',
    payload: values.payload ?? '',
    version: Number(values.version),
    attempts: Number(values.attempts),
    error: values.error ?? '',
    failedAt: idMillis(id),
  };
}
