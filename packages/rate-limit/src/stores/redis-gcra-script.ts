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
 * ARGV: `emissionMs capacity` (the limit's `intervalMs / limit`, divided by the client and printed
 * by it in the shortest form that reads back as the same double, so the script works on the
 * same number as the general script and `algorithms/gcra.ts`), then per key its operations: the
 * one operation alone when there is one, else `n <count>` and the operations. An operation is one
 * of `<cost>`, `m <cost> <minCost>`, `p <cost>`, `r <cost> <takenAt>`, `a <points>` (penalty or
 * reward).
 * Returns: `TIME` seconds and microseconds, then per operation its code and the TAT after it.
 *
 * Every `redis.call` from Lua costs about a microsecond of server time, and for one awaited caller
 * the script's time is most of a decision's cost above the bare round trip: so one `TIME`, one
 * `GET`, and a write only when the state changed (`SET … PX`, or `DEL` when it is back to fresh
 * and the key exists); arguments are coerced by arithmetic, which Lua does for free, rather than
 * by `tonumber` calls. The codes are string constants: `table.concat` formats a number with
 * `%.14g` (an `snprintf`), which cost about 2,200 of the script's 51,000 server instructions per
 * decision (callgrind, Redis 7.0).
 *
 * Every argument costs on both sides: Redis parses it, makes it a Lua string and frees it (about
 * 1,200 server instructions each, callgrind, Redis 7.0.15), and the client converts, copies and
 * writes it (ioredis flattens the argument list too). Hence two constant arguments instead of
 * `intervalMs limit capacity` (one string-to-number conversion less, too), and no count for a key
 * with one operation, the common case: a lone decision sends `emissionMs capacity cost`, three
 * arguments instead of five, and Redis runs about 3,500 fewer instructions per decision (51,000
 * before; `return 1` with no arguments: 12,300; Node 20 and ioredis 6 sending). Measured and not
 * taken (Redis 7.0.15, callgrind): the TAT as integers in an array reply instead of a formatted string (no gain:
 * converting the Lua table costs Redis what the formatting saved), and FCALL instead of EVALSHA
 * (about 2,000 fewer instructions, not worth a second way of loading and running scripts).
 */
export const GCRA_KEY_PART = 'tat';

export const GCRA_LUA = `local TIME_EPS = 1e-3
local time = redis.call('TIME')
local now = time[1] * 1000 + time[2] / 1000
local emission = ARGV[1] + 0
local capacity = ARGV[2] + 0
local out = { time[1], time[2] }
local n = 2
local a = 3
for k = 1, #KEYS do
  local key = KEYS[k]
  local count = 1
  if ARGV[a] == 'n' then
    count = ARGV[a + 1] + 0
    a = a + 2
  end
  local raw = redis.call('GET', key)
  local tat = now
  if raw then
    tat = raw + 0
    if tat < now then tat = now end
  end
  local write = false
  for _ = 1, count do
    local op = ARGV[a]
    local code = '0'
    if op == 'p' then
      if tat - now - (capacity - ARGV[a + 1]) * emission <= TIME_EPS then code = '-1' end
      a = a + 2
    elseif op == 'a' then
      local c = ARGV[a + 1] + 0
      local moved = tat + c * emission
      if c > 0 then tat = math.max(tat, math.min(moved, now + capacity * emission))
      else tat = math.max(now, moved) end
      if tat - now - (capacity - 1) * emission <= TIME_EPS then code = '-1' end
      a = a + 2
      write = true
    elseif op == 'r' then
      tat = math.max(now, tat - ARGV[a + 1] * emission)
      a = a + 3
      write = true
    else
      local cost, minCost
      if op == 'm' then
        cost = ARGV[a + 1] + 0
        minCost = ARGV[a + 2] + 0
        a = a + 3
      else
        cost = op + 0
        minCost = cost
        a = a + 1
      end
      local c
      if tat - now - (capacity - cost) * emission <= TIME_EPS then
        code = '1'
        c = cost
      elseif minCost < cost and tat - now - (capacity - minCost) * emission <= TIME_EPS then
        code = '2'
        c = minCost
      end
      if c then
        tat = tat + c * emission
        write = true
      end
    end
    n = n + 2
    out[n - 1] = code
    -- Printed exactly: Redis would truncate a Lua number to an integer.
    out[n] = string.format('%.17g', tat)
  end
  if write then
    local idle = tat - now
    if idle <= 0 then
      -- Back to fresh: the key is not needed (and a missing one costs no DEL).
      if raw then redis.call('DEL', key) end
    else
      redis.call('SET', key, out[n], 'PX', math.ceil(idle))
    end
  end
end
return table.concat(out, ' ')
`;
