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
-- one HSET (and one HDEL): a refused call changes nothing.
local function write(keys, argv)
  if not sub then bind() end
  local key, c = keys[1], argv[1]
  local mode, owner = sub(c, 21, 21), sub(c, 22, 22)
  local maxn, maxb = un(c, 23, 4), un(c, 27, 4)
  local per = 3
  if mode == 'x' or mode == 'd' then per = 2 end
  if mode == 'd' then per = 1 end
  local n = (#argv - 1) / per
  local now = now_ms()

  -- One HMGET reads the marker, the log and every named record.
  local q = {MARK, LOG}
  for i = 1, n do q[i + 2] = argv[2 + per * (i - 1)] end
  local r = hmget(key, q)
  if not r then return {CORRUPT, now} end
  local M = marker(r[1])
  if r[2] and not logok(r[2]) then return {CORRUPT, now} end
  local stop = callcheck(c, r[2], M, now, keys[2])
  if stop then return stop end
  if M == false then return {CORRUPT, now} end
  if owner == 'u' then
    if M and M.k ~= 'U' then return {CORRUPT, now} end
    if not M then M = newmarker('U', now) end
  elseif not M or M.k ~= 'L' or M.deadline <= now then
    return {NOSESSION, now}
  end
  local base = M.created

  -- Check every record before writing any. What the check decodes (the
  -- old record's expiry, whether it is live) is kept for the build.
  local corrupt, refused, reseal, notint = {}, {}, {}, {}
  local exps, lives, heads = {}, {}, {}
  for i = 1, n do
    local b = 2 + per * (i - 1)
    local name, old = argv[b], r[i + 2]
    local live = false
    if old then
      local e, h = rexp(old, base)
      if not e then
        if mode ~= 'd' and mode ~= 'r' then corrupt[#corrupt + 1] = name end
      else
        live = e == 0 or e > now
        exps[i], lives[i], heads[i] = e, live, h
        if live and mode == 'c' then refused[#refused + 1] = name end
        -- A sealed record's associated data binds its expiry: a new
        -- expiry for one, or a kept expiry for a value sealed without
        -- knowing it, needs the caller to seal again.
        if live and ((mode == 'x' and byte(old, 1) >= 64) or ((mode == 's' or mode == 'u') and e ~= 0
            and byte(argv[b + 1], 1) >= 64 and un(argv[b + 1], 2, 6) == KEEP)) then
          reseal[#reseal + 1] = name
          reseal[#reseal + 1] = e
        end
        if live and mode == 'i' then
          local v = sub(old, h + 1)
          if byte(old, 1) >= 64 or #v > 17 or not find(v, '^%-?%d+$') then notint[#notint + 1] = name end
        end
      end
    end
    if not live and (mode == 'u' or mode == 'x') then refused[#refused + 1] = name end
    if mode == 'r' and old ~= argv[b + 1] then refused[#refused + 1] = name end
  end
  if #corrupt > 0 then return reply(CORRUPT, now, corrupt) end
  if #refused > 0 then
    if mode == 'c' then return reply(EXISTS, now, refused) end
    if mode == 'r' then return reply(CHANGED, now, refused) end
    return reply(NOTFOUND, now, refused)
  end
  if #reseal > 0 then return reply(RESEAL, now, reseal) end
  if #notint > 0 then return reply(NOTINT, now, notint) end

  -- One bounded reclaim step when a record may have expired. A refused
  -- call still keeps what the step did.
  local stepped, reclaimed = nil, 0
  if M.nxt ~= 0 and M.nxt <= now then
    local skip = {}
    for i = 1, n do skip[q[i + 2]] = true end
    reclaimed = reclaim(key, M, now, skip)
    stepped = true
  end
  local count0, bytes0 = M.count, M.bytes

  -- Build the new records and the counters.
  local sets, dels = {MARK, false, LOG, false}, {}
  local ns, nd, count, bytes = 4, 0, M.count, M.bytes
  local counter
  for i = 1, n do
    local b = 2 + per * (i - 1)
    local name, old = argv[b], r[i + 2]
    local new, at
    if mode == 'd' then
      if old then
        nd = nd + 1
        dels[nd] = name
        count = count - 1
        bytes = bytes - #name - #old
      end
    elseif mode == 'r' then
      new = argv[b + 2]
      at = rexp(new, base) or 0
    elseif mode == 'x' then
      at = now + un(argv[b + 1], 1, 6)
      local h = heads[i]
      local created = rcreated(old, base)
      local modb = floor(byte(old, 1) / 4) % 4
      local modified = created + un(old, 2 + W[byte(old, 1) % 4], W[modb])
      new = rec(false, created, modified, at, base, sub(old, h + 1))
    else
      local live, meta = lives[i], argv[b + 1]
      local f = byte(meta, 1)
      local exp = un(meta, 2, 6)
      local created = now
      if live and mode ~= 'c' then created = rcreated(old, base) end
      if exp == KEEP then
        exp = 0
        if live and mode ~= 'c' then exp = exps[i] end
      elseif exp ~= 0 and f % 2 == 1 then
        exp = now + exp
      end
      at = exp
      local value = argv[b + 2]
      if mode == 'i' then
        local cur = 0
        if live then cur = tonum(sub(old, heads[i] + 1)) end
        counter = cur + tonum(value)
        if counter > MAXINT or counter < -MAXINT then return reply(NOTINT, now, {name}) end
        value = fmt('%d', counter)
      end
      new = rec(f >= 64, created, now, exp, base, value)
    end
    if new then
      sets[ns + 1] = name
      sets[ns + 2] = new
      ns = ns + 2
      if old then
        bytes = bytes + #new - #old
      else
        count = count + 1
        bytes = bytes + #name + #new
      end
      if at ~= 0 then expiring(M, at) end
    end
  end
  M.count, M.bytes = count, bytes

  -- Limits bind only writes that grow the hash, so a hash over a lowered
  -- limit can still shrink.
  local refusal
  if M.count > count0 and M.count > maxn then
    refusal = {TOOMANY, now, count0, reclaimed}
  elseif M.bytes > bytes0 and M.bytes > maxb then
    refusal = {TOOBIG, now, bytes0, reclaimed}
  end
  if refusal then
    if stepped then
      M.count, M.bytes = count0, bytes0
      call('HSET', key, MARK, enc(M))
    end
    return refusal
  end
  -- A delete of nothing from a user that has no hash writes nothing: it
  -- would create the hash. Anything else is logged, a delete of nothing
  -- included, so that a resend never deletes what came after.
  if ns == 4 and nd == 0 and not M.raw then return {OK, now, 0, reclaimed} end

  -- A record deleted by a call but never counted (written by something
  -- other than attrcache) must not drive the counters below zero.
  if M.count < 0 then M.count = 0 end
  if M.bytes < 0 then M.bytes = 0 end
  sets[4] = logput(r[2], sub(c, 1, 8), un(c, 15, 6), now, M, keys[2])
  sets[2] = enc(M)
  hcall('HSET', key, sets)
  if nd > 0 then hcall('HDEL', key, dels) end
  if counter then return {OK, now, M.deadline, reclaimed, counter} end
  return {OK, now, M.deadline, reclaimed}
end
