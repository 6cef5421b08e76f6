-- lib.lua: helpers shared by attrcache's scripts. The backend loads the
-- scripts once as a Redis Functions library (FCALL), or prepends this file
-- to each script (EVALSHA) where Functions are missing: either way a call
-- is one command.
--
-- The stored format (format 4) is documented once, in package
-- internal/format (doc.go); the helpers below carry the names of its Go
-- codecs. In short:
--   field "\0"  marker: format 4, kind, flags, created, deadline, most,
--               next, tail flags, optional tails, then the counters:
--               attribute count (4) and stored bytes (4)
--   field "\1"  resend log: up to 5 entries of token (8) and deadline
--               mod 2^32 (4); more live entries in the overflow zset
--   field "\2"  a rotated session's tombstone: the digest it moved to
--   any other   record: a flags byte (width codes of three offsets, bit 6
--               sealed), the offsets (created, modified - created,
--               expires), then the value
--
-- Every script returns {status, now, ...}: now is Redis's clock in ms, from
-- which the Go side keeps its estimate of that clock. The one exception is
-- the common write's OK (write.lua), sent as one string that Redis need
-- not convert (backend.ShortReply).
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
local sub, byte, char, find, floor, call, pcall, unpk, tonum, fmt, mmin
local W -- widths of the record header's codes
-- B maps a byte to its one-byte string, made on first use: a
-- concatenation of B's strings makes a header with one new string, where
-- string.char makes one more and costs a C call. A Functions library keeps
-- it between calls; a script run by EVALSHA fills it again each time.
local B
local function bind()
  sub, byte, char, find, floor = string.sub, string.byte, string.char, string.find, math.floor
  call, pcall, unpk, tonum, fmt, mmin = redis.call, redis.pcall, unpack, tonumber, string.format, math.min
  W = {[0] = 0, 2, 4, 6}
  B = setmetatable({}, {__index = function(t, k)
    local s = char(k)
    t[k] = s
    return s
  end})
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

-- b48 splits n (0 <= n < 2^48) into its 6 big-endian bytes. Division
-- of what % leaves is exact: no math.floor, whose C call costs a script
-- more than the arithmetic.
local function b48(n)
  local f = n % 256
  n = (n - f) / 256
  local e = n % 256
  n = (n - e) / 256
  local d = n % 256
  n = (n - d) / 256
  local c = n % 256
  n = (n - c) / 256
  local b = n % 256
  return (n - b) / 256, b, c, d, e, f
end

-- b32 splits n (0 <= n < 2^32) into its 4 big-endian bytes.
local function b32(n)
  local d = n % 256
  n = (n - d) / 256
  local c = n % 256
  n = (n - c) / 256
  local b = n % 256
  return (n - b) / 256, b, c, d
end

-- pn writes n (0 <= n < 2^(8w)) as w big-endian bytes.
local function pn(n, w)
  if w == 0 then return '' end
  if w == 2 then local lo = n % 256 return char((n - lo) / 256, lo) end
  if w == 3 then
    local a, b, c, d = b32(n)
    return char(b, c, d)
  end
  if w == 4 then return char(b32(n)) end
  return char(b48(n))
end

-- now_ms is the Redis server's clock in ms: every application instance
-- agrees. Arithmetic turns TIME's decimal strings into numbers without
-- the C call tonumber would cost. It also returns those strings (seconds,
-- microseconds), which a write's short OK carries as they are.
local function now_ms()
  local t = call('TIME')
  local ts, tu = t[1], t[2]
  local us = tu + 0
  return ts * 1000 + (us - us % 1000) / 1000, ts, tu
end

-- FMT is the stored format, a marker's first byte.
local FMT = 4

-- mlen is the length a marker must have for its tail flags: the fixed
-- part, the tails the flags name, and the counters (8); nil for flags
-- attrcache never writes.
local function mlen(tail)
  if tail >= 8 then return nil end
  local want = 36
  if tail % 2 == 1 then want = want + 12 end
  if tail % 4 >= 2 then want = want + 14 end
  if tail % 8 >= 4 then want = want + 12 end
  return want
end

-- mhead reads what a write needs of a marker, without a table: its kind
-- as a byte, flags, created, deadline, most, next, tail flags, count and
-- bytes; nil when the bytes are not a marker attrcache wrote. Strings
-- cost a script more than numbers (each is hashed and interned), so the
-- fixed part is read with one string.byte.
local function mhead(s)
  local n = #s
  if n < 36 then return nil end
  local f, k, fl, a1, a2, a3, a4, a5, a6, d1, d2, d3, d4, d5, d6, m1, m2, m3, m4, m5, m6,
    x1, x2, x3, x4, x5, x6, tail = byte(s, 1, 28)
  if f ~= FMT or not (k == 76 or k == 82 or k == 80 or k == 69 or k == 85 or k == 71) then return nil end
  if n ~= mlen(tail) then return nil end
  local c1, c2, c3, c4, y1, y2, y3, y4 = byte(s, n - 7, n)
  return k, fl, ((((a1 * 256 + a2) * 256 + a3) * 256 + a4) * 256 + a5) * 256 + a6,
    ((((d1 * 256 + d2) * 256 + d3) * 256 + d4) * 256 + d5) * 256 + d6,
    ((((m1 * 256 + m2) * 256 + m3) * 256 + m4) * 256 + m5) * 256 + m6,
    ((((x1 * 256 + x2) * 256 + x3) * 256 + x4) * 256 + x5) * 256 + x6, tail,
    ((c1 * 256 + c2) * 256 + c3) * 256 + c4, ((y1 * 256 + y2) * 256 + y3) * 256 + y4
