package bench

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
)

// BenchmarkNearCache: Get answered by the near cache (go-redis's
// client-side cache through attrcache.NewNearCache, RESP3 CLIENT
// TRACKING: a hit sends nothing to Redis) against a raw HGET round trip
// on a client without a cache, on a session and a raw hash of
// sessionAttrs attributes. The session is read twice before: the first
// read after a write on the same client is not cached (its reply and the
// write's invalidation cross).
func BenchmarkNearCache(b *testing.B) {
	e := newEnv(b)
	near := attrcache.NewNearCache(redis.CacheConfig{MaxEntries: 100_000})
	rdb := e.client(b, func(o *redis.Options) {
		o.Protocol = 3
		o.ClientSideCache = near
	})
	st := newStore(b, rdb)
	sess := e.session(b, st, typical())
	for range 2 {
		if _, err := sess.Get(ctx, target); err != nil {
			b.Fatal(err)
		}
	}
	raw := e.rawKey()
	e.fillRaw(b, raw, typical(), sessionTTL)
	before := near.Stats()
	compare(b, e, calls,
		side{cmds: readCmds, op: func(int) error { _, err := sess.Get(ctx, target); return err }},
		side{cmds: cmds("hget"), op: func(int) error { return e.rdb.HGet(ctx, raw, target).Err() }})
	s := near.Stats()
	if hits, misses := s.Hits-before.Hits, s.Misses-before.Misses; hits+misses > 0 {
		b.ReportMetric(100*float64(hits)/float64(hits+misses), "hit-%")
	}
}
