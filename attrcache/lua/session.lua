-- session.lua: the session lifecycle on one session hash.
-- KEYS[1]  session key
-- ARGV[1]  'start' | 'renew' | 'end' | 'ttl'
-- start:  ARGV[2] ttl ms, ARGV[3] 8-byte call token
--         -> {OK, deadline ms} | {SESSIONEXISTS} | {CORRUPT}
--         A marker that carries the same token is this call's own first
--         run (a resent script): reported as success, even if the session
--         has since expired; nothing is started again.
-- renew:  ARGV[2] ttl ms -> {OK, deadline ms} | {NOSESSION} | {CORRUPT}
-- end:    ARGV[2] 8-byte call token -> {OK} | {NOSESSION} | {CORRUPT}
--         Leaves a tombstone (state 'E' with the token) for a minute, so
--         a resent End still reports success.
-- ttl:    -> {OK, remaining ms} | {NOSESSION} | {CORRUPT}
local key, op = KEYS[1], ARGV[1]
local now = now_ms()
local st, m, dl = session(key, now)

if op == 'start' then
  local ttl, token = tonumber(ARGV[2]), ARGV[3]
  if st == 'corrupt' then return {CORRUPT} end
  if (st == 'live' or st == 'expired') and string.sub(m, 9, 16) == token then return {OK, dl} end
  if st == 'live' then return {SESSIONEXISTS} end
  -- none, ended or expired: a fresh hash holding only the marker.
  redis.call('DEL', key)
  redis.call('HSET', key, MARK, marker('L', now, token, now + ttl))
  redis.call('PEXPIRE', key, ttl + GRACE)
  return {OK, now + ttl}
end

if op == 'end' then
  local token = ARGV[2]
  if st == 'ended' and string.sub(m, 9, 16) == token then return {OK} end
  if st ~= 'live' then return gone(st) end
  redis.call('DEL', key)
  redis.call('HSET', key, MARK, marker('E', now, token, now))
  redis.call('PEXPIRE', key, 60000)
  return {OK}
end

if st ~= 'live' then return gone(st) end

if op == 'renew' then
  local ttl = tonumber(ARGV[2])
  redis.call('HSET', key, MARK, string.sub(m, 1, 16) .. p48(now + ttl))
  redis.call('PEXPIRE', key, ttl + GRACE)
  return {OK, now + ttl}
end

if op == 'ttl' then
  return {OK, dl - now}
end

return redis.error_reply('attrcache: unknown session op')
