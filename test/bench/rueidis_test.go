package bench

import (
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/rueidisstore"
	"github.com/attrcache/attrcache/test/redistest"
)

// newRueidis returns a rueidis client on addrs built with
// rueidisstore.Options, with its cache on or off, closed when b ends.
func newRueidis(b *testing.B, addrs []string, cache bool) rueidis.Client {
	b.Helper()
	c, err := rueidis.NewClient(rueidisstore.Options(rueidis.ClientOption{InitAddress: addrs, DisableCache: !cache}))
	if err != nil {
		b.Fatalf("rueidis.NewClient: %v", err)
	}
	b.Cleanup(c.Close)
	return c
}

// newRueidisStore returns a Store on c, failing b on error.
func newRueidisStore(b *testing.B, c rueidis.Client, opts ...attrcache.Option) *attrcache.Store {
	b.Helper()
	st, err := rueidisstore.New(c, opts...)
	if err != nil {
		b.Fatalf("rueidisstore.New: %v", err)
	}
	return st
}

// rawHGet is a raw HGET on a rueidis client, with no deadline: what an
// application that calls rueidis directly would send.
func rawHGet(c rueidis.Client, key string) error {
	return c.Do(ctx, c.B().Hget().Key(key).Field(target).Build()).Error()
}

// BenchmarkRueidis: attrcache on rueidis (package rueidisstore) against
// raw rueidis commands on the same client, on one redis-server; the
// go-redis rows are BenchmarkSaturation, BenchmarkGet and
// BenchmarkNearCache.
//
//   - Saturation/Get, Saturation/Set: saturation goroutines, each on a
//     session (or raw hash) of its own, Get vs raw HGET and Set vs raw
//     HSET, on a client without a cache (reads reach Redis).
//   - Get: one call at a time, Get vs raw HGET, latency.
//   - NearCache: Get answered by rueidis's cache (a client with its cache
//     on) vs raw HGET on a client without one: cmds/op is what reached
//     Redis.
func BenchmarkRueidis(b *testing.B) {
	e := newEnv(b)
	addrs := []string{e.srv.Addr()}
	v := value(valueSize)
	c := newRueidis(b, addrs, false)
	st := newRueidisStore(b, c)
	b.Run("Saturation", func(b *testing.B) {
		saturateStore(b, e, st,
			func(key string) error { return rawHGet(c, key) },
			func(key string) error {
				return c.Do(ctx, c.B().Hset().Key(key).FieldValue().FieldValue(target, string(v)).Build()).Error()
			})
	})
	raw := e.rawKey()
	e.fillRaw(b, raw, typical(), sessionTTL)
	b.Run("Get", func(b *testing.B) {
		sess := e.session(b, st, typical())
		compare(b, e, calls,
			side{cmds: readCmds, op: func(int) error { _, err := sess.Get(ctx, target); return err }},
			side{cmds: cmds("hget"), op: func(int) error { return rawHGet(c, raw) }})
	})
	b.Run("NearCache", func(b *testing.B) {
		near := newRueidisStore(b, newRueidis(b, addrs, true))
		sess := e.session(b, near, typical())
		for range 2 {
			if _, err := sess.Get(ctx, target); err != nil {
				b.Fatal(err)
			}
		}
		compare(b, e, calls,
			side{cmds: readCmds, op: func(int) error { _, err := sess.Get(ctx, target); return err }},
			side{cmds: cmds("hget"), op: func(int) error { return rawHGet(c, raw) }})
	})
}

// hitSessions is how many sessions BenchmarkRueidisHitRate reads, and
// hitReads how often each.
const (
	hitSessions = 1000
	hitReads    = 10
)

// BenchmarkRueidisHitRate: the near cache's hit rate on a Cluster of
// three masters against one node: hitSessions sessions of sessionAttrs
// attributes, each read hitReads times in turn after one untimed Get of
// each, on a client with its cache on. A read that reaches Redis is an
// HMGET on a master (the sessions are written before the reads and not
// after). It reports hit-% (cluster) and base-hit-% (one node).
func BenchmarkRueidisHitRate(b *testing.B) {
	e := newEnv(b)
	cl := redistest.StartCluster(b)
	rate := func(addrs, masters []string) float64 {
		st := newRueidisStore(b, newRueidis(b, addrs, true))
		sessions := make([]*attrcache.Session, hitSessions)
		for i := range sessions {
			sessions[i] = e.session(b, st, typical())
		}
		for _, s := range sessions {
			if _, err := s.Get(ctx, target); err != nil {
				b.Fatal(err)
			}
		}
		before := hmgets(b, masters)
		for range hitReads {
			for _, s := range sessions {
				if _, err := s.Get(ctx, target); err != nil {
					b.Fatal(err)
				}
			}
		}
		missed := hmgets(b, masters) - before
		return 100 * (1 - float64(missed)/float64(hitSessions*hitReads))
	}
	b.ResetTimer()
	b.ReportMetric(rate(cl.Addrs(), cl.MasterAddrs()), "hit-%")
	b.ReportMetric(rate([]string{e.srv.Addr()}, []string{e.srv.Addr()}), "base-hit-%")
	b.ReportMetric(float64(len(cl.MasterAddrs())), "masters")
}

// hmgets is how many HMGETs the masters have run.
func hmgets(b *testing.B, masters []string) int64 {
	b.Helper()
	var n int64
	for _, addr := range masters {
		c := redis.NewClient(&redis.Options{Addr: addr})
		m := newCmdMeter(c, cmds("hmget"))
		k, _ := m.read()
		_ = c.Close()
		if m.failed != nil {
			b.Fatalf("INFO commandstats: %v", m.failed)
		}
		n += k
	}
	return n
}
