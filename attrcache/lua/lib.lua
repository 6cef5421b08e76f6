-- lib.lua: helpers shared by attrcache's scripts. The backend loads the
-- scripts once as a Redis Functions library (FCALL), or prepends this file
-- to each script (EVALSHA) where Functions are missing: either way a call
-- is one command.
--
-- The stored format (format 3) is documented once, in package
-- internal/format (doc.go); the helpers below carry the names of its Go
-- codecs. In short:
--   field "\0"  marker: format 3, kind, flags, created, deadline, most,
--               count (3), bytes (4), next, tail flags, optional tails
--   field "\1"  resend log: up to 5 entries of token (8) and deadline
--               mod 2^32 (4); older live entries in the overflow zset
--   field "\2"  a rotated session's tombstone: the digest it moved to
--   any other   record: a flags byte (width codes of three offsets, bit 6
--               sealed), the offsets (created, modified - created,
--               expires), then the value
--
-- Every script returns {status, now, ...}: now is Redis's clock in ms, from
-- which the Go side keeps its estimate of that clock.
local OK, NOSESSION, EXISTS, NOTFOUND, CORRUPT, TOOMANY, SESSIONEXISTS, TOOBIG, LATE, RESENT,
  CLOCK, RESEAL, CHANGED, TOOMANYSESSIONS, NEEDKEYS, NOTINT, MOVED =
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
local MARK, LOG, MOVEDF = '\0', '\1', '\2'
local GRACE = 30000    -- ms a key outlives its deadline, and a tombstone lives
local MAXW = 30000     -- ms: the latest deadline a call may carry, from now
local LOGN, LOGE = 5, 12
local SCAN = '8'       -- HSCAN COUNT of one reclaim step
local TWO32, TWO31 = 4294967296, 2147483648
local MAXINT = 9007199254740991 -- 2^53 - 1: counters beyond it lose digits
local KEEP = 281474976710655    -- 2^48 - 1: an expiry argument that keeps the current one

-- Library functions are bound when a call starts (bind), not here: a Redis
-- Functions library reaches the standard library only while it runs.
local sub, byte, char, find, floor, call, pcall, unpk, tonum, fmt
local W -- widths of the record header's codes
local function bind()
  sub, byte, char, find, floor = string.sub, string.byte, string.char, string.find, math.floor
  call, pcall, unpk, tonum, fmt = redis.call, redis.pcall, unpack, tonumber, string.format
  W = {[0] = 0, 2, 4, 6}
end

-- un reads w big-endian bytes at 1-based offset i (w of 0, 2, 3, 4, 6).
-- Lua numbers are doubles: 48 bits are exact.
local function un(s, i, w)
  if w == 0 then return 0 end
  local a, b, c, d, e, f = byte(s, i, i + w - 1)
  if w == 2 then return a * 256 + b end
  if w == 3 then return (a * 256 + b) * 256 + c end
  if w == 4 then return ((a * 256 + b) * 256 + c) * 256 + d end
  return ((((a * 256 + b) * 256 + c) * 256 + d) * 256 + e) * 256 + f
end

-- pn writes n (0 <= n < 2^(8w)) as w big-endian bytes.
local function pn(n, w)
  if w == 0 then return '' end
  if w == 2 then return char(floor(n / 256), n % 256) end
  if w == 3 then return char(floor(n / 65536), floor(n / 256) % 256, n % 256) end
  if w == 4 then
    return char(floor(n / 16777216) % 256, floor(n / 65536) % 256, floor(n / 256) % 256, n % 256)
  end
  local lo = n % 16777216
  local hi = (n - lo) / 16777216
  return char(floor(hi / 65536), floor(hi / 256) % 256, hi % 256,
    floor(lo / 65536), floor(lo / 256) % 256, lo % 256)
end

-- now_ms is the Redis server's clock: every application instance agrees.
local function now_ms()
  local t = call('TIME')
  return tonum(t[1]) * 1000 + floor(tonum(t[2]) / 1000)
end

