-- expire.lua: SetExpiry and SetExpiryMany, all or nothing.
-- KEYS[1]  session key
-- ARGV[1]  5-byte call token, stored in every record changed
-- then per attribute: name, expiration ms > 0 (relative to now, clamped
-- to the session's deadline)
-- -> {OK} | {NOSESSION} | {CORRUPT, names...} | {NOTFOUND, names...}
-- The value and its Created and Modified times are kept. A record that
-- already carries this call's token was changed by this call's first run
-- (a resent script) and is left alone, even if it has expired since.
local key, token = KEYS[1], ARGV[1]
local now = now_ms()
local n = (#ARGV - 1) / 2
local names = {}
for i = 1, n do names[i] = ARGV[2 * i] end
local recs = fetch(key, names, 1)
if not recs then return {CORRUPT} end
local st, _, limit = state(recs[1], now)
if st ~= 'live' then return gone(st) end
local olds, corrupt, missing = {}, {}, {}
for i = 1, n do
  local old = recs[i + 1]
  if old and not rec_ok(old) then
    corrupt[#corrupt + 1] = names[i]
  elseif old and string.sub(old, 20, 24) == token then
    old = 'own' -- changed by this call's first run, perhaps since expired
  elseif not old or not live(old, now) then
    missing[#missing + 1] = names[i]
  end
  olds[i] = old
end
if #corrupt > 0 then return reply(CORRUPT, corrupt) end
if #missing > 0 then return reply(NOTFOUND, missing) end

local args = {}
for i = 1, n do
  local old = olds[i]
  if old ~= 'own' then
    local at = clamp(now, tonumber(ARGV[2 * i + 1]), limit)
    args[#args + 1] = ARGV[2 * i]
    args[#args + 1] = string.sub(old, 1, 13) .. p48(at) .. token .. string.sub(old, HDR + 1)
  end
end
hcall('HSET', key, args)
return {OK}
