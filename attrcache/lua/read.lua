-- read.lua: every read of a session's attributes.
-- KEYS[1]  session key
-- ARGV[1]  'get' | 'exists' | 'all' | 'names'; for get and exists the
--          names follow in ARGV[2..]
-- get:    -> {OK, record or 0 per name}      (0: absent or expired)
-- exists: -> {OK, 1 | 0 | -1 per name}      (-1: corrupt record)
-- all:    -> {OK, name, record, name, record, ...}
-- names:  -> {OK, name, name, ...}
-- any:    -> {NOSESSION} | {CORRUPT}
-- Expired attributes read as absent and are deleted here, when touched.
-- Records of an unknown format are passed through for Go to report.
local key, op = KEYS[1], ARGV[1]
local now = now_ms()
local out, dead = {OK}, {}

if op == 'get' or op == 'exists' then
  -- One HMGET reads the marker and the records.
  local recs = fetch(key, ARGV, 2)
  if not recs then return {CORRUPT} end
  local st = state(recs[1], now)
  if st ~= 'live' then return gone(st) end
  for i = 1, #ARGV - 1 do
    local r = recs[i + 1]
    local v
    if not r then
      v = 0
    elseif not rec_ok(r) then
      v = -1
    elseif live(r, now) then
      v = 1
    else
      v = 0
      dead[#dead + 1] = ARGV[i + 1]
    end
    if op == 'exists' then
      out[i + 1] = v
    elseif v == 0 then
      out[i + 1] = 0
    else
      out[i + 1] = r
    end
  end
else
  -- HGETALL brings the marker too.
  local all = redis.pcall('HGETALL', key)
  if all.err then return {CORRUPT} end
  local m = false
  for j = 1, #all, 2 do
    local f, r = all[j], all[j + 1]
    if f == MARK then
      m = r
    elseif rec_ok(r) and not live(r, now) then
      dead[#dead + 1] = f
    else
      out[#out + 1] = f
      if op == 'all' then out[#out + 1] = r end
    end
  end
  local st = state(m, now)
  if st ~= 'live' then return gone(st) end
end

hcall('HDEL', key, dead)
return out