end

-- marker decodes a marker whole (ParseMarker), tails included, into a
-- table made with one constructor: nil when it is absent, false when it
-- is not one attrcache wrote.
local function marker(s)
  if not s then return nil end
  local k, fl, created, deadline, most, nxt, tail, count, bytes = mhead(s)
  if not k then return false end
  local M = {raw = s, k = char(k), bound = fl % 2 == 1, created = created, deadline = deadline, most = most,
    nxt = nxt, count = count, bytes = bytes, tail = tail,
    cycmin = 0, cursor = 0, rotdl = 0, rottok = false, moved = 0, ovfexp = 0}
  if tail ~= 0 then
    local i = 29
    if tail % 2 == 1 then M.cycmin, M.cursor, i = un(s, i, 6), un(s, i + 6, 6), i + 12 end
    if tail % 4 >= 2 then M.rotdl, M.rottok, i = un(s, i, 6), sub(s, i + 6, i + 13), i + 14 end
    if tail % 8 >= 4 then M.moved, M.ovfexp = un(s, i, 6), un(s, i + 6, 6) end
  end
  return M
end

-- newmarker is a fresh marker of kind k.
local function newmarker(k, created)
  return {k = k, bound = false, created = created, deadline = 0, most = 0, count = 0, bytes = 0,
    nxt = 0, tail = 0, cycmin = 0, cursor = 0, rotdl = 0, rottok = false, moved = 0, ovfexp = 0}
end

-- c32 is n as 4 bytes, capped at 2^32 - 1 (the counters).
local function c32(n)
  if n >= TWO32 then n = TWO32 - 1 end
  if n < 0 then n = 0 end
  return char(b32(n))
end

-- enc encodes a marker (Marker.Append): its fixed part with one
-- string.char, the tails (rare) after it, then the counters.
local function enc(M)
  local tail = 0
  if M.cursor ~= 0 then tail = tail + 1 end
  if M.rottok then tail = tail + 2 end
  if M.moved ~= 0 then tail = tail + 4 end
  local fl = 0
  if M.bound then fl = 1 end
  local a1, a2, a3, a4, a5, a6 = b48(M.created)
  local d1, d2, d3, d4, d5, d6 = b48(M.deadline)
  local m1, m2, m3, m4, m5, m6 = b48(M.most)
  local x1, x2, x3, x4, x5, x6 = b48(M.nxt)
  local out = char(FMT, byte(M.k), fl, a1, a2, a3, a4, a5, a6, d1, d2, d3, d4, d5, d6, m1, m2, m3, m4, m5, m6,
    x1, x2, x3, x4, x5, x6, tail)
  if M.cursor ~= 0 then out = out .. pn(M.cycmin, 6) .. pn(M.cursor, 6) end
  if M.rottok then out = out .. pn(M.rotdl, 6) .. M.rottok end
  if M.moved ~= 0 then out = out .. pn(M.moved, 6) .. pn(M.ovfexp, 6) end
  return out .. c32(M.count) .. c32(M.bytes)
end

-- holds tells whether marker S holds a session at now: live, frozen by a
-- rotation or pending one, before its deadline. false for nil or false.
local function holds(S, now)
  return S and (S.k == 'L' or S.k == 'R' or S.k == 'P') and S.deadline > now or false
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
  local wc, wm, we = W[b % 4], W[(b % 16 - b % 4) / 4], W[(b % 64 - b % 16) / 16]
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

-- HB holds a record header while it is built: a table the library
-- reuses, which each script fills before it reads it.
local HB = {}

-- hput writes n (> 0) into HB after position i as the fewest of 2, 4 or 6
-- big-endian bytes, and returns the new position and the width's code.
local function hput(i, n)
  local H = HB
  if n < 65536 then
    local lo = n % 256
    H[i + 1], H[i + 2] = (n - lo) / 256, lo
    return i + 2, 1
  end
  if n < TWO32 then
    H[i + 1], H[i + 2], H[i + 3], H[i + 4] = b32(n)
    return i + 4, 2
  end
  H[i + 1], H[i + 2], H[i + 3], H[i + 4], H[i + 5], H[i + 6] = b48(n)
  return i + 6, 3
