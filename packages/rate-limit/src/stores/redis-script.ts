/**
 * The Lua scripts behind Redis decisions: one EVALSHA reads the state of one or more keys, decides
 * with the server's clock (`TIME`), writes the new state and its expiry, and returns the state to
 * the caller, which reads the decision out of it exactly as it does for the memory store.
 *
 * One call decides the operations of several keys (the store batches the calls of one tick across
 * keys, and coalesces concurrent ones on one key): per key, in order, on the one state and at the
 * one `TIME`, exactly what they would get one after another. Each key's state is read once and
 * written once, whatever the number of its operations; `TIME` is read once per call, so the fixed
 * cost of a script call (the command, its parsing, its reply, the script's setup) is paid once
 * for the whole batch.
 *
 * One script per combination of algorithms (usually one algorithm), generated from the snippets
 * below, so a decision runs only its limits' code, written out per limit, with no dispatch: a
 * script's body runs afresh on every call, and Lua work is what a busy Redis spends its time on.
 *
 * The arithmetic mirrors `algorithms/*.ts` line for line (same operations in the same order, so the
 * same IEEE doubles come out); the store contract suite runs the same cases on both.
 *
 * KEYS: the keys' hashes; field `<intervalMs>.<i>` holds state number i of the limit with that
 * interval, so limits can be added or removed without misreading the others; with
 * `blockDurationMs`, field `block` holds the time the key is blocked until, and the block's length
 * follows the limits' constants in ARGV.
 * ARGV: the field names in state order, `limit intervalMs capacity` per limit, then per key (in
 * the order of KEYS) the number of its operations followed by the operations, each one of:
 * `<cost>` (consume `cost`, the common case, in one argument), `m <cost> <minCost>` (consume
 * `cost`, else at least `minCost`), `p <cost>` (peek), `r <cost> <takenAt>` (refund), `a <points>` (penalty when positive, reward
 * when negative; answered like a peek of cost 1 after it).
 * Returns: one string of space-separated fields (one bulk reply is far cheaper for both sides to
 * encode and decode than an array of many): the server time as `TIME` gave it (seconds,
 * microseconds), then per operation, in order, what it granted (0 nothing, 1 the cost, 2 minCost;
 * -1 for a peek that would grant) followed by the state after it, each number printed with 17
 * significant digits so that it reads back as the same double.
 */
import type { AlgorithmName } from '../algorithms/limit.js';

/** Lua snippets of one algorithm; `o` is the limit's state offset (0-based), `L` its limit table. */
interface LuaAlgorithm {
  size: number;
  fresh: string;
  advance: string;
  /** An expression: does cost `c` fit? */
  fits: string;
  take: string;
  giveBack: string;
  /** Changes the consumption by `c` (positive: penalty, negative: reward); see `Algorithm.adjust`. */
  adjust: string;
  /** Sets `idle` to the larger of itself and this limit's time to fresh. */
  idle: string;
}

