package bench

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
)

// saturation is how many goroutines the saturation benchmarks run on one
// client of default options (a pool of 10 connections per GOMAXPROCS),
// and saturationFor how long each side runs: enough to keep one
// redis-server busy.
const (
	saturation    = 64
	saturationFor = 3 * time.Second
)

// load runs op from goroutines goroutines for d; goroutine g calls op(g)
// in a loop. It returns how many calls were made. op's errors are its
// own to count; a non-nil one fails b.
func load(b *testing.B, goroutines int, d time.Duration, op func(g int) error) int64 {
	b.Helper()
	var (
		stop  atomic.Bool
		n     atomic.Int64
		wg    sync.WaitGroup
		fault atomic.Value
	)
	time.AfterFunc(d, func() { stop.Store(true) })
	for g := range goroutines {
		wg.Go(func() {
			for !stop.Load() {
				if err := op(g); err != nil {
					fault.CompareAndSwap(nil, err)
					stop.Store(true)
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	if err, ok := fault.Load().(error); ok {
		b.Fatal(err)
	}
	return n.Load()
}

// saturate runs ours and base from saturation goroutines, in two turns
// of half of saturationFor each (ours, base, base, ours), and reports
// ops/s (calls per second), server-µs/op, cmds/op and the CPU time per
// call of client and server (cli-us/op, srv-us/op) of each, base's with
// the prefix "base-".
func saturate(b *testing.B, e *env, ours, base side) {
	b.Helper()
	for _, s := range []side{ours, base} {
		if err := s.op(0); err != nil {
			b.Fatalf("warm-up: %v", err)
		}
	}
	resetStats(b, e.rdb)
	type result struct {
		m       *cmdMeter
		cpu     *cpuMeter
		n       int64
		elapsed time.Duration
	}
	res := [2]*result{
		{m: newCmdMeter(e.rdb, ours.cmds), cpu: newCPUMeter(e.rdb)},
		{m: newCmdMeter(e.rdb, base.cmds), cpu: newCPUMeter(e.rdb)},
	}
	sides := [2]side{ours, base}
	for _, k := range []int{0, 1, 1, 0} {
		r := res[k]
		r.m.start()
		r.cpu.start()
		t0 := time.Now()
		r.n += load(b, saturation, saturationFor/2, sides[k].op)
		r.elapsed += time.Since(t0)
		r.cpu.stop()
		r.m.stop()
	}
	for k, prefix := range []string{"", "base-"} {
		r := res[k]
		b.ReportMetric(float64(r.n)/r.elapsed.Seconds(), prefix+"ops/s")
		r.m.report(b, prefix, int(r.n))
		r.cpu.report(b, prefix, r.n)
	}
	b.ReportMetric(saturation, "goroutines")
}

// BenchmarkSaturation: throughput at saturation, saturation goroutines
// on one client, each on a session (or raw hash) of its own of
// sessionAttrs attributes: Get of one attribute vs raw HGET, Set of one
// attribute vs raw HSET. Each goroutine writes its session about as
// often as the server allows divided by saturation, so the sessions are
// hot: their resend logs are full. The client has default options but
// ContextTimeoutEnabled false (go-redis's default: the Store waits for
// each command on a goroutine of its own, see BenchmarkAllocs) or true.
func BenchmarkSaturation(b *testing.B) {
	e := newEnv(b)
	v := value(valueSize)
	for _, on := range []bool{false, true} {
		b.Run("ctxtimeout="+strconv.FormatBool(on), func(b *testing.B) {
			rdb := e.client(b, func(o *redis.Options) { o.ContextTimeoutEnabled = on })
			saturateStore(b, e, newStore(b, rdb),
				func(key string) error { return rdb.HGet(ctx, key, target).Err() },
				func(key string) error { return rdb.HSet(ctx, key, target, v).Err() })
		})
	}
}

// saturateStore runs Get and Set at saturation on st, each goroutine on
// a session of its own, beside hget and hset of the same field on raw
// hashes of the same attributes.
func saturateStore(b *testing.B, e *env, st *attrcache.Store, hget, hset func(key string) error) {
	v := value(valueSize)
	sessions := make([]*attrcache.Session, saturation)
	for g := range sessions {
		sessions[g] = e.session(b, st, typical())
	}
	raw := e.rawPool(b, saturation, typical())
	b.Run("Get", func(b *testing.B) {
		saturate(b, e,
			side{cmds: readCmds, op: func(g int) error { _, err := sessions[g].Get(ctx, target); return err }},
			side{cmds: cmds("hget"), op: func(g int) error { return hget(raw[g]) }})
	})
	b.Run("Set", func(b *testing.B) {
		saturate(b, e,
			side{cmds: writeCmds, op: func(g int) error { return sessions[g].Set(ctx, target, v) }},
			side{cmds: cmds("hset"), op: func(g int) error { return hset(raw[g]) }})
	})
}

// hotWriters is how many goroutines BenchmarkHotSession runs.
const hotWriters = 400

// BenchmarkHotSession: hotWriters goroutines write one session of
// sessionAttrs attributes for saturationFor, each Set replacing one of
// its attributes, on one client of default options. Most calls wait for
// one of the pool's connections. It reports writes/s (calls, applied or
// not), unavailable-% (calls that failed with ErrUnavailable), of which
// late-% reached Redis after their deadline and were refused there
// (LATE) and deadline-% ran out of time on the client (the call timeout,
// 1 s), and server-µs/op, Redis's execution time per script run.
func BenchmarkHotSession(b *testing.B) {
	e := newEnv(b)
	sess := e.session(b, e.store, typical())
	ns, v := names(sessionAttrs), value(valueSize)
	if err := sess.Set(ctx, target, v); err != nil {
		b.Fatal(err)
	}
	var unavailable, late, deadline atomic.Int64
	resetStats(b, e.rdb)
	m := newCmdMeter(e.rdb, writeCmds)
	m.start()
	t0 := time.Now()
	n := load(b, hotWriters, saturationFor, func(g int) error {
		err := sess.Set(ctx, ns[g%len(ns)], v)
		if errors.Is(err, attrcache.ErrUnavailable) {
			unavailable.Add(1)
			switch {
			case strings.Contains(err.Error(), "reached Redis after its deadline"):
				late.Add(1)
			case errors.Is(err, context.DeadlineExceeded):
				deadline.Add(1)
			}
			return nil
		}
		return err
	})
	elapsed := time.Since(t0)
	m.stop()
	pct := func(x int64) float64 { return 100 * float64(x) / float64(n) }
	b.ReportMetric(float64(n)/elapsed.Seconds(), "writes/s")
	b.ReportMetric(pct(unavailable.Load()), "unavailable-%")
	b.ReportMetric(pct(late.Load()), "late-%")
	b.ReportMetric(pct(deadline.Load()), "deadline-%")
	b.ReportMetric(float64(m.usec)/float64(max(m.calls, 1)), "server-µs/op")
	b.ReportMetric(hotWriters, "goroutines")
}