-- marker decodes a marker (ParseMarker): nil when absent, false when it
-- is not one attrcache wrote.
local function marker(s)
  if not s then return nil end
  local n = #s
  if n < 35 or byte(s, 1) ~= 3 then return false end
  local k = sub(s, 2, 2)
  if not (k == 'L' or k == 'R' or k == 'P' or k == 'E' or k == 'U' or k == 'G') then return false end
  local tail = byte(s, 35)
  local cyc, rot, ovf = tail % 2 == 1, floor(tail / 2) % 2 == 1, floor(tail / 4) % 2 == 1
  local want = 35
  if cyc then want = want + 12 end
  if rot then want = want + 14 end
  if ovf then want = want + 12 end
  if tail >= 8 or n ~= want then return false end
  local M = {raw = s, k = k, bound = byte(s, 3) % 2 == 1, created = un(s, 4, 6),
    deadline = un(s, 10, 6), most = un(s, 16, 6), count = un(s, 22, 3), bytes = un(s, 25, 4),
    nxt = un(s, 29, 6), cycmin = 0, cursor = 0, rotdl = 0, rottok = false, moved = 0, ovfexp = 0}
  local i = 36
  if cyc then M.cycmin, M.cursor, i = un(s, i, 6), un(s, i + 6, 6), i + 12 end
  if rot then M.rotdl, M.rottok, i = un(s, i, 6), sub(s, i + 6, i + 13), i + 14 end
  if ovf then M.moved, M.ovfexp = un(s, i, 6), un(s, i + 6, 6) end
  M.count0, M.bytes0, M.nxt0, M.tail0, M.dl0, M.most0 = M.count, M.bytes, M.nxt, tail, M.deadline, M.most
  return M
end

-- newmarker is a fresh marker of kind k.
local function newmarker(k, created)
  return {k = k, bound = false, created = created, deadline = 0, most = 0, count = 0, bytes = 0,
    nxt = 0, cycmin = 0, cursor = 0, rotdl = 0, rottok = false, moved = 0, ovfexp = 0}
end

-- enc encodes a marker (Marker.Append). A write that changed only the
-- counters copies the other bytes instead of encoding them again: a
-- script's time is shared by every client of the server.
local function enc(M)
  local tail = 0
  if M.cursor ~= 0 then tail = tail + 1 end
  if M.rottok then tail = tail + 2 end
  if M.moved ~= 0 then tail = tail + 4 end
  local s = M.raw
  if s and tail == 0 and M.tail0 == 0 and M.k == sub(s, 2, 2) and M.deadline == M.dl0 and M.most == M.most0 then
    local mid = sub(s, 22, 34)
    if M.count ~= M.count0 or M.bytes ~= M.bytes0 or M.nxt ~= M.nxt0 then
      mid = pn(M.count, 3) .. pn(M.bytes, 4) .. pn(M.nxt, 6)
    end
    return sub(s, 1, 21) .. mid .. sub(s, 35)
  end
  local flags = 0
  if M.bound then flags = 1 end
  local out = char(3) .. M.k .. char(flags) .. pn(M.created, 6) .. pn(M.deadline, 6) .. pn(M.most, 6)
    .. pn(M.count, 3) .. pn(M.bytes, 4) .. pn(M.nxt, 6) .. char(tail)
  if M.cursor ~= 0 then out = out .. pn(M.cycmin, 6) .. pn(M.cursor, 6) end
  if M.rottok then out = out .. pn(M.rotdl, 6) .. M.rottok end
  if M.moved ~= 0 then out = out .. pn(M.moved, 6) .. pn(M.ovfexp, 6) end
  return out
end

-- readable tells whether a session (or user hash) may be read at now.
local function readable(M, now)
  if M.k == 'U' then return true end
  if M.deadline <= now then return false end
  return M.k == 'L' or (M.k == 'R' and M.rotdl > now)
end

-- rexp returns a record's expiry (0: none) and its header's length, or
-- nil when the bytes are not a record (HeaderLen, ParseRecord).
local function rexp(s, base)
  local b = byte(s, 1)
  if not b or b >= 128 then return nil end
  local wc, wm, we = W[b % 4], W[floor(b / 4) % 4], W[floor(b / 16) % 4]
  local h = 1 + wc + wm + we
  if #s < h then return nil end
  if we == 0 then return 0, h end
  return base + un(s, 2 + wc + wm, we), h
end

-- rcreated returns a record's created time (the header is valid).
local function rcreated(s, base)
  local b = byte(s, 1)
  return base + un(s, 2, W[b % 4])
