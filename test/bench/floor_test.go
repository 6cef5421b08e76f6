package bench

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
)

// loadFloor loads FloorLib on e's server.
func (e *env) loadFloor(b *testing.B) {
	b.Helper()
	if err := e.rdb.FunctionLoad(ctx, FloorLib).Err(); err != nil && !strings.Contains(err.Error(), "already exists") {
		b.Fatalf("FUNCTION LOAD: %v", err)
	}
}

// floorArgs are a Set's arguments: the call (30 bytes), the name, the
// meta (7 bytes), and the record (a 3-byte header and the value).
var floorArgs = []any{strings.Repeat("c", 30), target, strings.Repeat("m", 7), strings.Repeat("r", 3+valueSize)}

// floorKeys are the keys a write of sess names.
func floorKeys(sess *attrcache.Session) []string {
	return []string{sess.Key(), strings.Replace(sess.Key(), ":s:", ":l:", 1)}
}

// floorSide runs fn of FloorLib on the i-th of sessions, or on sessions[0]
// when there is one.
func floorSide(rdb *redis.Client, fn string, sessions []*attrcache.Session) side {
	keys := make([][]string, len(sessions))
	for i, s := range sessions {
		keys[i] = floorKeys(s)
	}
	return side{cmds: writeCmds, op: func(i int) error {
		return rdb.FCall(ctx, fn, keys[i%len(keys)], floorArgs...).Err()
	}}
}

// floorReturn is floor_return as a script, for EVALSHA.
var floorReturn = redis.NewScript(`return {0, 0, 0}`)

// BenchmarkFloor: the steps up to the floor, each beside a raw HSET of
// the same field on a raw hash of the same fields: a function that
// returns at once (FCALL, and a script by EVALSHA), one that reads TIME,
// one that reads TIME and HMGETs two fields, and the floor (TIME, HMGET,
// HSET). Each runs on quiet sessions of sessionAttrs attributes, one per
// call. It shows what any script costs on this server before it does
// anything.
func BenchmarkFloor(b *testing.B) {
	e := newEnv(b)
	e.loadFloor(b)
	pool := e.pool(b, e.store, calls+1, typical())
	raw := e.rawKey()
	e.fillRaw(b, raw, typical(), sessionTTL)
	v := value(valueSize)
	hset := side{cmds: cmds("hset"), op: func(int) error { return e.rdb.HSet(ctx, raw, target, v).Err() }}
	for _, fn := range []string{"floor_return", "floor_time", "floor_time_hmget", "floor"} {
		b.Run(fn, func(b *testing.B) {
			compare(b, e, calls, floorSide(e.rdb, fn, pool), hset)
		})
	}
	b.Run("evalsha_return", func(b *testing.B) {
		compare(b, e, calls, side{cmds: writeCmds, op: func(i int) error {
			return floorReturn.Run(ctx, e.rdb, floorKeys(pool[i]), floorArgs...).Err()
		}}, hset)
	})
}
