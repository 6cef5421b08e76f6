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
local st = session(key, now)
if st ~= 'live' then return gone(st) end
local out, dead = {OK}, {}

if op == 'get' or op == 'exists' then
  local recs = {}
  for i = 2, #ARGV, 1000 do
    local part = redis.call('HMGET', key, unpack(ARGV, i, math.min(i + 999, #ARGV)))
    for j = 1, #part do recs[#recs + 1] = part[j] end
  end
  for i = 1, #ARGV - 1 do
    local r = recs[i]
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
  local all = redis.call('HGETALL', key)
  for j = 1, #all, 2 do
    local f, r = all[j], all[j + 1]
    if f ~= MARK then
      if rec_ok(r) and not live(r, now) then
        dead[#dead + 1] = f
      else
        out[#out + 1] = f
        if op == 'all' then out[#out + 1] = r end
      end
    end
  end
end

hcall('HDEL', key, dead)
return out