end

-- code is the width code of n (code in Go).
local function code(n)
  if n == 0 then return 0 elseif n < 65536 then return 1 elseif n < TWO32 then return 2 end
  return 3
end

-- rec builds a record (AppendRecord): times absolute, exp 0 for none.
local function rec(sealed, created, modified, exp, base, value)
  local co = created - base
  if co < 0 then co = 0 end
  local md = modified - created
  if md < 0 then md = 0 end
  local eo = 0
  if exp ~= 0 then
    eo = exp - base
    if eo < 1 then eo = 1 end
  end
  local a, b, c = code(co), code(md), code(eo)
  local f = a + b * 4 + c * 16
  if sealed then f = f + 64 end
  return char(f) .. pn(co, W[a]) .. pn(md, W[b]) .. pn(eo, W[c]) .. value
end

-- inlog tells whether the resend log holds token at an entry's start.
local function inlog(log, token)
  local i = find(log, token, 1, true)
  while i do
    if (i - 1) % LOGE == 0 then return true end
    i = find(log, token, i + 1, true)
  end
  return false
end

-- resent tells whether the call with token, sent at t0 at the earliest,
-- already ran: its token is in the log, or in the overflow, which only
-- a call sent before the last move to it may be found in.
local function resent(log, M, token, t0, now, ovkey)
  if log and inlog(log, token) then return true end
  if M and M.moved ~= 0 and t0 <= M.moved and M.moved > now - MAXW then
    local sc = call('ZSCORE', ovkey, token)
    if sc then return true end
  end
  return false
end

-- keepuntil makes key live till at least at (ms); never shortens it, as
-- other hashes of the slot share an overflow key.
local function keepuntil(key, at, now)
  local t = call('PTTL', key)
  if t < at - now then call('PEXPIRE', key, at - now) end
end

-- logput returns the log with token appended, kept till dl. Expired
-- entries go; when the log is full, its oldest entry moves to the
-- overflow, a sorted set of tokens by deadline, and M notes when.
local function logput(log, token, dl, now, M, ovkey)
  local nowm = now % TWO32
  local out, n = '', 0
  if log then
    for i = 1, #log - LOGE + 1, LOGE do
      local left = (un(log, i + 8, 4) - nowm) % TWO32
      if left > 0 and left < TWO31 then
        out = out .. sub(log, i, i + LOGE - 1)
        n = n + 1
      end
    end
  end
  if n >= LOGN then
    local tok, till = sub(out, 1, 8), now + (un(out, 9, 4) - nowm) % TWO32
    out = sub(out, LOGE + 1)
    call('ZADD', ovkey, till, tok)
    M.moved = now
    -- Keep the overflow till its newest entry's deadline, extended in
    -- steps so that a busy hash seldom pays for PEXPIRE; and prune it on
    -- about one call in 16 (chosen by the token, so a resend does the
    -- same), so a busy hash keeps about one window of entries.
    if M.ovfexp < till + 1000 then
      M.ovfexp = till + 5000
      keepuntil(ovkey, M.ovfexp, now)
    end
    if byte(token, 1) < 16 then call('ZREMRANGEBYSCORE', ovkey, '-inf', now) end
  elseif M.moved ~= 0 and M.moved <= now - MAXW then
    M.moved, M.ovfexp = 0, 0
  end
  return out .. token .. pn(dl % TWO32, 4)
end

-- logok tells whether a resend log field is one attrcache wrote.
local function logok(log)
  local n = #log
  return n % LOGE == 0 and n <= LOGN * LOGE
end

