-- lib.lua: helpers shared by the attrcache scripts. scripts.go prepends it
-- to each script (EVALSHA) or loads it once as a Redis Functions library
-- (FCALL): either way each call is one command.
--
-- The stored format is documented once, in record.go; this is a summary.
--   field "\0"  session marker, 56 bytes (format 2), or 22 bytes (format 1,
--               written before the counters existed; upgraded on write)
--   field "\1"  resend log of recently applied call tokens (see logopen)
--   any other   attribute record: [1] version<<4 | flags, [2..7] created,
--               [8..13] modified, [14..19] expires-at (0: with the
--               session), then the value; version 1 records carry 5 more
--               header bytes (an old call token) before the value
--
-- Every script returns {status, now, ...}: now is Redis's clock in ms, from
-- which the Go side keeps its estimate of that clock.
local OK, NOSESSION, EXISTS, NOTFOUND, CORRUPT, TOOMANY, SESSIONEXISTS, TOOBIG, LATE, RESENT, UNSURE =
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
local MARK, LOG = '\0', '\1'
local MARKLEN, MARKLEN1 = 56, 22
local GRACE = 30000   -- ms a session key outlives its deadline, and a tombstone lives
local LOGMAX = 256    -- most entries in the resend log
local RETAIN = 30000  -- ms an entry of the resend log is kept
local SCAN = '8'      -- HSCAN COUNT of one reclaim step

-- Library functions are bound when a call starts (bind), not here: a Redis
-- Functions library reaches the standard library only while it runs.
local sub, byte, char, find, floor, call, pcall, unpk, concat
local HEAD0 -- the first byte of a version 2 record without flags
local function bind()
  sub, byte, char, find, floor = string.sub, string.byte, string.char, string.find, math.floor
  call, pcall, unpk, concat = redis.call, redis.pcall, unpack, table.concat
  HEAD0 = char(32)
end

-- u48 reads a 6-byte big-endian integer at 1-based offset i. Lua numbers
-- are doubles: 48 bits are exact.
local function u48(s, i)
  local a, b, c, d, e, f = byte(s, i, i + 5)
  return ((((a * 256 + b) * 256 + c) * 256 + d) * 256 + e) * 256 + f
end

-- p48 writes n (0 <= n < 2^48) as 6 big-endian bytes.
local function p48(n)
  local lo = n % 16777216
  local hi = (n - lo) / 16777216
  return char(floor(hi / 65536), floor(hi / 256) % 256, hi % 256,
    floor(lo / 65536), floor(lo / 256) % 256, lo % 256)
end

-- now_ms is the Redis server's clock: every application instance agrees.
local function now_ms()
  local t = call('TIME')
  return tonumber(t[1]) * 1000 + floor(tonumber(t[2]) / 1000)
end

-- hdr is the header size of a valid record, nil for anything else.
local function hdr(s)
  local n = #s
  if n < 19 then return nil end
  local v = floor(byte(s, 1) / 16)
  if v == 2 then return 19 end
  if v == 1 and n >= 24 then return 24 end
  return nil
end

-- marker decodes a session marker: nil when absent, false when it is not
-- one attrcache wrote. The fields every call needs are decoded at once,
-- the others by more. Format 1 markers come back with legacy set and no
-- counters; the writer that meets one upgrades it (see upgrade).
local function marker(s)
  if not s then return nil end
  local n, f = #s, byte(s, 1)
  if f == 2 and n == MARKLEN then
    local st = sub(s, 2, 2)
    if st ~= 'L' and st ~= 'E' and st ~= 'R' then return false end
    local c, b, x = u48(s, 21), u48(s, 27), u48(s, 33)
    return {raw = s, st = st, deadline = u48(s, 9), count = c, bytes = b, nextexp = x,
      count0 = c, bytes0 = b, nextexp0 = x}
  end
  if f == 1 and n == MARKLEN1 then
    local st = sub(s, 2, 2)
    if st ~= 'L' and st ~= 'E' then return false end
    return {st = st, created = u48(s, 3), deadline = u48(s, 17), maxdl = 0,
      count = 0, bytes = 0, nextexp = 0, cycmin = 0, cursor = 0, rotdl = 0, legacy = true}
  end
  return false
end

-- more decodes the fields marker left out.
local function more(M)
  local s = M.raw
  if s and not M.created then
    M.created, M.maxdl, M.cycmin, M.cursor, M.rotdl = u48(s, 3), u48(s, 15), u48(s, 39), u48(s, 45), u48(s, 51)
  end
  return M
end

-- enc encodes a marker. A write that changed only the counters copies the
-- other bytes instead of encoding them again: a script's time is shared
-- by every client of the server.
local function enc(M)
  local s = M.raw
  if s and not M.created then
    local c, b, x = sub(s, 21, 26), sub(s, 27, 32), sub(s, 33, 38)
    if M.count ~= M.count0 then c = p48(M.count) end
    if M.bytes ~= M.bytes0 then b = p48(M.bytes) end
    if M.nextexp ~= M.nextexp0 then x = p48(M.nextexp) end
    return sub(s, 1, 20) .. c .. b .. x .. sub(s, 39, 56)
  end
  return char(2) .. M.st .. p48(M.created) .. p48(M.deadline) .. p48(M.maxdl) .. p48(M.count)
    .. p48(M.bytes) .. p48(M.nextexp) .. p48(M.cycmin) .. p48(M.cursor) .. p48(M.rotdl)
end

