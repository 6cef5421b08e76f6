-- write.lua: every write of attributes, on a session's or a user's hash,
-- all or nothing.
-- keys[1]  the hash; keys[2] its resend overflow
-- argv[1]  the call, 30 bytes: token (8), t0 (6: when it was sent, at the
--          earliest, on Redis's clock), deadline (6), mode (1), owner (1:
--          's' session, 'u' user), most attributes (4), most bytes (4)
-- then per attribute, by mode:
--   c create, s set, u update: name, meta, value
--   i incr:                    name, meta, delta (decimal)
--     meta, 7 bytes: flags (bit 6 sealed; bit 0 relative), expiry (6): 0
--     none, 2^48-1 keep the current one (create: none), else ms from now
--     (relative) or the absolute expiry, which a sealed value's
--     associated data binds
--   x set expiry:              name, expiry (6, ms from now; plain records
--                              only: a sealed one is RESEAL)
--   d delete:                  name
--   r replace:                 name, the record expected, its replacement
-- -> {OK, now, deadline (users: 0), reclaimed[, counter]}
--    | {RESENT, now, deadline (0 once the session ended)}
--    | {NOSESSION, now} | {CORRUPT, now, names...}
--    | {EXISTS, now, names...} | {NOTFOUND, now, names...}
--    | {TOOMANY, now, count, reclaimed} | {TOOBIG, now, bytes, reclaimed}
--    | {LATE, now} | {CLOCK, now}
--    | {RESEAL, now, name, expiry, ...}: sealed records whose expiry the
--      call keeps or changes; their associated data binds the expiry, so
--      the caller seals them again (set, update: with the expiry given
--      here; set expiry: through a replace)
--    | {CHANGED, now, names...}: replace found other records than expected
--    | {NOTINT, now, names...}: incr of a value that is no integer, or a
--      sealed one, or past 2^53 - 1
--    reclaimed: expired records this call's reclaim step deleted.
--
-- The order matters. A call whose token is in the resend log ran already
-- (the client resent it after a lost reply): it reports RESENT and
-- changes nothing, whatever happened since. A call sent after Redis's
-- clock, or with a deadline too far ahead, is CLOCK (the caller's estimate
-- is off; the call did not run); a call past its deadline is LATE and not
-- run, so no write lands after its caller gave up. Then the hash, the
-- records and the limits are checked; only then is anything written, in
-- one HSET (and one HDEL and one HINCRBY of the counters): a refused call
-- changes nothing.
--
-- A script's time is shared by every client of the server, and each
-- string or table it makes costs it: so the common case (one attribute,
-- nothing to reclaim) makes few of either, tables of refusals only when
-- there are some, and the marker is written only when it changes.
local C, S, U, I, X, D, R = 99, 115, 117, 105, 120, 100, 114 -- the modes' bytes
local function write(keys, argv)
  if not sub then bind() end
  local key, c = keys[1], argv[1]
  local mode, owner = byte(c, 21, 22)
  local maxn, maxb = un(c, 23, 4), un(c, 27, 4)
  local per = 3
  if mode == X then per = 2 elseif mode == D then per = 1 end
  local n = (#argv - 1) / per
  local now = now_ms()

  -- One HMGET reads the marker, the log, the counters and every named
  -- record.
  local q = {MARK, LOG, CNT}
  for i = 1, n do q[i + 3] = argv[2 + per * (i - 1)] end
  local r = hmget(key, q)
  if not r then return {CORRUPT, now} end
  local ms, log, cnt = r[1], r[2], r[3]
  if log and not logok(log) then return {CORRUPT, now} end
  local k, fl, base, deadline, most, nxt, tail
  local M -- the whole marker, decoded only when a write needs it
  if ms then
    k, fl, base, deadline, most, nxt, tail = mhead(ms)
    if k and tail ~= 0 then M = marker(ms, cnt) end
  end

  -- A resend of a call that ran, then a call out of its time.
  local token, t0, dl = sub(c, 1, 8), un(c, 9, 6), un(c, 15, 6)
  if (log and inlog(log, token)) or (M and M.moved ~= 0 and t0 <= M.moved and M.moved > now - MAXW
      and call('ZSCORE', keys[2], token)) then
    if k == 76 or k == 85 then return {RESENT, now, deadline} end
    return {RESENT, now, 0}
  end
  if t0 > now or dl > now + MAXW then return {CLOCK, now} end
  if now > dl then return {LATE, now} end
  if ms and not k then return {CORRUPT, now} end
  if owner == U then
    if k and k ~= 85 then return {CORRUPT, now} end
    if not k then base, deadline, nxt = now, 0, 0 end
  elseif k ~= 76 or deadline <= now then
    return {NOSESSION, now}
  end
  local c0 = tonum(cnt or 0) or 0
  local count0 = c0 % TWO24
  local bytes0 = (c0 - count0) / TWO24
  local nxt0 = nxt
  -- mk returns the whole marker, decoding it on first use.
  local function mk()
    if not M then
      M = (ms and marker(ms, cnt)) or newmarker('U', now)
      M.count, M.bytes = count0, bytes0
    end
    return M
  end

  -- Check every record before writing any. What the check decodes (the
  -- old record's expiry, whether it is live, its header's length) is kept
  -- for the build in one table, three numbers per attribute.
  local corrupt, refused, reseal, notint
  local old = {}
  for i = 1, n do
    local b = 2 + per * (i - 1)
    local name, o = argv[b], r[i + 3]
    local live = false
    if o then
      local e, h = rexp(o, base)
      if not e then
        if mode ~= D and mode ~= R then
          corrupt = corrupt or {}
          corrupt[#corrupt + 1] = name
        end
      else
        live = e == 0 or e > now
        old[3 * i - 2], old[3 * i - 1], old[3 * i] = e, live, h
        if live then
          if mode == C then
            refused = refused or {}
            refused[#refused + 1] = name
          elseif mode == X and byte(o, 1) >= 64 then
            -- A sealed record's associated data binds its expiry: a new
            -- one means sealing it again.
            reseal = reseal or {}
            reseal[#reseal + 1], reseal[#reseal + 2] = name, e
          elseif (mode == S or mode == U) and e ~= 0 and byte(argv[b + 1], 1) >= 64 and un(argv[b + 1], 2, 6) == KEEP then
            -- A value sealed without knowing the expiry it keeps.
            reseal = reseal or {}
            reseal[#reseal + 1], reseal[#reseal + 2] = name, e
          elseif mode == I then
            local v = sub(o, h + 1)
            if byte(o, 1) >= 64 or #v > 17 or not find(v, '^%-?%d+$') then
              notint = notint or {}
              notint[#notint + 1] = name
            end
          end
        end
      end
    end
    if (not live and (mode == U or mode == X)) or (mode == R and o ~= argv[b + 1]) then
      refused = refused or {}
      refused[#refused + 1] = name
    end
  end
  if corrupt then return reply(CORRUPT, now, corrupt) end
  if refused then
    if mode == C then return reply(EXISTS, now, refused) end
    if mode == R then return reply(CHANGED, now, refused) end
    return reply(NOTFOUND, now, refused)
  end
  if reseal then return reply(RESEAL, now, reseal) end
  if notint then return reply(NOTINT, now, notint) end

  -- One bounded reclaim step when a record may have expired. A refused
  -- call still keeps what the step did.
  local stepped, reclaimed = false, 0
  local count1, bytes1 = count0, bytes0 -- after the step
  if nxt ~= 0 and nxt <= now then
    local skip = {}
    for i = 1, n do skip[q[i + 3]] = true end
    reclaimed = reclaim(key, mk(), now, skip)
    stepped = true
    count1, bytes1, nxt = M.count, M.bytes, M.nxt
  end

  -- Build the new records and the counters.
  local sets, dels, heads = {LOG, false}, nil, nil
  local ns, count, bytes, counter = 2, count1, bytes1, nil
  for i = 1, n do
    local b = 2 + per * (i - 1)
    local name, o = argv[b], r[i + 3]
    local new, at
    if mode == D then
      if o then
        dels = dels or {}
        dels[#dels + 1] = name
        count = count - 1
        bytes = bytes - #name - #o
      end
    elseif mode == R then
      new = argv[b + 2]
      at = rexp(new, base) or 0
    else
      local e, live, h = old[3 * i - 2], old[3 * i - 1], old[3 * i]
      if mode == X then
        at = now + un(argv[b + 1], 1, 6)
        local f = byte(o, 1)
        local created = rcreated(o, base)
        new = rec(false, created, created + un(o, 2 + W[f % 4], W[(f % 16 - f % 4) / 4]), at, base, sub(o, h + 1))
      else
        local meta = argv[b + 1]
        local f = byte(meta, 1)
        local exp = un(meta, 2, 6)
        local created = now
        if live and mode ~= C then created = rcreated(o, base) end
        if exp == KEEP then
          exp = 0
          if live and mode ~= C then exp = e end
        elseif exp ~= 0 and f % 2 == 1 then
          exp = now + exp
        end
        at = exp
        local value = argv[b + 2]
        if mode == I then
          local cur = 0
          if live then cur = tonum(sub(o, h + 1)) end
          counter = cur + tonum(value)
          if counter > MAXINT or counter < -MAXINT then return reply(NOTINT, now, {name}) end
          value = fmt('%d', counter)
        end
        if created == now and n > 1 then
          -- New records of one batch share their header when they share
          -- flags and expiry: build it once.
          local hk = exp * 2
          if f >= 64 then hk = hk + 1 end
          heads = heads or {}
          local h = heads[hk]
          if not h then
            h = rec(f >= 64, now, now, exp, base, '')
            heads[hk] = h
          end
          new = h .. value
        else
          new = rec(f >= 64, created, now, exp, base, value)
        end
      end
    end
    if new then
      sets[ns + 1], sets[ns + 2] = name, new
      ns = ns + 2
      if o then
        bytes = bytes + #new - #o
      else
        count = count + 1
        bytes = bytes + #name + #new
      end
      if at ~= 0 then
        if nxt == 0 or at < nxt then nxt = at end
        if M and M.cursor ~= 0 and (M.cycmin == 0 or at < M.cycmin) then M.cycmin = at end
      end
    end
  end

  -- Limits bind only writes that grow the hash, so a hash over a lowered
  -- limit can still shrink.
  local refusal
  if count > count1 and count > maxn then
    refusal = {TOOMANY, now, count1, reclaimed}
  elseif bytes > bytes1 and bytes > maxb then
    refusal = {TOOBIG, now, bytes1, reclaimed}
  end
  if refusal then
    if stepped then
      call('HSET', key, MARK, enc(M))
      if count1 ~= count0 or bytes1 ~= bytes0 then
        call('HINCRBY', key, CNT, (bytes1 - bytes0) * TWO24 + count1 - count0)
      end
    end
    return refusal
  end
  if stepped then M.nxt = nxt end
  -- A delete of nothing from a user that has no hash writes nothing: it
  -- would create the hash. Anything else is logged, a delete of nothing
  -- included, so that a resend never deletes what came after.
  if ns == 2 and not dels and not ms then return {OK, now, 0, reclaimed} end

  -- A record deleted by a call but never counted (written by something
  -- other than attrcache) must not drive the counters below zero.
  if count < 0 then count = 0 end
  if bytes < 0 then bytes = 0 end
  -- A full log may move an entry to the overflow, which the marker notes.
  if log and #log >= LOGN * LOGE then mk() end
  local moved0 = M and M.moved
  sets[2] = logput(log, token, dl, now, M, keys[2])
  if not ms or stepped or nxt ~= nxt0 or (M and M.moved ~= moved0) then
    mk().nxt = nxt
    sets[ns + 1], sets[ns + 2] = MARK, enc(M)
  end
  if count ~= count0 or bytes ~= bytes0 then
    -- The new counters ride in the same HSET: a number, which Redis
    -- writes as an integer.
    sets[#sets + 1], sets[#sets + 2] = CNT, bytes * TWO24 + count
  end
  hcall('HSET', key, sets)
  if dels then hcall('HDEL', key, dels) end
  if counter then return {OK, now, deadline, reclaimed, counter} end
  return {OK, now, deadline, reclaimed}
end
