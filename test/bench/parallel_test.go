package bench

import (
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
)

// saturation is how many goroutines the parallel benchmarks run on one
// client of default options (a pool of 10 connections per GOMAXPROCS):
// enough to keep one redis-server busy, so ns/op is the inverse of the
// throughput the pair reaches.
const saturation = 64

// parallel runs op from saturation goroutines (rounded up to a multiple of
// GOMAXPROCS); each gets its own index g for picking the attribute it
// works on. Besides the loop's figures (no per-operation percentiles) it
// reports ops/s and the number of goroutines.
func parallel(b *testing.B, rdb *redis.Client, cmds []string, op func(g int) error) {
	b.Helper()
	if err := op(0); err != nil {
		b.Fatalf("warm-up: %v", err)
	}
	var next atomic.Int64
	procs := runtime.GOMAXPROCS(0)
	p := (saturation + procs - 1) / procs
	m := newMeter(b, rdb, cmds, false)
	b.SetParallelism(p)
	b.ReportAllocs()
	m.start()
	b.ResetTimer()
	t0 := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		g := int(next.Add(1))
		for pb.Next() {
			if err := op(g); err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed := time.Since(t0)
	b.StopTimer()
	m.stop()
	m.report(b)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	b.ReportMetric(float64(p*procs), "goroutines")
}

// BenchmarkParallelGet: Get vs raw HGET at saturation, each goroutine
// reading one attribute of a shared session of getSessionSize attributes.
func BenchmarkParallelGet(b *testing.B) {
	e := newEnv(b)
	ns, v := names(getSessionSize), value(valueSize)
	b.Run("attrcache", func(b *testing.B) {
		sess := e.session(b)
		fill(b, sess, ns, v)
		parallel(b, e.rdb, readCmds, func(g int) error {
			_, err := sess.Get(ctx, ns[g%len(ns)])
			return err
		})
	})
	b.Run("raw-HGET", func(b *testing.B) {
		key := e.rawKey()
		e.fillRaw(b, key, ns, v)
		parallel(b, e.rdb, cmds("hget"), func(g int) error {
			return e.rdb.HGet(ctx, key, ns[g%len(ns)]).Err()
		})
	})
}

// BenchmarkParallelSet: Set vs raw HSET at saturation, each goroutine
// replacing one attribute of a session (hash) of its own, of
// getSessionSize attributes: many users' sessions written at once.
func BenchmarkParallelSet(b *testing.B) {
	e := newEnv(b)
	ns, v := names(getSessionSize), value(valueSize)
	b.Run("attrcache", func(b *testing.B) {
		sessions := make([]*session, saturation)
		for i := range sessions {
			sessions[i] = e.session(b)
			fill(b, sessions[i], ns, v)
		}
		parallel(b, e.rdb, writeCmds, func(g int) error {
			return sessions[g%saturation].Set(ctx, ns[g%len(ns)], v)
		})
	})
	b.Run("raw-HSET", func(b *testing.B) {
		keys := make([]string, saturation)
		for i := range keys {
			keys[i] = e.rawKey()
			e.fillRaw(b, keys[i], ns, v)
		}
		parallel(b, e.rdb, cmds("hset"), func(g int) error {
			return e.rdb.HSet(ctx, keys[g%saturation], ns[g%len(ns)], v).Err()
		})
	})
}

// BenchmarkHotSession: Set from saturation goroutines on one session of
// getSessionSize attributes, replacing its attributes in turn. The
// session's resend log keeps its newest 256 entries, so when more than 256
// writes land while one is on its way (queued for a connection, say),
// that one may have begun before the newest entry the log dropped: Redis
// cannot tell whether it already ran, and refuses it with an
// ErrUnavailable error. unavailable-% is the share of calls refused so;
// ops/s counts every call, applied or refused.
func BenchmarkHotSession(b *testing.B) {
	e := newEnv(b)
	ns, v := names(getSessionSize), value(valueSize)
	sess := e.session(b)
	fill(b, sess, ns, v)
	var refused atomic.Int64
	parallel(b, e.rdb, writeCmds, func(g int) error {
		err := sess.Set(ctx, ns[g%len(ns)], v)
		if errors.Is(err, attrcache.ErrUnavailable) {
			refused.Add(1)
			return nil
		}
		return err
	})
	b.ReportMetric(100*float64(refused.Load())/float64(b.N), "unavailable-%")
}