-- callcheck judges a call's token, start and deadline (argv[1]: token (8),
-- t0 (6), deadline (6)). It returns a reply when the call must not run:
-- RESENT when it ran before, CLOCK when its start is after Redis's clock
-- or its deadline too far (the caller's estimate of the clock is off), LATE
-- after its deadline; nil when it may run.
local function callcheck(c, log, M, now, ovkey)
  local token, t0, dl = sub(c, 1, 8), un(c, 9, 6), un(c, 15, 6)
  if resent(log, M, token, t0, now, ovkey) then
    return {RESENT, now, M and M.deadline or 0}
  end
  if t0 > now or dl > now + MAXW then return {CLOCK, now} end
  if now > dl then return {LATE, now} end
  return nil
end

-- hmget reads fields of key in chunks (unpack of thousands of values
-- would overflow Lua's C stack); nil when key is not a hash.
local function hmget(key, fields)
  if #fields <= 1000 then
    local r = pcall('HMGET', key, unpk(fields))
    if r.err then return nil end
    return r
  end
  local t = {}
  for i = 1, #fields, 1000 do
    local part = pcall('HMGET', key, unpk(fields, i, math.min(i + 999, #fields)))
    if part.err then return nil end
    for j = 1, #part do t[#t + 1] = part[j] end
  end
  return t
end

-- hcall runs cmd on key with list as arguments, in chunks of an even size
-- so field/value pairs stay together.
local function hcall(cmd, key, list)
  local i = 1
  while i <= #list do
    local j = math.min(i + 999, #list)
    call(cmd, key, unpk(list, i, j))
    i = j + 1
  end
end

-- reply prefixes a list of names with a status code and now.
local function reply(code_, now, names)
  local out = {code_, now}
  for i = 1, #names do out[i + 2] = names[i] end
  return out
end

-- reclaim runs one bounded step of the hash's reclaim cycle: HSCAN from
-- the saved cursor, delete the expired records it returns (except those
-- in skip, which the calling write handles), and keep the counters
-- exact. cycmin gathers the earliest expiry of what stays; when the
-- cursor comes back to 0, every record has been seen and it becomes the
-- hash's next expiry. Returns how many records were deleted.
local function reclaim(key, M, now, skip)
  local r = call('HSCAN', key, M.cursor, 'COUNT', SCAN)
  local kv, dead = r[2], {}
  local cyc, base = M.cycmin, M.created
  for j = 1, #kv, 2 do
    local f, v = kv[j], kv[j + 1]
    if byte(f, 1) >= 32 then
      local e = rexp(v, base)
      if e and e ~= 0 then
        if e <= now and not skip[f] then
          dead[#dead + 1] = f
          M.count = M.count - 1
          M.bytes = M.bytes - #f - #v
        elseif cyc == 0 or e < cyc then
          cyc = e
        end
      end
    end
  end
  if #dead > 0 then hcall('HDEL', key, dead) end
  if M.count < 0 then M.count = 0 end
  if M.bytes < 0 then M.bytes = 0 end
  local cur = tonum(r[1])
  if cur == 0 or cur >= 281474976710656 then
    M.cursor, M.nxt, M.cycmin = 0, cyc, 0
  else
    M.cursor, M.cycmin = cur, cyc
  end
  return #dead
end

-- expiring notes a record written with expiry at (ms, 0 for none), so the
-- reclaim cycle knows when to run and does not lose it mid-cycle.
local function expiring(M, at)
  if at == 0 then return end
  if M.nxt == 0 or at < M.nxt then M.nxt = at end
  if M.cursor ~= 0 and (M.cycmin == 0 or at < M.cycmin) then M.cycmin = at end
end

-- tombstone replaces a session's hash by its tombstone, kept GRACE ms: a
-- marker of kind 'E', the resend log (with the call's own entry when c is
-- given) and, for a session a rotation moved, where it went. M is the
-- hash's marker, if it could be read: a tombstone keeps its overflow's
-- note, so a resent call is still recognised.
local function tombstone(key, now, bound, log, M, c, ovkey, movedto)
  local T = newmarker('E', now)
  T.bound = bound
  if M then T.moved, T.ovfexp = M.moved, M.ovfexp end
  log = log or ''
  if c then log = logput(log, sub(c, 1, 8), un(c, 15, 6), now, T, ovkey) end
  call('DEL', key)
  if movedto then
    call('HSET', key, MARK, enc(T), LOG, log, MOVEDF, movedto)
  else
    call('HSET', key, MARK, enc(T), LOG, log)
  end
  call('PEXPIRE', key, GRACE)
end

-- victim ends another session of the user (an EndSessions, a cap): its
-- own log and overflow note stay, for its resends.
local function victim(key, now)
  local r = call('HMGET', key, MARK, LOG)
  local S = marker(r[1])
  if S and (S.k == 'L' or S.k == 'R' or S.k == 'P') and S.deadline > now then
    tombstone(key, now, true, r[2], S)
    return true
  end
  return false
end
