package bench

import (
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
)

// counterName is the counter the Incr case adds to.
const counterName = "count"

// BenchmarkWrite: Redis's execution time of every single-attribute write,
// against the floor (see floorLib), calls of each, in turns:
//
//   - Create: a new attribute in a quiet session of sessionAttrs
//     attributes of valueSize bytes (written more than quietAfter ago,
//     so its resend log holds only dead entries), one session per call;
//   - Set-quiet: Set of one of its attributes, one quiet session per
//     call;
//   - Set-hot: Set of one attribute of one session, on every call from
//     one goroutine: its resend log is always full and its overflow key
//     takes an entry on every call; the floor runs on one hash too;
//   - Update, Delete, SetExpiry (a plain value), Incr (of a counter the
//     session holds besides its attributes): one quiet session per call.
func BenchmarkWrite(b *testing.B) {
	e := newEnv(b)
	e.loadFloor(b)
	v := value(valueSize)
	// quiet compares op on quiet sessions of the typical attributes and
	// more against the floor on quiet sessions made beside them.
	quiet := func(b *testing.B, op func(*attrcache.Session) error, more ...attrcache.Attr) {
		p := e.pools(b, calls+1, e.unbound(e.store, append(typical(), more...)), e.unbound(e.store, typical()))
		compare(b, e, calls, side{cmds: writeCmds, op: func(i int) error { return op(p[0][i]) }}, floorSide(e.rdb, "floor", p[1]))
	}
	b.Run("Create", func(b *testing.B) {
		quiet(b, func(s *attrcache.Session) error { return s.Create(ctx, "fresh", v) })
	})
	b.Run("Set-quiet", func(b *testing.B) {
		quiet(b, func(s *attrcache.Session) error { return s.Set(ctx, target, v) })
	})
	b.Run("Set-hot", func(b *testing.B) {
		hot, floor := e.session(b, e.store, typical()), e.session(b, e.store, typical())
		compare(b, e, calls, side{cmds: writeCmds, op: func(int) error { return hot.Set(ctx, target, v) }},
			floorSide(e.rdb, "floor", []*attrcache.Session{floor}))
	})
	b.Run("Update", func(b *testing.B) {
		quiet(b, func(s *attrcache.Session) error { return s.Update(ctx, target, v) })
	})
	b.Run("Delete", func(b *testing.B) {
		quiet(b, func(s *attrcache.Session) error { return s.Delete(ctx, target) })
	})
	b.Run("SetExpiry", func(b *testing.B) {
		quiet(b, func(s *attrcache.Session) error { return s.SetExpiry(ctx, target, time.Hour) })
	})
	b.Run("Incr", func(b *testing.B) {
		quiet(b, func(s *attrcache.Session) error {
			_, err := s.Incr(ctx, counterName, 1)
			return err
		}, attrcache.Attr{Name: counterName, Value: []byte("0")})
	})
}

// BenchmarkGet: Get of one attribute of a session of sessionAttrs
// attributes vs raw HGET of one field of a raw hash of the same fields
// and values (a read is one plain HMGET of the marker and the name), on
// a client with ContextTimeoutEnabled (as package config builds it) and
// without (go-redis's default), Get and HGET on the same client.
func BenchmarkGet(b *testing.B) {
	e := newEnv(b)
	raw := e.rawKey()
	e.fillRaw(b, raw, typical(), sessionTTL)
	for _, on := range []bool{true, false} {
		b.Run("ctxtimeout="+strconv.FormatBool(on), func(b *testing.B) {
			rdb := e.client(b, func(o *redis.Options) { o.ContextTimeoutEnabled = on })
			sess := e.session(b, newStore(b, rdb), typical())
			compare(b, e, calls,
				side{cmds: readCmds, op: func(int) error { _, err := sess.Get(ctx, target); return err }},
				side{cmds: cmds("hget"), op: func(int) error { return rdb.HGet(ctx, raw, target).Err() }})
		})
	}
}

// batchSize is the size of the batch benchmarks.
const batchSize = 100

// BenchmarkCreateMany: CreateMany of batchSize attributes of valueSize
// bytes into a started, empty, quiet session vs batchSize HSETNX of the
// same fields and values, pipelined, into an absent raw key: one session
// (key) per call.
func BenchmarkCreateMany(b *testing.B) {
	e := newEnv(b)
	batch := attrs(names(batchSize), value(valueSize))
	pool := e.pool(b, e.store, calls+1, nil)
	pipe := e.rdb.Pipeline()
	compare(b, e, calls,
		side{cmds: writeCmds, op: func(i int) error { return pool[i].CreateMany(ctx, batch) }},
		side{cmds: cmds("hsetnx"), op: func(int) error {
			key := e.rawKey()
			for _, a := range batch {
				pipe.HSetNX(ctx, key, a.Name, a.Value)
			}
			_, err := pipe.Exec(ctx)
			return err
		}})
}
