/**
 * The Lua script behind the Redis store: every breaker operation in one script on one hash key,
 * with the server's clock (`TIME`), so a decision is one atomic round trip whatever the number of
 * replicas. It mirrors machine.ts and window.ts line for line; the contract suite runs the same
 * tests against both.
 *
 * Hash fields: `fmt` (layout, "1"), `state`, `ver`, `gen` (creation time), `since`, `until`, `opens`, `consec`, `psucc`,
 * and JSON-encoded `win` (window entries), `tot` (totals), `probes` (token → lease expiry) and
 * `rep` (replica → last failure report). A key of another type, or a hash that does not parse as
 * this layout, is deleted and recreated, and the answer says so (`replaced`).
 *
 * After a transition the script publishes the new view on the store's channel as
 * `<breaker id>\n<JSON view>`, so every replica learns of it without polling.
 *
 * KEYS[1] the breaker's hash.
 * ARGV[1] operation: read | record | acquire | release | command | seed
 * ARGV[2] pub/sub channel, ARGV[3] breaker id (routes the message)
 * ARGV[4..17] the rules (see RULE_ARGS), ARGV[18] break durations, comma-separated
 * ARGV[19..] the operation's arguments
 *
 * Returns { state, version, remainingMs, opens, consec, calls, failures, slow, probes, replaced,
 * generation, decision }.
 */
