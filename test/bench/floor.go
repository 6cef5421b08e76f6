package bench

// FloorLib is a Redis Functions library of scripts that do part of what
// a write script must do, and nothing else. Each takes a Set's keys (the
// session's hash and its overflow key) and a Set's arguments (the call,
// 30 bytes; the name; the meta, 7 bytes; the record) and answers as a
// write does.
//
// floor is the floor under every single-attribute write: a script that
// reads Redis's clock (TIME), reads two fields of the hash (the marker
// and the attribute: HMGET) and writes one (HSET). Any script that judges
// a write against the session and Redis's clock does at least that.
// The others are the steps up to it. test/bench/instr counts the
// instructions of the same floor.
const FloorLib = `#!lua name=attrcache_bench_floor
redis.register_function('floor_return', function(keys, argv)
  return {0, 0, 0}
end)
redis.register_function('floor_time', function(keys, argv)
  local t = redis.call('TIME')
  return {0, tonumber(t[1]) * 1000, 0}
end)
redis.register_function('floor_time_hmget', function(keys, argv)
  local t = redis.call('TIME')
  local r = redis.call('HMGET', keys[1], '\0', argv[2])
  return {0, tonumber(t[1]) * 1000, 0}
end)
redis.register_function('floor', function(keys, argv)
  local t = redis.call('TIME')
  local r = redis.call('HMGET', keys[1], '\0', argv[2])
  redis.call('HSET', keys[1], argv[2], argv[4])
  return {0, tonumber(t[1]) * 1000, 0}
end)
`
