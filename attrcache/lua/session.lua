-- session.lua: the lifecycle of sessions, and of a user's sessions.
-- argv[1]  the call, 20 bytes: token (8), t0 (6), deadline (6) (see
--          write.lua); argv[2] the op; the rest by op.
-- Session ops: keys[1] the session's hash, keys[2] its resend overflow,
-- keys[3] its user's registry (bound sessions only).
-- 'start'    argv: ttl ms, most ms (0: none), digest, max sessions (bound),
--            policy ('o' end the oldest, 'r' refuse), most attributes, most
--            bytes, then victims' digests (keys[4...]) and, after a '',
--            the first attributes as name, meta, value (write.lua's c).
--            -> {OK, now, deadline} | {SESSIONEXISTS, now} | {CORRUPT, now}
--            | {TOOMANYSESSIONS, now} | {NEEDKEYS, now, digests...}: at
--              the cap, the listed sessions, whose keys the call must name
--            | {TOOMANY, now} | {TOOBIG, now}
-- 'renew'    argv: ttl ms, digest -> {OK, now, deadline} | {NOSESSION, now}
--            The deadline never passes the session's most lifetime.
-- 'end'      argv: digest -> {OK, now} | {NOSESSION, now}
--            | {MOVED, now, digest}: ended already by a rotation that moved
--              it there (the caller ends that one too). Ends a live,
--              frozen or pending session, and clears a key attrcache cannot
--              read.
-- 'freeze'   argv: grace ms, digest -> {OK, now, created, deadline, most, bound}
--            | {NOSESSION, now} | {CORRUPT, now}. A rotation's first step:
--            the session stays readable for grace ms and refuses writes.
-- 'thaw'     argv: rotation token, digest -> {OK, now, deadline} | {NOSESSION, now}
-- Rotation across slots (unbound sessions), after freeze and a read:
-- 'commit'   (the new id) argv: created, deadline, most, pending ms, then
--            name, record pairs -> {OK, now} | {SESSIONEXISTS, now}
--            | {NOSESSION, now} (past the deadline). The new session is
--            pending: neither readable nor writable.
-- 'retire'   (the old id) argv: rotation token, new digest -> {OK, now}
--            | {NOSESSION, now}: ended or thawed meanwhile (logout wins).
-- 'activate' (the new id) -> {OK, now, deadline} | {NOSESSION, now}
-- Rotation within a user's slot (bound sessions), after freeze and a read:
-- 'move'     keys[4] the new hash; argv: rotation token, old digest, new
--            digest, then name, record pairs -> {OK, now, deadline}
--            | {NOSESSION, now} | {SESSIONEXISTS, now}
-- User ops: keys[1] the registry, keys[2] the user's overflow, keys[3] the
-- user's hash, keys[4...] sessions.
-- 'endall'   argv: purge ('1': the user's hash and registry go too), the
--            cutoff (ms; 0 for now), the number of digests to keep, those
--            digests, then the digests of keys[4...] -> {OK, now, ended}
--            | {NEEDKEYS, now, digests...}: live sessions created by the
--            cutoff that the call must name. Sessions created after it
--            began after the call did (its first run) and are left alone,
--            so logins cannot starve a logout everywhere. A purge names
--            every live session.
--
-- Every op answers {RESENT, now, deadline} when its token is in the log
-- (the current deadline, 0 once the session ended), and {CLOCK, now} and
-- {LATE, now} as write.lua does. The log survives Start and End on the
-- same key, so a resent End never ends a session started after it, and a
-- resent Start never restarts one.

-- entry encodes a registry entry: created, deadline.
local function entry(created, deadline) return pn(created, 6) .. pn(deadline, 6) end

-- registry reads a user's registry: its marker (a fresh one when absent)
-- and its live entries as digest -> {created, deadline}; dead entries
-- are deleted on the way, so the registry never lists a session that has
-- ended or expired for longer than until the next call on the user.
-- nil when the key is not a registry.
local function registry(rkey, now)
  local r = pcall('HGETALL', rkey)
  if r.err then return nil end
  local R, live, dead = nil, {}, {}
  for i = 1, #r, 2 do
    local f, v = r[i], r[i + 1]
    if f == MARK then
      R = marker(v)
      if not R or R.k ~= 'G' then return nil end
    elseif #v == 12 and un(v, 7, 6) > now then
      live[f] = {un(v, 1, 6), un(v, 7, 6)}
    else
      dead[#dead + 1] = f
    end
  end
  if #dead > 0 then hcall('HDEL', rkey, dead) end
  R = R or newmarker('G', now)
  return R, live
end

-- regsave writes the registry's marker and log after entries changed:
-- its count, its latest deadline (the key lives until then) and its
-- earliest (when the next prune is due).
local function regsave(rkey, R, live, now)
  local n, most, least = 0, 0, 0
  for _, e in pairs(live) do
    n = n + 1
    if e[2] > most then most = e[2] end
    if least == 0 or e[2] < least then least = e[2] end
  end
  if n == 0 then
    call('DEL', rkey)
    return
  end
  R.count, R.nxt = n, least
  local grow = most > R.deadline
  R.deadline = most
  call('HSET', rkey, MARK, enc(R))
  if grow or not R.raw then call('PEXPIRE', rkey, most - now + GRACE) end
end

-- fastreg returns the registry's marker when a Start may list one more
-- session without reading the registry: the registry is absent, or its
-- marker says no entry's deadline has passed (so none needs pruning) and
-- it lists fewer than maxs sessions. nil otherwise, and for a key that is
-- not a registry (registry then says so).
--
-- The marker's count is never below the entries the registry holds:
-- regsave sets it exact, and every other path that adds an entry adds
-- one to it (a Start even when it relists a digest, a renewal only when
-- its entry was missing). Above the truth it only sends a Start to the
-- full read, which sets it exact again.
local function fastreg(rkey, now, maxs)
  local g = pcall('HGET', rkey, MARK)
  if type(g) == 'table' then return nil end -- not a hash
  if not g then
    if call('EXISTS', rkey) == 1 then return nil end -- entries without a marker
    return newmarker('G', now)
  end
  local R = marker(g)
  if not R or R.k ~= 'G' or (R.nxt ~= 0 and R.nxt <= now) or R.count >= maxs then return nil end
  return R
end

-- regttl is how far past the latest deadline a Start or a renewal that
-- lengthens a registry's life sets its key's TTL: the Starts and
-- renewals of the next ttl/8 (at most an hour) then set none.
local function regttl(deadline, ttl)
  return deadline + mmin(floor(ttl / 8), 3600000)
end

-- relist sets one entry's deadline, keeping the registry's marker (its
-- latest and earliest deadlines) exact. Rotation's rare steps use it.
local function relist(rkey, digest, created, deadline, now)
  local R, live = registry(rkey, now)
  if not R then return end
  live[digest] = {created, deadline}
  call('HSET', rkey, digest, entry(created, deadline))
  regsave(rkey, R, live, now)
end

-- carry appends a rotation's records (name, record pairs in argv from
-- index first) to sets, the new session's HSET, counting them into N.
local function carry(N, argv, first, sets)
  for j = first, #argv - 1, 2 do
    local name, new = argv[j], argv[j + 1]
    sets[#sets + 1] = name
    sets[#sets + 1] = new
    N.count = N.count + 1
    N.bytes = N.bytes + #name + #new
    expiring(N, rexp(new, N.created) or 0)
  end
  return sets
end

-- oldest returns the digests of the k oldest live entries, by created.
local function oldest(live, k)
  local all = {}
  for d, e in pairs(live) do all[#all + 1] = {d, e[1]} end
  table.sort(all, function(a, b) return a[2] < b[2] or (a[2] == b[2] and a[1] < b[1]) end)
  local out = {}
  for i = 1, k do out[i] = all[i][1] end
  return out
end

local function session(keys, argv)
  if not sub then bind() end
  local key, c, op = keys[1], argv[1], argv[2]
  local token, dl = sub(c, 1, 8), un(c, 15, 6)
  local now = now_ms()

  if op == 'endall' then
    -- The registry holds no log: this rare call keeps its token in the
    -- overflow, which outlives a registry the call deletes.
    -- Its entry is the token and the count it ended, so a resend
    -- reports the first run's count; entries share a score only when
    -- their deadlines do, so the lookup reads one or two.
    for _, m in ipairs(call('ZRANGE', keys[2], dl, dl, 'BYSCORE')) do
      if sub(m, 1, 8) == token then return {RESENT, now, tonum(sub(m, 9))} end
    end
    if un(c, 9, 6) > now or dl > now + MAXW then return {CLOCK, now} end
    if now > dl then return {LATE, now} end
    local R, live = registry(key, now)
    if not R then return {CORRUPT, now} end
    local purge, cutoff, nkeep = argv[3] == '1', tonum(argv[4]), tonum(argv[5])
    if purge then
      cutoff = math.huge -- the registry goes: every session must be named
    elseif cutoff == 0 then
      cutoff = now
    end
    local keep, named = {}, {}
    for i = 1, nkeep do keep[argv[5 + i]] = true end
    local first = 6 + nkeep
    for i = first, #argv do named[argv[i]] = keys[4 + i - first] end
    local missing = {}
    for d, e in pairs(live) do
      if not keep[d] and not named[d] and e[1] <= cutoff then missing[#missing + 1] = d end
    end
    if #missing > 0 then return reply(NEEDKEYS, now, missing) end
    local ended = 0
    for d, skey in pairs(named) do
      if not keep[d] then
        if victim(skey, now) then ended = ended + 1 end
        live[d] = nil
        call('HDEL', key, d)
      end
    end
    if purge then
      call('DEL', key, keys[3])
    elseif R.raw then
      regsave(key, R, live, now)
    end
    call('ZADD', keys[2], dl, token .. ended)
    keepuntil(keys[2], dl + 5000, now)
    return {OK, now, ended}
  end

  local r = pcall('HMGET', key, MARK, LOG)
  local M, log = false, nil
  if not r.err then
    M, log = marker(r[1]), r[2]
  end
  if log and not logok(log) then
    -- A log attrcache did not write: End clears it with the rest.
    if op ~= 'end' then return {CORRUPT, now} end
    log = nil
  end
  local stop = callcheck(c, log, M, now, keys[2])
  if stop then return stop end
  -- logged returns the log with this call in it, for the marker N that
  -- is written with it; call it only on the way to a write.
  local function logged(N)
    if M then N.moved, N.ovfexp = M.moved, M.ovfexp end
    return logput(log, token, dl, now, N, keys[2])
  end
  local rkey = keys[3]

  if op == 'end' then
    -- Whatever End finds, a bound session's registry entry goes: a
    -- session that is gone (purged, expired, a rotation cut short) must
    -- not stay listed.
    local function unlist()
      if rkey and call('HDEL', rkey, argv[3]) == 1 then
        local R, live = registry(rkey, now)
        if R then regsave(rkey, R, live, now) end
      end
    end
    -- A key attrcache cannot read (false) is cleared.
    if M == nil and call('EXISTS', key) == 0 then
      unlist()
      return {NOSESSION, now}
    elseif M then
      if M.k == 'E' then
        unlist()
        local to = call('HGET', key, MOVEDF)
        if to then return {MOVED, now, to} end
        return {NOSESSION, now}
      end
      if (M.k == 'L' or M.k == 'R' or M.k == 'P')
          and (M.deadline <= now or (M.k ~= 'L' and M.rotdl <= now)) then
        unlist()
        return {NOSESSION, now}
      end
    end
    tombstone(key, now, M and M.bound, log, M or nil, c, keys[2])
    if rkey then
      local R, live = registry(rkey, now)
      if R and live[argv[3]] then
        live[argv[3]] = nil
        call('HDEL', rkey, argv[3])
        regsave(rkey, R, live, now)
      end
    end
    return {OK, now}
  end

  if M == false then return {CORRUPT, now} end
  local alive = holds(M, now)
  if M and not (M.k == 'L' or M.k == 'R' or M.k == 'P' or M.k == 'E') then return {CORRUPT, now} end

  if op == 'start' then
    if alive then return {SESSIONEXISTS, now} end
    local ttl, most, digest = tonum(argv[3]), tonum(argv[4]), argv[5]
    local maxs, policy, maxn, maxb = tonum(argv[6]), argv[7], tonum(argv[8]), tonum(argv[9])
    local N = newmarker('L', now)
    N.deadline = now + ttl
    if most > 0 then
      N.most = now + most
      if N.deadline > N.most then N.deadline = N.most end
    end
    -- The victims named, then '' and the attributes.
    local i, victims, nv = 10, {}, 0
    while argv[i] ~= '' do
      nv = nv + 1
      victims[argv[i]] = keys[3 + nv]
      i = i + 1
    end
    local sets = {MARK, false, LOG, false}
    for j = i + 1, #argv - 2, 3 do
      local name, meta, value = argv[j], argv[j + 1], argv[j + 2]
      local exp = un(meta, 2, 6)
      if exp == KEEP then exp = 0 elseif exp ~= 0 and byte(meta, 1) % 2 == 1 then exp = now + exp end
      local new = rec(byte(meta, 1) >= 64, now, now, exp, now, value)
      sets[#sets + 1] = name
      sets[#sets + 1] = new
      N.count = N.count + 1
      N.bytes = N.bytes + #name + #new
      expiring(N, exp)
    end
    if N.count > maxn then return {TOOMANY, now, 0, 0} end
    if N.bytes > maxb then return {TOOBIG, now, 0, 0} end
    -- A bound session joins its user's registry. With room under the cap
    -- and no entry due for pruning (fastreg), the Start adds its entry
    -- without reading the registry; otherwise it reads the registry
    -- whole, prunes it and applies the cap.
    local R, live
    if rkey then
      N.bound = true
      R = fastreg(rkey, now, maxs)
      if not R then
        R, live = registry(rkey, now)
        if not R then return {CORRUPT, now} end
        local n = 0
        for _ in pairs(live) do n = n + 1 end
        if n >= maxs then
          -- At the cap the call names the listed sessions, and looks at
          -- each it named: one whose key vanished without End (deleted by
          -- hand, evicted) holds no place, and leaves the registry here.
          -- Sessions started since the call named them are fresh, and a
          -- session started later is never older.
          local all, pruned = {}, false
          for d in pairs(live) do
            if victims[d] then
              local g = pcall('HGET', victims[d], MARK)
              local S = type(g) == 'string' and marker(g)
              if not holds(S, now) then
                live[d] = nil
                call('HDEL', rkey, d)
                n, pruned = n - 1, true
              end
            else
              all[#all + 1] = d
            end
          end
          local function stop(r)
            if pruned then regsave(rkey, R, live, now) end
            return r
          end
          if n >= maxs and #all == n then return stop(reply(NEEDKEYS, now, all)) end
          if n >= maxs and policy == 'r' then return stop({TOOMANYSESSIONS, now}) end
          if n >= maxs then
            for _, d in ipairs(oldest(live, n - maxs + 1)) do
              if not victims[d] then return stop(reply(NEEDKEYS, now, all)) end
            end
          end
        end
        if n >= maxs then
          for _, d in ipairs(oldest(live, n - maxs + 1)) do
            victim(victims[d], now)
            live[d] = nil
            call('HDEL', rkey, d)
          end
        end
      end
    end
    sets[4] = logged(N)
    sets[2] = enc(N)
    call('DEL', key)
    hcall('HSET', key, sets)
    call('PEXPIRE', key, N.deadline - now + GRACE)
    if rkey and not live then
      -- Listed without reading the registry: its marker keeps the
      -- latest deadline and a lower bound of the earliest.
      if R.nxt == 0 or N.deadline < R.nxt then R.nxt = N.deadline end
      local grow = N.deadline > R.deadline
      if grow then R.deadline = regttl(N.deadline, ttl) end
      R.count = R.count + 1
      call('HSET', rkey, digest, entry(now, N.deadline), MARK, enc(R))
      if grow or not R.raw then call('PEXPIRE', rkey, R.deadline - now + GRACE) end
    elseif rkey then
      live[digest] = {now, N.deadline}
      call('HSET', rkey, digest, entry(now, N.deadline))
      regsave(rkey, R, live, now)
    end
    return {OK, now, N.deadline}
  end

  if op == 'commit' then
    if alive then return {SESSIONEXISTS, now} end
    local N = newmarker('P', tonum(argv[3]))
    N.deadline, N.most = tonum(argv[4]), tonum(argv[5])
    if N.deadline <= now then return {NOSESSION, now} end
    N.rotdl, N.rottok = now + tonum(argv[6]), token
    local sets = carry(N, argv, 7, {MARK, false, LOG, false})
    sets[4] = logged(N)
    sets[2] = enc(N)
    call('DEL', key)
    hcall('HSET', key, sets)
    call('PEXPIRE', key, N.rotdl - now + GRACE)
    return {OK, now}
  end

  if not alive then return {NOSESSION, now} end

  if op == 'activate' then
    if M.k ~= 'P' or M.rotdl <= now then return {NOSESSION, now} end
    M.k, M.rotdl, M.rottok = 'L', 0, false
    local l = logged(M)
    call('HSET', key, MARK, enc(M), LOG, l)
    call('PEXPIRE', key, M.deadline - now + GRACE)
    return {OK, now, M.deadline}
  end

  if op == 'retire' then
    if M.k ~= 'R' or M.rottok ~= argv[3] or M.rotdl <= now then return {NOSESSION, now} end
    tombstone(key, now, M.bound, log, M, c, keys[2], argv[4])
    return {OK, now}
  end

  if op == 'thaw' then
    if M.k ~= 'R' or M.rottok ~= argv[3] or M.rotdl <= now then return {NOSESSION, now} end
    M.k, M.rotdl, M.rottok = 'L', 0, false
    local l = logged(M)
    call('HSET', key, MARK, enc(M), LOG, l)
    if rkey then relist(rkey, argv[4], M.created, M.deadline, now) end
    return {OK, now, M.deadline}
  end

  if op == 'move' then
    if M.k ~= 'R' or M.rottok ~= argv[3] or M.rotdl <= now then return {NOSESSION, now} end
    local nkey = keys[4]
    local O = marker(call('HGET', nkey, MARK))
    if O == false then return {CORRUPT, now} end
    if holds(O, now) then return {SESSIONEXISTS, now} end
    local N = newmarker('L', M.created)
    N.deadline, N.most, N.bound = M.deadline, M.most, true
    local sets = carry(N, argv, 6, {MARK, false})
    sets[2] = enc(N)
    call('DEL', nkey)
    hcall('HSET', nkey, sets)
    call('PEXPIRE', nkey, N.deadline - now + GRACE)
    tombstone(key, now, true, log, M, c, keys[2], argv[5])
    local R, live = registry(rkey, now)
    if R then
      live[argv[4]] = nil
      call('HDEL', rkey, argv[4])
      live[argv[5]] = {M.created, N.deadline}
      call('HSET', rkey, argv[5], entry(M.created, N.deadline))
      regsave(rkey, R, live, now)
    end
    return {OK, now, N.deadline}
  end

  -- renew and freeze change a live session only.
  if M.k ~= 'L' then return {NOSESSION, now} end

  if op == 'renew' then
    M.deadline = now + tonum(argv[3])
    if M.most > 0 and M.deadline > M.most then M.deadline = M.most end
    local l = logged(M)
    call('HSET', key, MARK, enc(M), LOG, l)
    call('PEXPIRE', key, M.deadline - now + GRACE)
    if rkey then
      -- Keep the registry's entry exact; prune it only when an entry may
      -- have died (its earliest deadline passed), so a renewal costs an
      -- HGET and an HSET.
      local R = marker(call('HGET', rkey, MARK))
      local added = call('HSET', rkey, argv[4], entry(M.created, M.deadline))
      if not R or R.k ~= 'G' or R.nxt <= now then
        local R2, live = registry(rkey, now)
        if R2 then regsave(rkey, R2, live, now) end
      else
        -- The marker keeps a time at or after the latest deadline (the
        -- key's life), a lower bound of the earliest (when a prune is
        -- due) and a count at or above the entries' (see fastreg): a
        -- Start relies on the last two to skip reading the registry.
        local grow, sooner = M.deadline > R.deadline, M.deadline < R.nxt
        if grow then R.deadline = regttl(M.deadline, tonum(argv[3])) end
        if sooner then R.nxt = M.deadline end
        if added == 1 then R.count = R.count + 1 end
        if grow or sooner or added == 1 then call('HSET', rkey, MARK, enc(R)) end
        if grow then call('PEXPIRE', rkey, R.deadline - now + GRACE) end
      end
    end
    return {OK, now, M.deadline}
  end

  if op == 'freeze' then
    M.k, M.rotdl, M.rottok = 'R', now + tonum(argv[3]), token
    M.cursor, M.cycmin = 0, 0
    if M.nxt ~= 0 then M.nxt = now end -- the reclaim cycle starts again after a thaw
    local l = logged(M)
    call('HSET', key, MARK, enc(M), LOG, l)
    if rkey and M.rotdl < M.deadline then
      -- A frozen session dies at its rotation deadline unless the
      -- rotation moves or thaws it: so does its registry entry, which
      -- then never lists a rotation cut short.
      relist(rkey, argv[4], M.created, M.rotdl, now)
    end
    local bound = 0
    if M.bound then bound = 1 end
    return {OK, now, M.created, M.deadline, M.most, bound}
  end

  return redis.error_reply('attrcache: unknown session op')
end