end

-- rec builds a record (AppendRecord): times absolute, exp 0 for none. The
-- header's bytes go into HB, then out with the value in one
-- concatenation for the usual lengths of header. Every write runs this,
-- and each Lua operation or call costs a script: an offset of 0 (none)
-- costs one comparison, and B's strings spare string.char's C call.
local function rec(sealed, created, modified, exp, base, value)
  local co = created - base
  if co < 0 then co = 0 end
  local md = modified - created
  if md < 0 then md = 0 end
  local f, n, a = 0, 1, 0
  if sealed then f = 64 end
  if co ~= 0 then
    n, a = hput(1, co)
    f = f + a
  end
  if md ~= 0 then
    n, a = hput(n, md)
    f = f + a * 4
  end
  if exp ~= 0 then
    local eo = exp - base
    if eo < 1 then eo = 1 end
    n, a = hput(n, eo)
    f = f + a * 16
  end
  if n == 1 then return B[f] .. value end
  local H = HB
  if n == 3 then return B[f] .. B[H[2]] .. B[H[3]] .. value end
  if n == 5 then return B[f] .. B[H[2]] .. B[H[3]] .. B[H[4]] .. B[H[5]] .. value end
  if n == 7 then return B[f] .. B[H[2]] .. B[H[3]] .. B[H[4]] .. B[H[5]] .. B[H[6]] .. B[H[7]] .. value end
  H[1] = f
  return char(unpk(H, 1, n)) .. value
end

-- hdr builds a record's header alone.
local function hdr(sealed, created, modified, exp, base)
  return rec(sealed, created, modified, exp, base, '')
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
-- already ran: its token is in the log, or in the overflow, which only a
-- call sent no later than the marker's note (M.moved) may be found in.
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

-- NOTE is how far ahead of a call the marker's overflow note is set
-- when the call's token goes to the overflow: the note is at least the
-- time of every entry there, and a busy session rewrites its marker for
-- it about once a second rather than on every write.
local NOTE = 1000

-- livefrom returns where the log's first live entry starts (len + 1 when
-- none is): the entries before it are dead and go with the next write.
local function livefrom(log, len, now)
  local nowm, i = now % TWO32, 1
  while i < len do
    local y1, y2, y3, y4 = byte(log, i + 8, i + 11)
    local left = (((y1 * 256 + y2) * 256 + y3) * 256 + y4 - nowm) % TWO32
    if left > 0 and left < TWO31 then return i end
    i = i + LOGE
  end
  return i
end

-- overflow records a call in the overflow, kept till its deadline dl,
-- when its log is full of live entries. moved and ovfexp are the marker's
-- note and the overflow's expiry; it returns their new values, or nil
-- when the overflow holds the token already (ZADD NX: a resend). The
-- overflow is kept till its newest entry's deadline, extended in steps so
-- that a busy hash seldom pays for PEXPIRE, and pruned on about one call
-- in 16 (chosen by the token, so a resend does the same), so a busy hash
-- keeps about one window of entries.
local function overflow(ovkey, token, dl, now, moved, ovfexp)
  if call('ZADD', ovkey, 'NX', dl, token) == 0 then return nil end
  if moved < now then moved = now + NOTE end
  if ovfexp < dl + 1000 then
    ovfexp = dl + 5000
    keepuntil(ovkey, ovfexp, now)
  end
  if byte(token, 1) < 16 then call('ZREMRANGEBYSCORE', ovkey, '-inf', now) end
  return moved, ovfexp
end

-- logput returns the log with token appended, kept till dl. Expired
-- entries at its head go (entries are in the order applied, and their
-- deadlines mostly too; one that expires behind a live one goes when it
-- reaches the head); when the log is full of live entries, the token goes
-- to the overflow instead (overflow), and M's note follows. The caller
-- has checked that the call is no resend.
local function logput(log, token, dl, now, M, ovkey)
  local len = log and #log or 0
  local first = 1
  if len > 0 then first = livefrom(log, len, now) end
  if first == 1 and len >= LOGN * LOGE then
    local moved, ovfexp = overflow(ovkey, token, dl, now, M.moved, M.ovfexp)
    if moved then M.moved, M.ovfexp = moved, ovfexp end
    return log
  end
  -- A note past the longest deadline goes when the log drops entries.
  if first ~= 1 and M and M.moved ~= 0 and M.moved <= now - MAXW then M.moved, M.ovfexp = 0, 0 end
  local entry = token .. char(b32(dl % TWO32))
  if first == 1 then return (log or '') .. entry end
  if first < len then return sub(log, first) .. entry end
  return entry
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
    local part = pcall('HMGET', key, unpk(fields, i, mmin(i + 999, #fields)))
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
    local j = mmin(i + 999, #list)
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
  if holds(S, now) then
    tombstone(key, now, true, r[2], S)
    return true
  end
  return false
end
