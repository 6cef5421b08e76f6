-- session.lua: the session lifecycle on one session hash.
-- keys[1]  session key
-- argv[1]  op; argv[2] 8-byte call token; argv[3] when the call began, ms
--          at the earliest; argv[4] the call's deadline, ms
-- 'start'   argv[5] ttl ms, argv[6] most lifetime ms (0: none)
--           -> {OK, now, deadline} | {SESSIONEXISTS, now} | {CORRUPT, now}
-- 'renew'   argv[5] ttl ms -> {OK, now, deadline} | {NOSESSION, now}
--           The deadline never passes the session's most lifetime.
-- 'end'     -> {OK, now} | {NOSESSION, now}. Ends a live or rotating
--           session, and clears a key attrcache cannot read (corrupt: of
--           another type, with a marker it did not write, or a hash with
--           fields and no marker).
-- 'freeze'  argv[5] grace ms -> {OK, now, created, deadline, most deadline}
--           | {NOSESSION, now} | {CORRUPT, now}. First step of a rotation:
--           the session stays readable for grace ms and refuses writes.
-- 'thaw'    -> {OK, now, deadline} | {NOSESSION, now}. Undoes a freeze.
-- 'commit'  argv[5] created, argv[6] deadline, argv[7] most deadline (ms),
--           then name, record pairs -> {OK, now, deadline}
--           | {SESSIONEXISTS, now} | {CORRUPT, now} | {NOSESSION, now}.
--           Last step of a rotation: the new session, already populated.
-- Every op answers {RESENT, now, deadline} when its token is in the log
-- (the session's current deadline, 0 once it has ended), {UNSURE, now}
-- and {LATE, now} as write.lua does.
--
-- The log survives Start and End on the same key, so a resent End never
-- ends a session started after it, and a resent Start never restarts one.
local function session(keys, argv)
  if not sub then bind() end
  local key, op, token = keys[1], argv[1], argv[2]
  local t0, dl = tonumber(argv[3]), tonumber(argv[4])
  local now = now_ms()
  local r = pcall('HMGET', key, MARK, LOG)
  local log, M = '', false
  if not r.err then
    log = r[2] or ''
    M = marker(r[1])
    if log ~= '' and logged(log, token) then
      if M and M.st ~= 'E' then return {RESENT, now, M.deadline} end
      return {RESENT, now, 0}
    end
  end
  if now > dl then return {LATE, now} end
  local L = logopen(log, now)
  if t0 <= L.dropped then return {UNSURE, now} end
  local newlog = logput(L, token, now)

  if op == 'end' then
    -- M false: a key attrcache cannot read, which End clears; so is a
    -- hash that holds fields but no marker (HLEN only on this rare path).
    if M == nil then
      local n = call('HLEN', key)
      if n == 0 or (n == 1 and log ~= '') then return {NOSESSION, now} end
    end
    if M and not alive(M, now) then return {NOSESSION, now} end
    local T = {st = 'E', created = now, deadline = 0, maxdl = 0, count = 0, bytes = 0,
      nextexp = 0, cycmin = 0, cursor = 0, rotdl = 0}
    call('DEL', key)
    call('HSET', key, MARK, enc(T), LOG, newlog)
    call('PEXPIRE', key, GRACE)
    return {OK, now}
  end

  if M == false then return {CORRUPT, now} end

  if op == 'start' or op == 'commit' then
    if M and alive(M, now) then return {SESSIONEXISTS, now} end
    local N = {st = 'L', created = now, deadline = 0, maxdl = 0, count = 0, bytes = 0,
      nextexp = 0, cycmin = 0, cursor = 0, rotdl = 0}
    local sets = {MARK, false, LOG, newlog}
    if op == 'start' then
      local ttl, most = tonumber(argv[5]), tonumber(argv[6])
      N.deadline = now + ttl
      if most > 0 then
        N.maxdl = now + most
        if N.deadline > N.maxdl then N.deadline = N.maxdl end
      end
    else
      N.created, N.deadline, N.maxdl = tonumber(argv[5]), tonumber(argv[6]), tonumber(argv[7])
      if N.deadline <= now then return {NOSESSION, now} end
      for i = 8, #argv - 1, 2 do
        local name, rec = argv[i], argv[i + 1]
        sets[#sets + 1] = name
        sets[#sets + 1] = rec
        N.count = N.count + 1
        N.bytes = N.bytes + #name + #rec
        expiring(N, u48(rec, 14))
      end
    end
    sets[2] = enc(N)
    call('DEL', key)
    hcall('HSET', key, sets)
    call('PEXPIRE', key, N.deadline - now + GRACE)
    return {OK, now, N.deadline}
  end

  if not M or not alive(M, now) then return {NOSESSION, now} end
  more(M)
  if M.legacy then upgrade(key, M, now) end

  if op == 'thaw' then
    if M.st ~= 'R' then return {NOSESSION, now} end
    M.st, M.rotdl = 'L', 0
    call('HSET', key, MARK, enc(M), LOG, newlog)
    return {OK, now, M.deadline}
  end

  -- renew and freeze change a live session only.
  if M.st ~= 'L' then return {NOSESSION, now} end

  if op == 'renew' then
    M.deadline = now + tonumber(argv[5])
    if M.maxdl > 0 and M.deadline > M.maxdl then M.deadline = M.maxdl end
    call('HSET', key, MARK, enc(M), LOG, newlog)
    call('PEXPIRE', key, M.deadline - now + GRACE)
    return {OK, now, M.deadline}
  end

  if op == 'freeze' then
    M.st, M.rotdl = 'R', now + tonumber(argv[5])
    call('HSET', key, MARK, enc(M), LOG, newlog)
    return {OK, now, M.created, M.deadline, M.maxdl}
  end

  return redis.error_reply('attrcache: unknown session op')
end
