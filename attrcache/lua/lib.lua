-- lib.lua: helpers shared by every attrcache script. scripts.go prepends
-- this file to each script, so each script stays one EVALSHA.
--
-- Layout (see record.go for the authoritative description):
--   session hash field "\0" (MARK)   session marker, 22 bytes:
--     [1] format 1  [2] state 'L' live / 'E' ended (tombstone)
--     [3..8] created ms  [9..16] token of the Start or End that wrote it
--     [17..22] deadline ms: the session's end. The key itself lives
--     GRACE longer, so a resent Start can still recognise its first run.
--   any other field                  attribute record:
--     [1] version<<4 | flags  [2..7] created ms  [8..13] modified ms
--     [14..19] expires-at ms (0: lives as long as the session)
--     [20..24] write token  [25..] value bytes
--
-- Reply convention: every script returns a table whose first element is a
-- status code; codes are mirrored in scripts.go.
local OK, NOSESSION, EXISTS, NOTFOUND, CORRUPT, TOOMANY, SESSIONEXISTS = 0, 1, 2, 3, 4, 5, 6
local MARK = '\0'
local HDR = 24
local MARKLEN = 22
local GRACE = 30000

-- u48 reads a 6-byte big-endian integer at 1-based offset i. Lua numbers
-- are doubles: 48 bits are exact.
local function u48(s, i)
  local a, b, c, d, e, f = string.byte(s, i, i + 5)
  return ((((a * 256 + b) * 256 + c) * 256 + d) * 256 + e) * 256 + f
end

-- p48 writes n (0 <= n < 2^48) as 6 big-endian bytes.
local function p48(n)
  local f = n % 256; n = (n - f) / 256
  local e = n % 256; n = (n - e) / 256
  local d = n % 256; n = (n - d) / 256
  local c = n % 256; n = (n - c) / 256
  local b = n % 256; n = (n - b) / 256
  return string.char(n % 256, b, c, d, e, f)
end

-- now_ms is the Redis server's clock: every application instance agrees.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- rec_ok tells whether s is a record of a version these scripts read.
local function rec_ok(s)
  return #s >= HDR and math.floor(string.byte(s, 1) / 16) == 1
end

-- live tells whether a valid record has not expired at now.
local function live(s, now)
  local e = u48(s, 14)
  return e == 0 or e > now
end

-- state reads a session marker m (false when absent) at now: 'live' or
-- 'expired' (past its deadline, key not yet reclaimed), each with the
-- marker and the deadline; 'ended' (tombstone) with the marker; 'none';
-- or 'corrupt' (a marker these scripts did not write).
local function state(m, now)
  if not m then return 'none' end
  if #m ~= MARKLEN or string.byte(m, 1) ~= 1 then return 'corrupt' end
  local st = string.sub(m, 2, 2)
  if st == 'E' then return 'ended', m end
  if st ~= 'L' then return 'corrupt' end
  local dl = u48(m, 17)
  if dl > now then return 'live', m, dl end
  return 'expired', m, dl
end

-- session reads the marker of key and returns its state (see state); a
-- key of another type is 'corrupt'.
local function session(key, now)
  local m = redis.pcall('HGET', key, MARK)
  if type(m) == 'table' then return 'corrupt' end
  return state(m, now)
end

-- fetch reads the marker and the named fields of key in one HMGET (in
-- chunks, for Lua's stack): t[1] is the marker, t[i + 1] the field
-- names[i + from - 1]. nil when key is of another type.
local function fetch(key, names, from)
  local args, t = {MARK}, {}
  for i = from, #names do args[#args + 1] = names[i] end
  for i = 1, #args, 1000 do
    local part = redis.pcall('HMGET', key, unpack(args, i, math.min(i + 999, #args)))
    if part.err then return nil end
    for j = 1, #part do t[#t + 1] = part[j] end
  end
  return t
end

-- marker builds a session marker.
local function marker(state, created, token, dl)
  return string.char(1) .. state .. p48(created) .. token .. p48(dl)
end

-- gone maps a non-live session state to its reply.
local function gone(st)
  if st == 'corrupt' then return {CORRUPT} end
  return {NOSESSION}
end

-- clamp turns a relative expiration into an absolute one that never
-- passes the session's own deadline.
local function clamp(now, ms, limit)
  local at = now + ms
  if limit > 0 and at > limit then at = limit end
  return at
end

-- hcall runs cmd on key with the items of list as arguments, in chunks:
-- unpack of thousands of values would overflow Lua's C stack. Chunks hold
-- an even count, so field/value pairs stay together.
local function hcall(cmd, key, list)
  local i = 1
  while i <= #list do
    local j = math.min(i + 999, #list)
    redis.call(cmd, key, unpack(list, i, j))
    i = j + 1
  end
end

-- reply prefixes a list of names with a status code.
local function reply(code, names)
  local out = {code}
  for i = 1, #names do out[i + 1] = names[i] end
  return out
end

