package bench

import (
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
)

// parallelism multiplies GOMAXPROCS into the goroutines of the parallel
// benchmarks: callers wait on the network, so more goroutines than cores
// keep the connection pool busy.
const parallelism = 4

// parallel runs op from parallelism*GOMAXPROCS goroutines; each gets its
// own index g for picking the attribute it works on.
func parallel(b *testing.B, rdb *redis.Client, op func(g int) error) {
	b.Helper()
	if err := op(0); err != nil {
		b.Fatalf("warm-up: %v", err)
	}
	var next atomic.Int64
	cpu := newCPUMeter(rdb)
	b.SetParallelism(parallelism)
	b.ReportAllocs()
	cpu.start()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		g := int(next.Add(1))
		for pb.Next() {
			if err := op(g); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	cpu.stop()
	cpu.report(b)
}

// BenchmarkParallelGet: Get vs raw HGET from many goroutines, each reading
// one attribute of a shared session of getSessionSize attributes.
func BenchmarkParallelGet(b *testing.B) {
	e := newEnv(b)
	ns, v := names(getSessionSize), value(valueSize)
	b.Run("attrcache", func(b *testing.B) {
		sess := e.session(b)
		fill(b, sess, ns, v)
		parallel(b, e.rdb, func(g int) error {
			_, err := sess.Get(ctx, ns[g%len(ns)])
			return err
		})
	})
	b.Run("raw-HGET", func(b *testing.B) {
		key := e.rawKey()
		e.fillRaw(b, key, ns, v)
		parallel(b, e.rdb, func(g int) error {
			return e.rdb.HGet(ctx, key, ns[g%len(ns)]).Err()
		})
	})
}

// BenchmarkParallelSet: Set vs raw HSET from many goroutines, each
// replacing one attribute of a shared session of getSessionSize attributes.
func BenchmarkParallelSet(b *testing.B) {
	e := newEnv(b)
	ns, v := names(getSessionSize), value(valueSize)
	b.Run("attrcache", func(b *testing.B) {
		sess := e.session(b)
		fill(b, sess, ns, v)
		parallel(b, e.rdb, func(g int) error {
			return sess.Set(ctx, ns[g%len(ns)], v)
		})
	})
	b.Run("raw-HSET", func(b *testing.B) {
		key := e.rawKey()
		e.fillRaw(b, key, ns, v)
		parallel(b, e.rdb, func(g int) error {
			return e.rdb.HSet(ctx, key, ns[g%len(ns)], v).Err()
		})
	})
}
