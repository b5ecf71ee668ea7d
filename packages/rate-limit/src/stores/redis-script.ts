/**
 * The Lua scripts behind Redis decisions: one EVALSHA reads the key's state, decides with the
 * server's clock (`TIME`), writes the new state and its expiry, and returns the state to the
 * caller, which reads the decision out of it exactly as it does for the memory store.
 *
 * One call decides one or more operations on the key (the store coalesces concurrent ones), in
 * order, on the one state and at the one `TIME`: exactly what they would get one after another. The
 * state is read once and written once, whatever the number of operations.
 *
 * One script per combination of algorithms (usually one algorithm), generated from the snippets
 * below, so a decision runs only its limits' code, written out per limit, with no dispatch: a
 * script's body runs afresh on every call, and Lua work is what a busy Redis spends its time on.
 *
 * The arithmetic mirrors `algorithms/*.ts` line for line (same operations in the same order, so the
 * same IEEE doubles come out); the store contract suite runs the same cases on both.
 *
 * KEYS[1]: the key's hash; field `<intervalMs>.<i>` holds state number i of the limit with that
 * interval, so limits can be added or removed without misreading the others.
 * ARGV: the field names in state order, `limit intervalMs capacity` per limit, then per operation
 * `mode cost minCost takenAt` (mode `c` consume, `p` peek, `r` refund).
 * Returns: the server time as `TIME` gave it (seconds, microseconds), then per operation what it
 * granted (0 nothing, 1 the cost, 2 minCost; -1 for a peek that would grant) followed by the state
 * after it as strings (Redis would truncate Lua numbers to integers).
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
export function rateLimitLua(algorithms: readonly AlgorithmName[]): string {
  const n = algorithms.length;
  let offset = 0;
  const perLimit = algorithms.map((name, index) => {
    const code = { ...LUA[name], o: offset, i: index + 1 };
    offset += LUA[name].size;
    return code;
  });
  const nf = offset;
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
  const first = nf + 3 * n + 1;
  return `local EPS = 1e-9
local TIME_EPS = 1e-3
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
${sliding ? PREVIOUS_SHARE : ''}
local limits = {}
for i = 1, ${n} do
  local base = ${nf} + (i - 1) * 3
  local interval = tonumber(ARGV[base + 2])
  local limit = tonumber(ARGV[base + 1])
  limits[i] = { interval = interval, capacity = tonumber(ARGV[base + 3]), emission = interval / limit }
end

local raw = redis.call('HMGET', KEYS[1], unpack(ARGV, 1, ${nf}))
local s = {}
${each(
  (a) => `if raw[o + 1] then
    for j = 1, ${a.size} do s[o + j] = tonumber(raw[o + j]) end
  else
    ${a.fresh}
  end
  ${a.advance}`,
)}

local function fitsAll(c)
  ${fitsAll}
  return true
end

-- The decisions, in order, on the one state: as if each ran alone at the same server time.
local out = { time[1], time[2] }
local o = 2
local write = false
for d = ${first}, #ARGV, 4 do
  local mode = ARGV[d]
  local cost = tonumber(ARGV[d + 1])
  local minCost = tonumber(ARGV[d + 2])
  local takenAt = tonumber(ARGV[d + 3])
  -- granted as a code: 0 none, 1 cost, 2 minCost; negated for a peek.
  local code = 0
  if mode == 'p' then
    if fitsAll(cost) then code = -1 end
  elseif mode == 'r' then
    local c = cost
    ${each((a) => a.giveBack)}
    write = true
  else
    if fitsAll(cost) then code = 1 elseif minCost < cost and fitsAll(minCost) then code = 2 end
    if code > 0 then
      local c = cost
      if code == 2 then c = minCost end
      ${each((a) => a.take)}
      write = true
    end
  end
  out[o + 1] = code
  -- Redis would truncate Lua numbers to integers: the state goes back as strings.
  for k = 1, ${nf} do out[o + 1 + k] = string.format('%.17g', s[k]) end
  o = o + 1 + ${nf}
end

if write then
  local idle = 0
  ${each((a) => a.idle)}
  if idle <= 0 then
    redis.call('DEL', KEYS[1])
  else
    -- The last decision's text is the final state, already formatted.
    local args = {}
    for k = 1, ${nf} do
      args[2 * k - 1] = ARGV[k]
      args[2 * k] = out[o - ${nf} + k]
    end
    redis.call('HSET', KEYS[1], unpack(args))
    redis.call('PEXPIRE', KEYS[1], math.ceil(idle))
  end
end
return out
`;
}
