-- write.lua: every write of attributes, all or nothing.
-- keys[1]  session key
-- argv[1]  'c' create | 's' set | 'u' update | 'x' set expiry | 'd' delete
-- argv[2]  8-byte call token
-- argv[3]  when the call began, ms, at the earliest (Redis's clock)
-- argv[4]  the call's deadline, ms: a copy arriving later is not run
-- argv[5]  most attributes the session may hold
-- argv[6]  most bytes (names and records) the session may hold
-- then per attribute:
--   c, s, u: name, flags (0..15), expiration, value. expiration: ms > 0
--            from now (clamped to the session's deadline), 0 = lives with
--            the session, -1 = not given (create: as 0; set and update:
--            keep the current expiry)
--   x:       name, expiration ms > 0 (clamped)
--   d:       name
-- -> {OK, now, session deadline, reclaimed}
--    | {RESENT, now, session deadline (0 when resent after End)}
--    | {NOSESSION, now} | {CORRUPT, now, names...}
--    | {EXISTS, now, names...} | {NOTFOUND, now, names...}
--    | {TOOMANY, now, count, reclaimed} | {TOOBIG, now, bytes, reclaimed}
--    | {LATE, now} | {UNSURE, now}
--    reclaimed: expired records this call's reclaim step deleted. It comes
--    last, so a reader that stops before it still reads the reply.
--
-- The order matters. A call whose token is in the resend log ran already
-- (go-redis resent it after a lost reply): it reports RESENT and changes
-- nothing, whatever happened since. A call that began before the newest
-- entry the log has dropped might be one of those: UNSURE, nothing done.
-- A call past its deadline is LATE and not run, so no write lands after
-- its caller gave up. Then the session, the records and the limits are
-- checked; only then is anything written, in one HSET (and one HDEL): a
-- refused call changes no attribute.
local function write(keys, argv)
  if not sub then bind() end
  local key, mode, token = keys[1], argv[1], argv[2]
  local t0, dl, maxn, maxb = tonumber(argv[3]), tonumber(argv[4]), tonumber(argv[5]), tonumber(argv[6])
  local per = 4
  if mode == 'x' then per = 2 elseif mode == 'd' then per = 1 end
  local n = (#argv - 6) / per
  local now = now_ms()

  -- One HMGET reads the marker, the log and every named record.
  local q = {MARK, LOG}
  for i = 1, n do q[i + 2] = argv[7 + per * (i - 1)] end
  local r = hmget(key, q)
  if not r then return {CORRUPT, now} end
  local log = r[2] or ''
  local M = marker(r[1])
  if log ~= '' and logged(log, token) then
    if M and M.st ~= 'E' then return {RESENT, now, M.deadline} end
    return {RESENT, now, 0}
  end
  if M == false then return {CORRUPT, now} end
  if not M or M.st ~= 'L' or M.deadline <= now then return {NOSESSION, now} end
  if now > dl then return {LATE, now} end
  local L = logopen(log, now)
  if t0 <= L.dropped then return {UNSURE, now} end
  if M.legacy then upgrade(key, M, now) end

  -- Check every record before writing any. What the check decodes (the
  -- old record's expiry, whether it is live) is kept for the build:
  -- batches of a thousand pay for every operation per record.
  local corrupt, refused = {}, {}
  local exps, lives = {}, {}
  for i = 1, n do
    local old = r[i + 2]
    if old then
      if not hdr(old) then
        if mode ~= 'd' then corrupt[#corrupt + 1] = q[i + 2] end
      else
        local e = u48(old, 14)
        local live = e == 0 or e > now
        exps[i], lives[i] = e, live
        if live then
          if mode == 'c' then refused[#refused + 1] = q[i + 2] end
        elseif mode == 'u' or mode == 'x' then
          refused[#refused + 1] = q[i + 2]
        end
      end
    elseif mode == 'u' or mode == 'x' then
      refused[#refused + 1] = q[i + 2]
    end
  end
  if #corrupt > 0 then return reply(CORRUPT, now, corrupt) end
  if #refused > 0 then
    if mode == 'c' then return reply(EXISTS, now, refused) end
    return reply(NOTFOUND, now, refused)
  end

  -- One bounded reclaim step when a record may have expired.
  -- A refused call still keeps what the step did.
  local stepped, reclaimed = nil, 0
  if M.nextexp ~= 0 and M.nextexp <= now then
    local skip = {}
    for i = 1, n do skip[q[i + 2]] = true end
    reclaimed = reclaim(key, M, now, skip)
    stepped = enc(M)
  end
  local count0, bytes0 = M.count, M.bytes

  -- Build the new records and the counters.
  local sets, dels = {MARK, false, LOG, false}, {}
  local ns, nd, count, bytes, deadline = 4, 0, M.count, M.bytes, M.deadline
  local nowb, never = p48(now), '\0\0\0\0\0\0'
  for i = 1, n do
    local b = 7 + per * (i - 1)
    local name, old = argv[b], r[i + 2]
    if mode == 'd' then
      if old then
        nd = nd + 1
        dels[nd] = name
        count = count - 1
        bytes = bytes - #name - #old
      end
    else
      local rec, at
      if mode == 'x' then
        at = now + tonumber(argv[b + 1])
        if at > deadline then at = deadline end
        rec = char(32 + byte(old, 1) % 16) .. sub(old, 2, 13) .. p48(at) .. sub(old, hdr(old) + 1)
      else
        -- flags are '0' or '1'; expiration is '-1' (keep), '0' (with the
        -- session) or ms: compared as strings before any tonumber.
        local live, exp = lives[i], argv[b + 2]
        local created, atb = nowb, never
        at = 0
        if live and mode ~= 'c' then created = sub(old, 2, 7) end
        if exp == '-1' then
          if live then at, atb = exps[i], sub(old, 14, 19) end
        elseif exp ~= '0' then
          at = now + tonumber(exp)
          if at > deadline then at = deadline end
          atb = p48(at)
        end
        local head = HEAD0
        if argv[b + 1] ~= '0' then head = char(32 + tonumber(argv[b + 1])) end
        rec = head .. created .. nowb .. atb .. argv[b + 3]
      end
      sets[ns + 1] = name
      sets[ns + 2] = rec
      ns = ns + 2
      if old then
        bytes = bytes + #rec - #old
      else
        count = count + 1
        bytes = bytes + #name + #rec
      end
      if at ~= 0 then expiring(M, at) end
    end
  end
  M.count, M.bytes = count, bytes

  -- Limits bind only writes that grow the session, so a session over a
  -- lowered limit can still shrink.
  local refusal
  if M.count > count0 and M.count > maxn then
    refusal = {TOOMANY, now, count0, reclaimed}
  elseif M.bytes > bytes0 and M.bytes > maxb then
    refusal = {TOOBIG, now, bytes0, reclaimed}
  end
  if refusal or (mode == 'd' and nd == 0) then
    if stepped then call('HSET', key, MARK, stepped) end
    return refusal or {OK, now, M.deadline, reclaimed}
  end

  -- A record deleted by a call but never counted (written by something
  -- other than attrcache) must not drive the counters below zero.
  if M.count < 0 then M.count = 0 end
  if M.bytes < 0 then M.bytes = 0 end
  sets[2] = enc(M)
  sets[4] = logput(L, token, now)
  hcall('HSET', key, sets)
  if nd > 0 then hcall('HDEL', key, dels) end
  return {OK, now, M.deadline, reclaimed}
end