export const BREAKER_LUA = `
local key = KEYS[1]
local op = ARGV[1]
local channel = ARGV[2]
local id = ARGV[3]
local windowKind = ARGV[4]
local windowSize = tonumber(ARGV[5])
local bucketMs = tonumber(ARGV[6])
local minThroughput = tonumber(ARGV[7])
local failureRatio = tonumber(ARGV[8])
local slowRatio = tonumber(ARGV[9])
local consecutiveLimit = tonumber(ARGV[10])
local halfOpenMax = tonumber(ARGV[11])
local successThreshold = tonumber(ARGV[12])
local halfOpenMaxDuration = tonumber(ARGV[13])
local probeLease = tonumber(ARGV[14])
local quorumReplicas = tonumber(ARGV[15])
local quorumWindow = tonumber(ARGV[16])
local ttl = tonumber(ARGV[17])
local durations = {}
for d in string.gmatch(ARGV[18], '[^,]+') do durations[#durations + 1] = tonumber(d) end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local STATES = { closed = true, open = true, ['half-open'] = true, isolated = true, disabled = true }
local replaced = 0
local changed = false

local function fresh()
  return { state = 'closed', ver = 0, gen = now, since = now, till = 0, opens = 0, consec = 0,
    win = {}, tot = { 0, 0, 0 }, probes = {}, psucc = 0, rep = {} }
end

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

local function isCount(v) return type(v) == 'number' and v >= 0 end

local function parse(h)
  if h[1] ~= '1' or not STATES[h[2]] then error('layout') end
  local r = { state = h[2], ver = tonumber(h[3]), since = tonumber(h[4]), till = tonumber(h[5]),
    opens = tonumber(h[6]), consec = tonumber(h[7]), win = cjson.decode(h[8]),
    tot = cjson.decode(h[9]), probes = cjson.decode(h[10]), psucc = tonumber(h[11]),
    rep = cjson.decode(h[12]), gen = tonumber(h[13]) }
  for _, f in ipairs({ 'ver', 'gen', 'since', 'till', 'opens', 'consec', 'psucc' }) do
    if not isCount(r[f]) then error(f) end
  end
  if type(r.win) ~= 'table' or type(r.tot) ~= 'table' or type(r.probes) ~= 'table' or type(r.rep) ~= 'table' then
    error('tables')
  end
  for i = 1, 3 do if not isCount(r.tot[i]) then error('tot') end end
  local width = 3
  if windowKind == 'time' then width = 4 end
  for _, e in ipairs(r.win) do
    if type(e) ~= 'table' or #e ~= width then error('win') end
    for i = 1, width do if not isCount(e[i]) then error('win') end end
  end
  for _, v in pairs(r.probes) do if type(v) ~= 'number' then error('probes') end end
  for _, v in pairs(r.rep) do if type(v) ~= 'number' then error('rep') end end
  return r
end

local function load()
  local kind = redis.call('TYPE', key)['ok']
  if kind == 'none' then return fresh() end
  if kind == 'hash' then
    local h = redis.call('HMGET', key, 'fmt', 'state', 'ver', 'since', 'until', 'opens', 'consec',
      'win', 'tot', 'probes', 'psucc', 'rep', 'gen')
    local ok, r = pcall(parse, h)
    if ok then return r end
  end
  redis.call('DEL', key)
  replaced = 1
  changed = true
  return fresh()
end

local r = load()

local function int(x) return string.format('%.0f', x) end

local function encodeMap(t)
  if next(t) == nil then return '{}' end
  return cjson.encode(t)
end

local function encodeWin(w)
  if #w == 0 then return '[]' end
  local parts = {}
  for i, e in ipairs(w) do
    local fields = {}
    for j, v in ipairs(e) do fields[j] = int(v) end
    parts[i] = '[' .. table.concat(fields, ',') .. ']'
  end
  return '[' .. table.concat(parts, ',') .. ']'
end

local function durationFor(opens)
  local i = math.min(math.max(opens, 1), #durations)
  return durations[i]
end

local function clearWindow()
  r.win = {}
  r.tot = { 0, 0, 0 }
end

local function enter(state)
  r.state = state
  r.ver = r.ver + 1
  r.since = now
  r.probes = {}
  r.psucc = 0
  changed = true
end

local function openIt()
  enter('open')
  r.opens = r.opens + 1
  r.till = now + durationFor(r.opens)
  r.consec = 0
  r.rep = {}
  clearWindow()
end

local function closeIt()
  enter('closed')
  r.till = 0
  r.opens = 0
  r.consec = 0
  r.rep = {}
  clearWindow()
end

local function subtract(s, f, sl)
  r.tot[1] = math.max(0, r.tot[1] - s)
  r.tot[2] = math.max(0, r.tot[2] - f)
  r.tot[3] = math.max(0, r.tot[3] - sl)
end

local function expireWindow()
  if windowKind ~= 'time' then return end
  local oldest = math.floor(now / bucketMs) - windowSize + 1
  local kept = {}
  for _, e in ipairs(r.win) do
    if e[1] < oldest then subtract(e[2], e[3], e[4]) else kept[#kept + 1] = e end
  end
  r.win = kept
end

local function addToWindow(s, f, sl)
  if s + f == 0 then return end
  r.tot[1] = r.tot[1] + s
  r.tot[2] = r.tot[2] + f
  r.tot[3] = r.tot[3] + sl
  if windowKind == 'time' then
    local bucket = math.floor(now / bucketMs)
    local last = r.win[#r.win]
    if last ~= nil and last[1] == bucket then
      last[2] = last[2] + s
      last[3] = last[3] + f
      last[4] = last[4] + sl
    else
      r.win[#r.win + 1] = { bucket, s, f, sl }
    end
    return
  end
  r.win[#r.win + 1] = { s, f, sl }
  local excess = r.tot[1] + r.tot[2] - windowSize
  while excess > 0 and #r.win > 0 do
    local oldest = r.win[1]
    local calls = oldest[1] + oldest[2]
    if calls <= excess then
      table.remove(r.win, 1)
      subtract(oldest[1], oldest[2], oldest[3])
      excess = excess - calls
    else
      local kept = calls - excess
      local keptFailures = math.floor(oldest[2] * kept / calls + 0.5)
      local keptSlow = math.floor(oldest[3] * kept / calls + 0.5)
      local keptSuccesses = kept - keptFailures
      subtract(oldest[1] - keptSuccesses, oldest[2] - keptFailures, oldest[3] - keptSlow)
      oldest[1] = keptSuccesses
      oldest[2] = keptFailures
      oldest[3] = keptSlow
      excess = 0
    end
  end
end

local function settle()
  if r.state == 'half-open' and now - r.since >= halfOpenMaxDuration then
    openIt()
  elseif r.state == 'isolated' and r.till > 0 and now >= r.till then
    local till = r.till
    enter('open')
    r.till = till
  end
  for token, expiry in pairs(r.probes) do
    if expiry <= now then r.probes[token] = nil end
  end
  for replica, at in pairs(r.rep) do
    if at <= now - quorumWindow then r.rep[replica] = nil end
  end
  expireWindow()
end

local function shouldTrip()
  if quorumReplicas > 1 and count(r.rep) < quorumReplicas then return false end
  if consecutiveLimit > 0 and r.consec >= consecutiveLimit then return true end
  local calls = r.tot[1] + r.tot[2]
  if calls == 0 or calls < minThroughput then return false end
  if failureRatio > 0 and r.tot[2] / calls >= failureRatio then return true end
  return slowRatio > 0 and r.tot[3] / calls >= slowRatio
end

local decision = ''
settle()
if op == 'record' then
  if r.state == 'closed' or r.state == 'disabled' then
    local s, f, sl, trailing = tonumber(ARGV[19]), tonumber(ARGV[20]), tonumber(ARGV[21]), tonumber(ARGV[22])
    addToWindow(s, f, sl)
    if s > 0 then r.consec = trailing else r.consec = r.consec + trailing end
    if f > 0 and quorumReplicas > 1 then r.rep[ARGV[23]] = now end
    if r.state == 'closed' and shouldTrip() then openIt() end
  end
elseif op == 'acquire' then
  if r.state == 'closed' or r.state == 'disabled' then
    decision = 'admit'
  elseif r.state == 'isolated' or (r.state == 'open' and now < r.till) then
    decision = 'reject'
  else
    if r.state == 'open' then
      enter('half-open')
      r.till = 0
    end
    if count(r.probes) >= halfOpenMax then
      decision = 'reject'
    else
      r.probes[ARGV[19]] = now + probeLease
      decision = 'probe'
    end
  end
elseif op == 'release' then
  local token = ARGV[19]
  if r.state == 'half-open' and r.probes[token] ~= nil then
    r.probes[token] = nil
    if ARGV[20] == 'failure' then
      openIt()
    elseif ARGV[20] == 'success' then
      r.psucc = r.psucc + 1
      if r.psucc >= successThreshold then closeIt() end
    end
  end
elseif op == 'command' then
  local command = ARGV[19]
  if command == 'isolate' then
    enter('isolated')
    local forMs = tonumber(ARGV[20])
    if forMs > 0 then r.till = now + forMs else r.till = 0 end
  elseif command == 'reset' then
    closeIt()
  elseif command == 'disable' then
    enter('disabled')
    r.till = 0
    r.consec = 0
    r.rep = {}
    clearWindow()
  end
elseif op == 'seed' then
  if r.ver == 0 then
    local state = ARGV[19]
    if state == 'half-open' then state = 'open' end
    local remaining = tonumber(ARGV[20])
    r.state = state
    r.opens = tonumber(ARGV[21])
    r.consec = tonumber(ARGV[22])
    r.till = 0
    if state == 'open' then r.till = now + math.max(0, remaining) end
    if state == 'isolated' and remaining >= 0 then r.till = now + remaining end
    if state == 'closed' or state == 'disabled' then
      local calls, failures = tonumber(ARGV[23]), tonumber(ARGV[24])
      addToWindow(calls - failures, failures, tonumber(ARGV[25]))
    end
    r.ver = math.max(1, tonumber(ARGV[26]))
    r.since = now
    changed = true
  end
end

redis.call('HSET', key, 'fmt', '1', 'state', r.state, 'ver', int(r.ver), 'gen', int(r.gen), 'since', int(r.since),
  'until', int(r.till), 'opens', int(r.opens), 'consec', int(r.consec), 'win', encodeWin(r.win),
  'tot', '[' .. int(r.tot[1]) .. ',' .. int(r.tot[2]) .. ',' .. int(r.tot[3]) .. ']',
  'probes', encodeMap(r.probes), 'psucc', int(r.psucc), 'rep', encodeMap(r.rep))
redis.call('PEXPIRE', key, ttl)

local remaining = 0
if r.state == 'open' then
  remaining = math.max(0, r.till - now)
elseif r.state == 'isolated' then
  if r.till == 0 then remaining = -1 else remaining = math.max(0, r.till - now) end
end
local view = { r.state, r.ver, remaining, r.opens, r.consec, r.tot[1] + r.tot[2], r.tot[2], r.tot[3],
  count(r.probes), replaced, r.gen }
if changed then
  redis.call('PUBLISH', channel, id .. '\\n' .. cjson.encode(view))
end
view[12] = decision
return view
`;
