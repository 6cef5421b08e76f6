package bench

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// floorLib is a Redis Functions library of scripts that each do part of
// what attrcache's write script must do for a Set, and nothing else. They
// take a Set's keys and arguments and answer as a write does. The floor
// under a write: what any script that reads Redis's clock, the session's
// marker, log and record, and writes them back, costs on this server.
const floorLib = `#!lua name=attrcache_bench_floor
redis.register_function('floor_return', function(keys, argv)
  return {0, 0, 0}
end)
redis.register_function('floor_time', function(keys, argv)
  local t = redis.call('TIME')
  return {0, tonumber(t[1]) * 1000, 0}
end)
redis.register_function('floor_time_hmget', function(keys, argv)
  local t = redis.call('TIME')
  local r = redis.call('HMGET', keys[1], '\0', '\1', argv[7])
  return {0, tonumber(t[1]) * 1000, 0}
end)
redis.register_function('floor_time_hmget_hset', function(keys, argv)
  local t = redis.call('TIME')
  local r = redis.call('HMGET', keys[1], '\0', '\1', argv[7])
  redis.call('HSET', keys[1], '\0', r[1], '\1', r[2], argv[7], r[3])
  return {0, tonumber(t[1]) * 1000, 0}
end)
`

// floorReturn is floor_return as a script, for EVALSHA.
var floorReturn = redis.NewScript(`return {0, 0, 0}`)

// BenchmarkScriptFloor: Set of one attribute of a session of
// getSessionSize attributes whose resend log is kept short (emptied
// outside the timer every 4 calls, so the session stays a listpack, as a
// session written now and then is), beside scripts that do only part of
// its work on the same session with the same arguments: return at once
// (FCALL and EVALSHA), read TIME, then HMGET the marker, the log and the
// record, then HSET them back unchanged. And raw HSET on a raw hash of
// the same fields. server-µs/op tells where a write's time goes: the
// commands any such script must call, or attrcache's Lua between them.
func BenchmarkScriptFloor(b *testing.B) {
	e := newEnv(b)
	if err := e.rdb.FunctionLoad(ctx, floorLib).Err(); err != nil {
		b.Fatalf("FUNCTION LOAD: %v", err)
	}
	ns, v := names(getSessionSize), value(valueSize)
	name := ns[getSessionSize/2]
	sess := e.session(b)
	fill(b, sess, ns, v)
	keys := []string{sess.Key()}
	// A Set's arguments: op, call token, begun, deadline, limits, then
	// name, flags, expiration, value.
	args := func() []any {
		now := time.Now().UnixMilli()
		return []any{"s", "12345678", now, now + 15_000, 1_000, 1 << 20, name, 0, -1, v}
	}
	const every = 4
	short := func() {
		if err := e.rdb.HDel(ctx, sess.Key(), logField).Err(); err != nil {
			b.Fatal(err)
		}
	}
	for _, fn := range []string{"floor_return", "floor_time", "floor_time_hmget", "floor_time_hmget_hset"} {
		b.Run(fn, func(b *testing.B) {
			loop(b, e.rdb, writeCmds, 0, nothing, func(int) error {
				return e.rdb.FCall(ctx, fn, keys, args()...).Err()
			})
		})
	}
	b.Run("evalsha_return", func(b *testing.B) {
		loop(b, e.rdb, writeCmds, 0, nothing, func(int) error {
			return floorReturn.Run(ctx, e.rdb, keys, args()...).Err()
		})
	})
	b.Run("attrcache-Set", func(b *testing.B) {
		loop(b, e.rdb, writeCmds, every, short, func(int) error {
			return sess.Set(ctx, name, v)
		})
		b.ReportMetric(e.hashtable(b, sess.Key()), "hashtable")
	})
	b.Run("raw-HSET", func(b *testing.B) {
		key := e.rawKey()
		e.fillRaw(b, key, ns, v)
		loop(b, e.rdb, cmds("hset"), 0, nothing, func(int) error {
			return e.rdb.HSet(ctx, key, name, v).Err()
		})
	})
}
