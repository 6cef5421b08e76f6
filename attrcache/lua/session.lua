-- session.lua: the session lifecycle on one session hash.
-- KEYS[1]  session key
-- ARGV[1]  'start' | 'renew' | 'end' | 'ttl'
-- start:  ARGV[2] ttl ms, ARGV[3] 8-byte call token
--         -> {OK, expires-at ms} | {SESSIONEXISTS} | {CORRUPT}
--         A live session whose marker carries the same token is this
--         call's own first run (a resent script): reported as success.
-- renew:  ARGV[2] ttl ms -> {OK, expires-at ms} | {NOSESSION} | {CORRUPT}
-- end:    ARGV[2] 8-byte call token -> {OK} | {NOSESSION} | {CORRUPT}
--         Leaves a tombstone (state 'E' with the token) for at most a
--         minute, so a resent End still reports success.
-- ttl:    -> {OK, remaining ms (-1: no expiry)} | {NOSESSION} | {CORRUPT}
local key, op = KEYS[1], ARGV[1]
local st, m = session(key)
local now = now_ms()

if op == 'start' then
  local ttl, token = tonumber(ARGV[2]), ARGV[3]
  if st == 'corrupt' then return {CORRUPT} end
  if st == 'live' then
    if string.sub(m, 9, 16) == token then return {OK, deadline(key, now)} end
    return {SESSIONEXISTS}
  end
  -- none or ended: a fresh hash holding only the marker.
  redis.call('DEL', key)
  redis.call('HSET', key, MARK, string.char(1) .. 'L' .. p48(now) .. token)
  redis.call('PEXPIRE', key, ttl)
  return {OK, now + ttl}
end

if op == 'end' then
  local token = ARGV[2]
  if st == 'ended' and string.sub(m, 9, 16) == token then return {OK} end
  if st ~= 'live' then return gone(st) end
  local pttl = redis.call('PTTL', key)
  redis.call('DEL', key)
  redis.call('HSET', key, MARK, string.char(1) .. 'E' .. p48(now) .. token)
  if pttl <= 0 or pttl > 60000 then pttl = 60000 end
  redis.call('PEXPIRE', key, pttl)
  return {OK}
end

if st ~= 'live' then return gone(st) end

if op == 'renew' then
  local ttl = tonumber(ARGV[2])
  redis.call('PEXPIRE', key, ttl)
  return {OK, now + ttl}
end

if op == 'ttl' then
  return {OK, redis.call('PTTL', key)}
end

return redis.error_reply('attrcache: unknown session op')
