-- write.lua: every write of attributes, on a session's or a user's hash,
-- all or nothing.
-- keys[1]  the hash; keys[2] its resend overflow
-- argv[1]  the call, 30 bytes: token (8), t0 (6: when it was sent, at the
--          earliest, on Redis's clock), deadline (6), mode (1), owner (1:
--          's' session, 'u' user), most attributes (4), most bytes (4);
--          37 when the attributes of a c, s, u or i call share one meta,
--          which ends it and is then left out of their arguments
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
-- -> {OK, now, deadline (users: 0), reclaimed[, counter]}, or from the
--    fast path (write, below) the same OK as one string: the status
--    byte, the deadline (6), TIME's seconds and microseconds as it
--    answered them, joined by '.', then ':' and the counter in decimal
--    for an incr; reclaimed is 0 there
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
-- one HSET (and one HDEL): a refused call
-- changes nothing.
--
-- A script's time is shared by every client of the server, and each
-- string or table it makes costs it: so the common case (one attribute,
-- nothing to reclaim) makes few of either, tables of refusals only when
-- there are some, and the marker is written only when it changes.
local C, S, U, I, X, D, R = 99, 115, 117, 105, 120, 100, 114 -- the modes' bytes
local CREATEREAD = 8 -- a create of this many names or more reads its records only from a hash that holds some
-- writeall is every write; write (below) takes the common case itself and
-- hands anything else here, with Redis's clock and the HMGET's reply when
-- it read them.
local function writeall(keys, argv, now, r)
  if not sub then bind() end
  local key, c = keys[1], argv[1]
  local mode, owner = byte(c, 21, 22)
  local maxn, maxb = un(c, 23, 4), un(c, 27, 4)
  -- An attribute's name is argv[2 + per * (i - 1)], its meta the next
  -- argument or the one the call carries, its value the one after.
  local per, shared = 3, nil
  if mode == X then
    per = 2
  elseif mode == D then
    per = 1
  elseif #c == 37 and (mode == C or mode == S or mode == U or mode == I) then
    per, shared = 2, sub(c, 31, 37)
  end
  local vo = per - 1 -- a value's offset from its name
  local n = (#argv - 1) / per
  now = now or now_ms()

  -- One HMGET reads the marker (with the counters), the log and every
  -- named record; a large create reads the records only when the
  -- counters say the hash holds any (see below).
  local later = not r and mode == C and n >= CREATEREAD
  local q = {MARK, LOG}
  if not later then
    for i = 1, n do q[i + 2] = argv[2 + per * (i - 1)] end
  end
  r = r or hmget(key, q)
  if not r then return {CORRUPT, now} end
  local ms, log = r[1], r[2]
  if log and not logok(log) then return {CORRUPT, now} end
  local k, fl, base, deadline, most, nxt, tail
  local count0, bytes0 = 0, 0
  local M -- the whole marker, decoded only when a write needs it
  if ms then
    k, fl, base, deadline, most, nxt, tail, count0, bytes0 = mhead(ms)
    if not k then count0, bytes0 = 0, 0 end
    if k and tail ~= 0 then M = marker(ms) end
  end

  -- A resend of a call that ran, then a call out of its time.
  local token, t0, dl = sub(c, 1, 8), un(c, 9, 6), un(c, 15, 6)
  if resent(log, M, token, t0, now, keys[2]) then
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
  local nxt0 = nxt
  -- A create refuses only a live record of one of its names, and a hash
  -- whose counters show no attribute field holds none (they count every
  -- record attrcache wrote, expired ones until reclaimed): a large
  -- create into an empty hash, a new session's CreateMany, reads none.
  if later and count0 > 0 then
    q = {}
    for i = 1, n do q[i] = argv[2 + per * (i - 1)] end
    local rr = hmget(key, q)
    if not rr then return {CORRUPT, now} end
    for i = 1, n do r[i + 2] = rr[i] end
  end
  -- mk returns the whole marker, decoding it on first use.
  local function mk()
    if not M then M = (ms and marker(ms)) or newmarker('U', now) end
    return M
  end

  -- Check every record before writing any. What the check decodes (the
  -- old record's expiry, whether it is live, its header's length) is kept
  -- for the build in one table, three numbers per attribute.
  local corrupt, refused, reseal, notint
  local old = {}
  for i = 1, n do
    local b = 2 + per * (i - 1)
    local name, o = argv[b], r[i + 2]
    local live = false
    -- A delete or a replace needs nothing from the old record (a replace
    -- compares it whole), so it is not decoded.
    if o and mode ~= D and mode ~= R then
      local e, h = rexp(o, base)
      if not e then
        corrupt = corrupt or {}
        corrupt[#corrupt + 1] = name
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
          elseif (mode == S or mode == U) and e ~= 0 and byte(shared or argv[b + 1], 1) >= 64
              and un(shared or argv[b + 1], 2, 6) == KEEP then
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
    for i = 1, n do skip[argv[2 + per * (i - 1)]] = true end
    reclaimed = reclaim(key, mk(), now, skip)
    stepped = true
    count1, bytes1, nxt = M.count, M.bytes, M.nxt
  end

  -- Build the new records and the counters.
  local sets, dels, heads = {LOG, false}, nil, nil
  local ns, count, bytes, counter = 2, count1, bytes1, nil
  -- A shared meta is decoded once.
  local sf, sexp
  if shared then sf, sexp = byte(shared, 1), un(shared, 2, 6) end
  for i = 1, n do
    local b = 2 + per * (i - 1)
    local name, o = argv[b], r[i + 2]
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
        local f, exp = sf, sexp
        if not shared then
          -- The meta with one string.byte: a batch pays it per record.
          local p1, p2, p3, p4, p5, p6
          f, p1, p2, p3, p4, p5, p6 = byte(argv[b + 1], 1, 7)
          exp = ((((p1 * 256 + p2) * 256 + p3) * 256 + p4) * 256 + p5) * 256 + p6
        end
        local created = now
        if live and mode ~= C then created = rcreated(o, base) end
        if exp == KEEP then
          exp = 0
          if live and mode ~= C then exp = e end
        elseif exp ~= 0 and f % 2 == 1 then
          exp = now + exp
        end
        at = exp
        local value = argv[b + vo]
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
            h = hdr(f >= 64, now, now, exp, base)
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
    if stepped then call('HSET', key, MARK, enc(M)) end
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
  -- A full log may send the call's token to the overflow, which the
  -- marker notes.
  if log and #log >= LOGN * LOGE then mk() end
  local moved0, ovfexp0 = M and M.moved, M and M.ovfexp
  sets[2] = logput(log, token, dl, now, M, keys[2])
  if not ms or stepped or nxt ~= nxt0 or count ~= count0 or bytes ~= bytes0
      or (M and (M.moved ~= moved0 or M.ovfexp ~= ovfexp0)) then
    local m = mk()
    m.nxt, m.count, m.bytes = nxt, count, bytes
    sets[ns + 1], sets[ns + 2] = MARK, enc(m)
  end
  hcall('HSET', key, sets)
  if dels then hcall('HDEL', key, dels) end
  if counter then return {OK, now, deadline, reclaimed, counter} end
  return {OK, now, deadline, reclaimed}
end

local HA = {} -- a fast write's HSET arguments, when they vary

-- orresent answers a refusal of write's, or RESENT when the call is in the
-- overflow (check: the log is full, so write put off that check).
local function orresent(rep, check, ovkey, token, deadline)
  if check and call('ZSCORE', ovkey, token) then return {RESENT, rep[2], deadline} end
  return rep
end

-- write runs a call of one attribute of a live session (create, set,
-- update, incr, set expiry of a plain record, delete) when nothing about
-- it is rare: no reclaim step due, no marker tail but the overflow's
-- note, a record that decodes, no RESEAL and no NOTINT. It makes the same
-- decisions as writeall with fewer calls, tables and strings, each of
-- which a script pays for; whatever it does not take, writeall does,
-- from what it read.
local function write(keys, argv)
  if not sub then bind() end
  local c, nargs = argv[1], #argv
  -- The call, and the meta it carries for c, s, u and i (mf nil without).
  local t1, t2, t3, t4, t5, t6, d1, d2, d3, d4, d5, d6, mode, owner, n1, n2, n3, n4, b1, b2, b3, b4,
    mf, p1, p2, p3, p4, p5, p6 = byte(c, 9, 37)
  if owner ~= 115 or not ((nargs == 3 and p6 and (mode == S or mode == C or mode == U or mode == I))
      or (nargs == 3 and not mf and mode == X) or (nargs == 2 and not mf and mode == D)) then
    return writeall(keys, argv)
  end
  local key, name = keys[1], argv[2]
  -- Redis's clock, and TIME's strings, which go back in the OK.
  local now, ts, tu = now_ms()
  local r = pcall('HMGET', key, MARK, LOG, name)
  if r.err then return {CORRUPT, now} end
  local ms, log, o = r[1], r[2], r[3]

  -- A live session's marker, with no tail but the overflow's note (a time
  -- at or after every entry there, and till when the overflow lives),
  -- then the counters.
  local lm = ms and #ms or 0
  if lm ~= 36 and lm ~= 48 then return writeall(keys, argv, now, r) end
  local f, k, fl, a1, a2, a3, a4, a5, a6, e1, e2, e3, e4, e5, e6, m1, m2, m3, m4, m5, m6,
    x1, x2, x3, x4, x5, x6, tail, u1, u2, u3, u4, u5, u6, u7, u8, u9, u10, u11, u12,
    u13, u14, u15, u16, u17, u18, u19, u20 = byte(ms, 1, 48)
  local base = ((((a1 * 256 + a2) * 256 + a3) * 256 + a4) * 256 + a5) * 256 + a6
  local deadline = ((((e1 * 256 + e2) * 256 + e3) * 256 + e4) * 256 + e5) * 256 + e6
  local nxt = ((((x1 * 256 + x2) * 256 + x3) * 256 + x4) * 256 + x5) * 256 + x6
  if f ~= FMT or k ~= 76 or deadline <= now or (nxt ~= 0 and nxt <= now)
      or not ((tail == 0 and lm == 36) or (tail == 4 and lm == 48)) then
    return writeall(keys, argv, now, r)
  end
  local moved, ovfexp, count0, bytes0 = 0, 0, 0, 0
  if tail == 4 then
    moved = ((((u1 * 256 + u2) * 256 + u3) * 256 + u4) * 256 + u5) * 256 + u6
    ovfexp = ((((u7 * 256 + u8) * 256 + u9) * 256 + u10) * 256 + u11) * 256 + u12
    count0 = ((u13 * 256 + u14) * 256 + u15) * 256 + u16
    bytes0 = ((u17 * 256 + u18) * 256 + u19) * 256 + u20
  else
    count0 = ((u1 * 256 + u2) * 256 + u3) * 256 + u4
    bytes0 = ((u5 * 256 + u6) * 256 + u7) * 256 + u8
  end

  -- The call: a resend (in the log, or in the overflow if it was sent no
  -- later than the marker's note), then out of its time. The log's first
  -- live entry is found here too: entries before it go with this write,
  -- and a log full of live entries sends the call's token to the
  -- overflow, where ZADD NX both checks for it and records it, so that
  -- check waits till the write (and a refusal checks with ZSCORE).
  local token, ll, first = sub(c, 1, 8), 0, 1
  local t0 = ((((t1 * 256 + t2) * 256 + t3) * 256 + t4) * 256 + t5) * 256 + t6
  if log then
    ll = #log
    if ll % LOGE ~= 0 or ll > LOGN * LOGE then return writeall(keys, argv, now, r) end
    -- find first: inlog's call only when the token is there at all
    if find(log, token, 1, true) and inlog(log, token) then return {RESENT, now, deadline} end
    first = livefrom(log, ll, now)
  end
  local full = first == 1 and ll >= LOGN * LOGE
  local inov = moved ~= 0 and t0 <= moved and moved > now - MAXW -- the overflow may hold the call
  local putoff = inov and full
  if inov and not full and call('ZSCORE', keys[2], token) then return {RESENT, now, deadline} end
  local dl = ((((d1 * 256 + d2) * 256 + d3) * 256 + d4) * 256 + d5) * 256 + d6
  if t0 > now or dl > now + MAXW then return orresent({CLOCK, now}, putoff, keys[2], token, deadline) end
  if now > dl then return orresent({LATE, now}, putoff, keys[2], token, deadline) end

  -- The record it replaces.
  local of, wc, wm, h, e, live, oc = 0, 0, 0, 0, 0, false, base
  if o then
    local o1, o2, o3, o4, o5, o6, we
    of, o1, o2, o3, o4, o5, o6 = byte(o, 1, 7)
    if not of or of >= 128 then return writeall(keys, argv, now, r) end
    wc, wm, we = W[of % 4], W[(of % 16 - of % 4) / 4], W[(of % 64 - of % 16) / 16]
    h = 1 + wc + wm + we
    if #o < h then return writeall(keys, argv, now, r) end
    if we ~= 0 then e = base + un(o, 2 + wc + wm, we) end
    live = e == 0 or e > now
    -- When it was created, which set, update and incr keep.
    if wc == 2 then
      oc = base + o1 * 256 + o2
    elseif wc == 4 then
      oc = base + ((o1 * 256 + o2) * 256 + o3) * 256 + o4
    elseif wc == 6 then
      oc = base + ((((o1 * 256 + o2) * 256 + o3) * 256 + o4) * 256 + o5) * 256 + o6
    end
  end

  -- The new record, and when it expires (at, 0 for never).
  local new, at, counter = nil, 0, nil -- counter: incr's new value, in decimal
  if mode == X then
    -- A sealed record's associated data binds its expiry: RESEAL.
    if not live or of >= 64 then return writeall(keys, argv, now, r) end
    at = now + un(argv[3], 1, 6)
    new = rec(false, oc, oc + un(o, 2 + wc, wm), at, base, sub(o, h + 1))
  elseif mode ~= D then
    if live and mode == C then return orresent({EXISTS, now, name}, putoff, keys[2], token, deadline) end
    if not live and mode == U then return orresent({NOTFOUND, now, name}, putoff, keys[2], token, deadline) end
    local value = argv[3]
    local exp = ((((p1 * 256 + p2) * 256 + p3) * 256 + p4) * 256 + p5) * 256 + p6
    local created = now
    if live and mode ~= C then created = oc end
    if exp == KEEP then
      exp = 0
      if live and mode ~= C then
        -- A value sealed without knowing the expiry it keeps: RESEAL.
        if e ~= 0 and mf >= 64 and mode ~= I then return writeall(keys, argv, now, r) end
        exp = e
      end
    elseif exp ~= 0 and mf % 2 == 1 then
      exp = now + exp
    end
    at = exp
    if mode == I then
      local cur = 0
      if live then
        local v = sub(o, h + 1)
        if of >= 64 or #v > 17 or not find(v, '^%-?%d+$') then return writeall(keys, argv, now, r) end
        cur = tonum(v)
      end
      local sum = cur + tonum(value)
      if sum > MAXINT or sum < -MAXINT then return writeall(keys, argv, now, r) end
      value = fmt('%d', sum)
      counter = value
    end
    new = rec(mf >= 64, created, now, exp, base, value)
  end

  -- The counters, and the limits, which bind only a write that grows.
  local count, bytes = count0, bytes0
  if not new then
    if o then count, bytes = count - 1, bytes - #name - #o end
  elseif o then
    bytes = bytes + #new - #o
  else
    count, bytes = count + 1, bytes + #name + #new
  end
  if count > count0 and count > (((n1 * 256 + n2) * 256 + n3) * 256 + n4) then
    return orresent({TOOMANY, now, count0, 0}, putoff, keys[2], token, deadline)
  end
  if bytes > bytes0 and bytes > (((b1 * 256 + b2) * 256 + b3) * 256 + b4) then
    return orresent({TOOBIG, now, bytes0, 0}, putoff, keys[2], token, deadline)
  end
  if count < 0 then count = 0 end
  if bytes < 0 then bytes = 0 end

  -- The log: dead entries at its head go, then the call's entry (token,
  -- deadline mod 2^32) is appended; or, when it is full of live entries,
  -- the call's token goes to the overflow (unless it is there: a resend),
  -- as logput does, and the marker's note follows.
  local nlog, nmoved, nov = nil, moved, ovfexp
  if full then
    nmoved, nov = overflow(keys[2], token, dl, now, moved, ovfexp)
    if not nmoved then return {RESENT, now, deadline} end
  else
    local head = ''
    if first == 1 then
      head = log or ''
    elseif first < ll then
      head = sub(log, first)
    end
    nlog = head .. token .. B[d3] .. B[d4] .. B[d5] .. B[d6]
    -- A note past the longest deadline goes when the log drops entries.
    if first ~= 1 and moved ~= 0 and moved <= now - MAXW then nmoved, nov = 0, 0 end
  end

  -- The marker, when the counters change, its next expiry moves earlier
  -- or its overflow note changes: for the counters alone, its bytes but
  -- the last 8, then them.
  local nm, nn = nil, nxt
  if at ~= 0 and (nxt == 0 or at < nxt) then nn = at end
  if nn ~= nxt or nmoved ~= moved or nov ~= ovfexp then
    local z1, z2, z3, z4, z5, z6 = b48(nn)
    local y1, y2, y3, y4 = b32(count)
    local w1, w2, w3, w4 = b32(bytes)
    if nmoved ~= 0 then
      local q1, q2, q3, q4, q5, q6 = b48(nmoved)
      local v1, v2, v3, v4, v5, v6 = b48(nov)
      nm = sub(ms, 1, 21) .. B[z1] .. B[z2] .. B[z3] .. B[z4] .. B[z5] .. B[z6] .. B[4]
        .. B[q1] .. B[q2] .. B[q3] .. B[q4] .. B[q5] .. B[q6] .. B[v1] .. B[v2] .. B[v3] .. B[v4] .. B[v5] .. B[v6]
        .. B[y1] .. B[y2] .. B[y3] .. B[y4] .. B[w1] .. B[w2] .. B[w3] .. B[w4]
    else
      nm = sub(ms, 1, 21) .. B[z1] .. B[z2] .. B[z3] .. B[z4] .. B[z5] .. B[z6] .. B[0]
        .. B[y1] .. B[y2] .. B[y3] .. B[y4] .. B[w1] .. B[w2] .. B[w3] .. B[w4]
    end
  elseif count ~= count0 then
    local y1, y2, y3, y4 = b32(count)
    local w1, w2, w3, w4 = b32(bytes)
    nm = sub(ms, 1, lm - 8) .. B[y1] .. B[y2] .. B[y3] .. B[y4] .. B[w1] .. B[w2] .. B[w3] .. B[w4]
  elseif bytes ~= bytes0 then
    -- A record replaced by one of another length: the bytes alone.
    local w1, w2, w3, w4 = b32(bytes)
    nm = sub(ms, 1, lm - 4) .. B[w1] .. B[w2] .. B[w3] .. B[w4]
  end

  -- One HSET of the record, the log (unless the call went to the
  -- overflow) and the marker when it changes.
  if new and nlog and not nm then
    call('HSET', key, name, new, LOG, nlog)
  elseif new and nlog then
    call('HSET', key, name, new, LOG, nlog, MARK, nm)
  elseif o and not new and nlog and nm then
    -- A delete: the log and the counters, then the record.
    call('HSET', key, LOG, nlog, MARK, nm)
    call('HDEL', key, name)
  else
    local n = 0
    if nlog then HA[1], HA[2], n = LOG, nlog, 2 end
    if new then HA[n + 1], HA[n + 2], n = name, new, n + 2 end
    if nm then HA[n + 1], HA[n + 2], n = MARK, nm, n + 2 end
    if n > 0 then call('HSET', key, unpk(HA, 1, n)) end
    if o and not new then call('HDEL', key, name) end
  end
  -- OK as one string (see the header): Redis turns a table into its
  -- reply field by field, after asking it for err, ok and the other
  -- special keys; a string goes as it is.
  if counter then
    return B[OK] .. B[e1] .. B[e2] .. B[e3] .. B[e4] .. B[e5] .. B[e6] .. ts .. '.' .. tu .. ':' .. counter
  end
  return B[OK] .. B[e1] .. B[e2] .. B[e3] .. B[e4] .. B[e5] .. B[e6] .. ts .. '.' .. tu
end