-- alive tells whether a session may be read at now: live, or frozen by a
-- rotation that has not run out.
local function alive(M, now)
  if M.st == 'E' or M.deadline <= now then return false end
  return M.st == 'L' or more(M).rotdl > now
end

-- upgrade gives a format-1 session the counters of format 2: the count
-- from HLEN; the stored bytes are not known and start at 0; a reclaim
-- cycle is due, which learns the records' expiry times.
local function upgrade(key, M, now)
  M.count = call('HLEN', key) - 1 - call('HEXISTS', key, LOG)
  if M.count < 0 then M.count = 0 end
  M.nextexp = now
  M.legacy = nil
end

-- The resend log: [1..6] base ms, [7..12] "dropped": no entry applied
-- after this time (ms) has been dropped, then 10-byte entries in the order
-- they were applied: an 8-byte call token and the u16 time it was applied,
-- in milliseconds after base. An entry is kept RETAIN ms (longer than any
-- call's deadline, see scripts.go), and at most LOGMAX are kept.

-- logged tells whether log holds token: entries start at 13, 23, 33, ...,
-- so a match elsewhere is not one.
local function logged(log, token)
  local i = find(log, token, 13, true)
  while i do
    if (i - 13) % 10 == 0 then return true end
    i = find(log, token, i + 1, true)
  end
  return false
end

-- logopen drops the entries older than RETAIN, and the oldest beyond
-- LOGMAX - 1 so one more fits. It returns the log as a table.
local function logopen(log, now)
  if #log < 12 then return {base = now, dropped = 0, body = '', raw = ''} end
  local base, dropped = u48(log, 1), u48(log, 7)
  local n = (#log - 12) / 10
  local cut, limit, i = n - LOGMAX + 1, now - RETAIN, 0
  while i < n do
    local hi, lo = byte(log, 21 + 10 * i, 22 + 10 * i)
    local at = base + hi * 256 + lo
    if i >= cut and at >= limit then break end
    if at > dropped then dropped = at end
    i = i + 1
  end
  if i == 0 then return {base = base, dropped = dropped, raw = log} end
  return {base = base, dropped = dropped, body = sub(log, 13 + 10 * i)}
end

-- logput returns the log with token appended, applied at now.
local function logput(L, token, now)
  local base, body = L.base, L.body
  if L.raw == '' or body == '' then base = now end
  local d = now - base
  if L.raw and L.raw ~= '' and d >= 0 and d <= 65535 then
    return L.raw .. token .. char(floor(d / 256), d % 256)
  end
  body = body or sub(L.raw, 13)
  if d < 0 or d > 65535 then
    -- Rare: entries kept for more than a minute in a row, or a clock
    -- step. Every kept entry is younger than RETAIN: rebase before them.
    local nb, t = now - RETAIN - 10000, {}
    for i = 1, #body, 10 do
      local hi, lo = byte(body, i + 8, i + 9)
      local e = base + hi * 256 + lo - nb
      if e < 0 then e = 0 elseif e > 65535 then e = 65535 end
      t[#t + 1] = sub(body, i, i + 7) .. char(floor(e / 256), e % 256)
    end
    base, body, d = nb, concat(t), now - nb
  end
  return p48(base) .. p48(L.dropped) .. body .. token .. char(floor(d / 256), d % 256)
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
local function reply(code, now, names)
  local out = {code, now}
  for i = 1, #names do out[i + 2] = names[i] end
  return out
end

-- reclaim runs one bounded step of the session's reclaim cycle: HSCAN
-- from the saved cursor, delete the expired records it returns (except
-- those in skip, which the calling write handles), and keep the counters
-- exact. cycmin gathers the earliest expiry of what stays; when the
-- cursor comes back to 0, every record has been seen and it becomes the
-- session's next expiry. Returns how many records were deleted.
local function reclaim(key, M, now, skip)
  more(M)
  local r = call('HSCAN', key, M.cursor, 'COUNT', SCAN)
  local kv, dead = r[2], {}
  local cyc = M.cycmin
  for j = 1, #kv, 2 do
    local f, v = kv[j], kv[j + 1]
    if byte(f, 1) >= 32 then
      local h = hdr(v)
      if h then
        local e = u48(v, 14)
        if e ~= 0 and e <= now and not skip[f] then
          dead[#dead + 1] = f
          M.count = M.count - 1
          M.bytes = M.bytes - #f - #v
        elseif e ~= 0 and (cyc == 0 or e < cyc) then
          cyc = e
        end
      end
    end
  end
  if #dead > 0 then hcall('HDEL', key, dead) end
  if M.count < 0 then M.count = 0 end
  if M.bytes < 0 then M.bytes = 0 end
  local cur = tonumber(r[1])
  if cur == 0 or cur >= 281474976710656 then
    M.cursor, M.nextexp, M.cycmin = 0, cyc, 0
  else
    M.cursor, M.cycmin = cur, cyc
  end
  return #dead
end

-- expiring notes a record written with expiry at (ms, 0 for none), so the
-- reclaim cycle knows when to run and does not lose it mid-cycle.
local function expiring(M, at)
  if at == 0 then return end
  if M.nextexp == 0 or at < M.nextexp then M.nextexp = at end
  -- The cursor is decoded only when a reclaim step ran; without one, no
  -- cycle is under way (a cycle runs a step on every write until done).
  if M.cursor and M.cursor ~= 0 and (M.cycmin == 0 or at < M.cycmin) then M.cycmin = at end
end
