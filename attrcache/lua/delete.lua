-- delete.lua: Delete and DeleteMany.
-- KEYS[1]  session key
-- ARGV     names to delete; absent names are not an error
-- -> {OK} | {NOSESSION} | {CORRUPT}
-- Corrupt records are deleted too: Delete is how an operator clears them.
local key = KEYS[1]
local now = now_ms()
local st = session(key, now)
if st ~= 'live' then return gone(st) end
hcall('HDEL', key, ARGV)
return {OK}