const LUA: Record<AlgorithmName, LuaAlgorithm> = {
  gcra: {
    size: 1,
    fresh: 's[o + 1] = now',
    advance: 'if s[o + 1] < now then s[o + 1] = now end',
    fits: 's[o + 1] - now - (L.capacity - c) * L.emission <= TIME_EPS',
    take: 's[o + 1] = s[o + 1] + c * L.emission',
    giveBack: 's[o + 1] = math.max(now, s[o + 1] - c * L.emission)',
    adjust: `local moved = s[o + 1] + c * L.emission
    if c > 0 then s[o + 1] = math.max(s[o + 1], math.min(moved, now + L.capacity * L.emission))
    else s[o + 1] = math.max(now, moved) end`,
    idle: 'idle = math.max(idle, s[o + 1] - now)',
  },
  'token-bucket': {
    size: 2,
    fresh: 's[o + 1] = L.capacity; s[o + 2] = now',
    advance: `if now > s[o + 2] then
      s[o + 1] = math.min(s[o + 1] + (now - s[o + 2]) / L.emission, L.capacity)
      s[o + 2] = now
    end`,
    fits: 's[o + 1] >= c - EPS',
    take: 's[o + 1] = s[o + 1] - c',
    giveBack: 's[o + 1] = math.min(L.capacity, s[o + 1] + c)',
    adjust: `local tokens = s[o + 1] - c
    if c > 0 then s[o + 1] = math.max(0, tokens) else s[o + 1] = math.min(L.capacity, tokens) end`,
    idle: 'idle = math.max(idle, (L.capacity - s[o + 1]) * L.emission)',
  },
  'fixed-window': {
    size: 2,
    fresh: 's[o + 1] = math.floor(now / L.interval); s[o + 2] = 0',
    advance: `local w = math.floor(now / L.interval)
    if w > s[o + 1] then s[o + 1] = w; s[o + 2] = 0 end`,
    fits: 's[o + 2] + c <= L.capacity + EPS',
    take: 's[o + 2] = s[o + 2] + c',
    giveBack: `if math.floor(takenAt / L.interval) == s[o + 1] then s[o + 2] = math.max(0, s[o + 2] - c) end`,
    adjust: `local moved = s[o + 2] + c
    if c > 0 then s[o + 2] = math.max(s[o + 2], math.min(L.capacity, moved)) else s[o + 2] = math.max(0, moved) end`,
    idle: 'if s[o + 2] > 0 then idle = math.max(idle, (s[o + 1] + 1) * L.interval - now) end',
  },
  'sliding-window': {
    size: 3,
    fresh: 's[o + 1] = math.floor(now / L.interval); s[o + 2] = 0; s[o + 3] = 0',
    advance: `local w = math.floor(now / L.interval)
    local stored = s[o + 1]
    if w > stored then
      if w == stored + 1 then s[o + 3] = s[o + 2] else s[o + 3] = 0 end
      s[o + 2] = 0
      s[o + 1] = w
    end`,
    // The previous window's share: the largest whole number strictly below the weighted count.
    fits: '(previousShare(s[o + 3], now - s[o + 1] * L.interval, L.interval) + s[o + 2] + c <= L.capacity + EPS)',
    take: 's[o + 2] = s[o + 2] + c',
    giveBack: `local takenIn = math.floor(takenAt / L.interval)
    if takenIn == s[o + 1] then s[o + 2] = math.max(0, s[o + 2] - c)
    elseif takenIn == s[o + 1] - 1 then s[o + 3] = math.max(0, s[o + 3] - c) end`,
    adjust: `local current = s[o + 2]
    if c > 0 then s[o + 2] = math.max(current, math.min(L.capacity, current + c))
    else
      local fromCurrent = math.min(current, -c)
      s[o + 2] = current - fromCurrent
      s[o + 3] = math.max(0, s[o + 3] - (-c - fromCurrent))
    end`,
    idle: `local start = s[o + 1] * L.interval
    if s[o + 2] > 0 then idle = math.max(idle, start + L.interval + math.max(0, L.interval - L.interval / s[o + 2]) - now)
    elseif s[o + 3] > 0 then idle = math.max(idle, start + L.interval - L.interval / s[o + 3] - now) end`,
  },
};

const PREVIOUS_SHARE = `
local function previousShare(previous, elapsed, interval)
  if previous <= 0 then return 0 end
  local share = (previous * (interval - elapsed)) / interval
  if share <= EPS then return 0 end
  return math.ceil(share - EPS) - 1
end
`;

/**
 * The Lua source of the script for limits metered by `algorithms` (one per limit, in order). The
 * code of each limit is written out with its own algorithm and a constant state offset: no loop,
 * no dispatch at run time.
 */
