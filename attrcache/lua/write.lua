-- write.lua: Create, Set and Update of one or many attributes, all or
-- nothing.
-- KEYS[1]  session key
-- ARGV[1]  'create' | 'set' | 'update'
-- ARGV[2]  5-byte call token, stored in every record written
-- ARGV[3]  most live attributes the session may hold
-- then per attribute, 4 arguments:
--   name, flags (0..15), expiration, value
--   expiration: ms > 0 relative to now (clamped to the session's
--   deadline), 0 = lives as long as the session, -1 = not given (create:
--   as 0; set/update: keep the attribute's current expiry)
-- -> {OK} | {NOSESSION} | {CORRUPT, names...} | {EXISTS, names...}
--    | {NOTFOUND, names...} | {TOOMANY, live count}
--
-- Checks come first and writes last, so a refused call writes nothing.
-- A record that already holds this call's token, flags and value is this
-- call's own first run (go-redis resent the script after a lost reply): it
-- is left alone and counts as success.
local key, mode, token = KEYS[1], ARGV[1], ARGV[2]
local maxn = tonumber(ARGV[3])
local n = (#ARGV - 3) / 4
local now = now_ms()

-- One HMGET reads the marker and every named record: each redis.call
-- from Lua costs about as much as a small command from a client.
local names = {}
for i = 1, n do names[i] = ARGV[4 * i] end
local recs = fetch(key, names, 1)
if not recs then return {CORRUPT} end
local st, _, limit = state(recs[1], now)
if st ~= 'live' then return gone(st) end

local olds, corrupt, refused = {}, {}, {}
local adds = 0
for i = 1, n do
  local b = 4 * i
  local old = recs[i + 1]
  if not old then
    adds = adds + 1
  elseif not rec_ok(old) then
    corrupt[#corrupt + 1] = names[i]
  elseif string.sub(old, 20, 24) == token and string.byte(old, 1) % 16 == tonumber(ARGV[b + 1])
      and string.sub(old, HDR + 1) == ARGV[b + 3] then
    -- Checked before expiry: the first run may have given a short expiry
    -- that has passed by the time go-redis resends.
    old = 'own'
  elseif not live(old, now) then
    old = false
  end
  olds[i] = old
  if mode == 'create' and old and old ~= 'own' then refused[#refused + 1] = names[i] end
  if mode == 'update' and not old then refused[#refused + 1] = names[i] end
end
if #corrupt > 0 then return reply(CORRUPT, corrupt) end
if #refused > 0 then
  if mode == 'create' then return reply(EXISTS, refused) end
  return reply(NOTFOUND, refused)
end

if adds > 0 then
  local count = redis.call('HLEN', key) - 1
  if count + adds > maxn then
    -- Expired records still count until touched: reclaim them, then count
    -- again. Rare, and O(session size) only on this path.
    local mine = {}
    for i = 1, n do mine[names[i]] = true end
    local all = redis.call('HGETALL', key)
    local dead = {}
    for j = 1, #all, 2 do
      local f, r = all[j], all[j + 1]
      if f ~= MARK and not mine[f] and rec_ok(r) and not live(r, now) then dead[#dead + 1] = f end
    end
    hcall('HDEL', key, dead)
    count = count - #dead
    if count + adds > maxn then return {TOOMANY, count} end
  end
end

-- Header pieces are bytes: kept ones are copied, not decoded and encoded.
local nowb, never = p48(now), p48(0)
local args = {}
for i = 1, n do
  local old = olds[i]
  if old ~= 'own' then
    local b = 4 * i
    local exp = tonumber(ARGV[b + 2])
    local created, at = nowb, never
    if old then
      if mode ~= 'create' then created = string.sub(old, 2, 7) end
      if exp < 0 then at = string.sub(old, 14, 19) end
    end
    if exp > 0 then at = p48(clamp(now, exp, limit)) end
    args[#args + 1] = names[i]
    args[#args + 1] = string.char(16 + tonumber(ARGV[b + 1])) .. created .. nowb .. at .. token .. ARGV[b + 3]
  end
end
hcall('HSET', key, args)
return {OK}
