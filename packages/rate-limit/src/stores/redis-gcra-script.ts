/**
 * The script of the common case: one limit metered by GCRA. Its state is one number, the TAT, so
 * it lives in a plain string key written with one `SET key tat PX ttl` (a hash needs `HSET` and
 * `PEXPIRE`), read with one `GET`, and the script builds no tables of limits or fields: the least
 * work Redis can do for an exact decision at its own `TIME`.
 *
 * It decides batches exactly as the general script does (`redis-script.ts`): several keys per
 * call, each with its run of operations decided in order on one state at one `TIME`, and it
 * returns the same reply, so the store reads both the same way. The arithmetic is the general
 * script's GCRA snippets (and `algorithms/gcra.ts`) operation for operation.
 *
 * KEYS: the keys, `…:{<name>:<key>}:tat`.
 * ARGV: `intervalMs limit capacity` (as the general script gets them: the same strings, hence the
 * same doubles), then per key the number of its operations and the operations, each one of
 * `<cost>`, `m <cost> <minCost>`, `p <cost>`, `r <cost> <takenAt>`.
 * Returns: `TIME` seconds and microseconds, then per operation its code and the TAT after it.
 *
 * Keys written before this layout existed: a single GCRA limit used to live in field
 * `<intervalMs>.0` of the hash `…:{<name>:<key>}:gcra` (the general layout). When the string key
 * is missing, the script reads that field, so the first decision after an upgrade continues from
 * the old state instead of granting a fresh allowance; the old hash is left to its TTL. Only a
 * miss pays for that read (one lookup of a key that is usually absent).
 */
export const GCRA_KEY_PART = 'tat';

/** The key part of the hash that held a single GCRA limit before {@link GCRA_KEY_PART}. */
export const LEGACY_GCRA_KEY_PART = 'gcra';

export const GCRA_LUA = `local TIME_EPS = 1e-3
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local emission = tonumber(ARGV[1]) / tonumber(ARGV[2])
local capacity = tonumber(ARGV[3])
local out = { time[1], time[2] }
local n = 2
local a = 4
for k = 1, #KEYS do
  local key = KEYS[k]
  local count = tonumber(ARGV[a])
  a = a + 1
  local raw = redis.call('GET', key)
  if not raw then
    -- The layout before this script: field <intervalMs>.0 of the hash …:gcra (same slot).
    raw = redis.call('HGET', string.sub(key, 1, -${GCRA_KEY_PART.length + 1}) .. '${LEGACY_GCRA_KEY_PART}', ARGV[1] .. '.0')
  end
  local tat = now
  if raw then
    tat = tonumber(raw)
    if tat < now then tat = now end
  end
  local write = false
  local text
  for _ = 1, count do
    local op = ARGV[a]
    local code = 0
    if op == 'p' then
      if tat - now - (capacity - tonumber(ARGV[a + 1])) * emission <= TIME_EPS then code = -1 end
      a = a + 2
    elseif op == 'r' then
      tat = math.max(now, tat - tonumber(ARGV[a + 1]) * emission)
      a = a + 3
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
      local c
      if tat - now - (capacity - cost) * emission <= TIME_EPS then
        code = 1
        c = cost
      elseif minCost < cost and tat - now - (capacity - minCost) * emission <= TIME_EPS then
        code = 2
        c = minCost
      end
      if c then
        tat = tat + c * emission
        write = true
      end
    end
    -- Printed exactly: Redis would truncate a Lua number to an integer.
    text = string.format('%.17g', tat)
    out[n + 1] = code
    out[n + 2] = text
    n = n + 2
  end
  if write then
    local idle = math.max(0, tat - now)
    if idle <= 0 then
      redis.call('DEL', key)
    else
      redis.call('SET', key, text, 'PX', math.ceil(idle))
    end
  end
end
return table.concat(out, ' ')
`;