export function rateLimitLua(algorithms: readonly AlgorithmName[], block = false): string {
  const n = algorithms.length;
  let offset = 0;
  const perLimit = algorithms.map((name, index) => {
    const code = { ...LUA[name], o: offset, i: index + 1 };
    offset += LUA[name].size;
    return code;
  });
  // With `blockDurationMs`, one more state number: the time the key is blocked until (field
  // `block`, the last field name), and one more constant argument: the block's length.
  const nf = offset + (block ? 1 : 0);
  /** The snippet `pick` of every limit, each in a block with its `o` and `L`. */
  const each = (pick: (a: LuaAlgorithm) => string) =>
    perLimit
      .map((a) => `do\n  local o = ${a.o}\n  local L = limits[${a.i}]\n  ${pick(a)}\nend`)
      .join('\n');
  const fitsAll = perLimit
    .map(
      (a) =>
        `do\n    local o = ${a.o}\n    local L = limits[${a.i}]\n    if not (${a.fits}) then return false end\n  end`,
    )
    .join('\n  ');
  const sliding = algorithms.includes('sliding-window');
  const first = nf + 3 * n + 1 + (block ? 1 : 0);
  const blocked = block ? `s[${nf}] > now` : 'false';
  return `local EPS = 1e-9
local TIME_EPS = 1e-3
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
${sliding ? PREVIOUS_SHARE : ''}
${block ? `local BLOCK = tonumber(ARGV[${nf + 3 * n + 1}])` : ''}
local limits = {}
for i = 1, ${n} do
  local base = ${nf} + (i - 1) * 3
  local interval = tonumber(ARGV[base + 2])
  local limit = tonumber(ARGV[base + 1])
  limits[i] = { interval = interval, capacity = tonumber(ARGV[base + 3]), emission = interval / limit }
end

-- The state of the key being decided; every key overwrites all of it.
local s = {}

local function fitsAll(c)
  ${fitsAll}
  return true
end

local out = { time[1], time[2] }
local n = 2
local a = ${first}
for k = 1, #KEYS do
  local key = KEYS[k]
  local count = tonumber(ARGV[a])
  a = a + 1
  local raw = redis.call('HMGET', key, unpack(ARGV, 1, ${nf}))
  local existed = false
  ${each(
    (a) => `if raw[o + 1] then
    existed = true
    for j = 1, ${a.size} do s[o + j] = tonumber(raw[o + j]) end
  else
    ${a.fresh}
  end
  ${a.advance}`,
  )}
  ${block ? `if raw[${nf}] then s[${nf}] = tonumber(raw[${nf}]) else s[${nf}] = 0 end` : ''}

  -- The key's decisions, in order, on its one state: as if each ran alone at the same server time.
  local write = false
  for _ = 1, count do
    local op = ARGV[a]
    -- granted as a code: 0 none, 1 cost, 2 minCost; negated for a peek.
    local code = 0
    if op == 'p' then
      if not (${blocked}) and fitsAll(tonumber(ARGV[a + 1])) then code = -1 end
      a = a + 2
    elseif op == 'a' then
      local c = tonumber(ARGV[a + 1])
      a = a + 2
      ${each((a) => a.adjust)}
      if not (${blocked}) and fitsAll(1) then code = -1 end
      write = true
    elseif op == 'r' then
      local c = tonumber(ARGV[a + 1])
      local takenAt = tonumber(ARGV[a + 2])
      a = a + 3
      ${each((a) => a.giveBack)}
      write = true
    else
      local cost, minCost
      if op == 'm' then
        cost = tonumber(ARGV[a + 1])
        minCost = tonumber(ARGV[a + 2])
        a = a + 3
      else
        cost = tonumber(op)
        minCost = cost
        a = a + 1
      end
      if ${blocked} then
        -- Blocked: denied, nothing changes.
      elseif fitsAll(cost) then code = 1 elseif minCost < cost and fitsAll(minCost) then code = 2
      ${
        block
          ? `else
        s[${nf}] = now + BLOCK
        write = true`
          : ''
      }
      end
      if code > 0 then
        local c = cost
        if code == 2 then c = minCost end
        ${each((a) => a.take)}
        write = true
      end
    end
    out[n + 1] = code
    -- Printed exactly: Redis would truncate Lua numbers to integers, and the reply is one string.
    for j = 1, ${nf} do out[n + 1 + j] = string.format('%.17g', s[j]) end
    n = n + 1 + ${nf}
  end

  if write then
    local idle = 0
    ${each((a) => a.idle)}
    ${block ? `idle = math.max(idle, s[${nf}] - now)` : ''}
    if idle <= 0 then
      -- Back to fresh: the key is not needed (and a missing one costs no DEL).
      if existed then redis.call('DEL', key) end
    else
      -- The last decision's text is the final state, already formatted.
      local args = {}
      for j = 1, ${nf} do
        args[2 * j - 1] = ARGV[j]
        args[2 * j] = out[n - ${nf} + j]
      end
      redis.call('HSET', key, unpack(args))
      redis.call('PEXPIRE', key, math.ceil(idle))
    end
  end
end
return table.concat(out, ' ')
`;
}
