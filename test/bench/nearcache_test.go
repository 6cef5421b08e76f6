package bench

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
)

// nearEnv is a second client of e's server with go-redis's client-side
// cache plugged in through attrcache.NewNearCache (RESP3, CLIENT
// TRACKING), and a Store on it.
type nearEnv struct {
	near  *attrcache.NearCache
	rdb   *redis.Client
	store *attrcache.Store
}

func (e *env) nearEnv(b *testing.B) *nearEnv {
	b.Helper()
	near := attrcache.NewNearCache(redis.CacheConfig{MaxEntries: 100_000})
	rdb := e.client(b, func(o *redis.Options) {
		o.Protocol = 3
		o.ClientSideCache = near
	})
	return &nearEnv{near: near, rdb: rdb, store: newStore(b, rdb, attrcache.WithLimits(bigLimits))}
}

// prime reads twice, so that the read is cached: the first read after
// this client wrote the key is not (the invalidation Redis sends for the
// write arrives after its reply and drops it).
func (n *nearEnv) prime(b *testing.B, read func() error) {
	b.Helper()
	for range 2 {
		if err := read(); err != nil {
			b.Fatal(err)
		}
	}
}

// reportHits reports the hit rate of the near cache since before (hit-%).
func (n *nearEnv) reportHits(b *testing.B, before redis.CSCStats) {
	b.Helper()
	s := n.near.Stats()
	hits, misses := s.Hits-before.Hits, s.Misses-before.Misses
	if hits+misses > 0 {
		b.ReportMetric(100*float64(hits)/float64(hits+misses), "hit-%")
	}
}

// BenchmarkNearCache: Get answered by the near cache (a hit: no command
// reaches Redis) vs a raw HGET round trip on a client without a cache, and
// vs a raw HGET answered by the same go-redis cache (what attrcache adds
// to a hit: decoding the marker and the record, judging expiry). The
// session and the raw hash hold getSessionSize attributes.
func BenchmarkNearCache(b *testing.B) {
	e := newEnv(b)
	n := e.nearEnv(b)
	ns, v := names(getSessionSize), value(valueSize)
	name := ns[getSessionSize/2]
	b.Run("Get-hit", func(b *testing.B) {
		sess := e.sessionOf(b, n.store)
		fill(b, sess, ns, v)
		n.prime(b, func() error { _, err := sess.Get(ctx, name); return err })
		before := n.near.Stats()
		loop(b, e.rdb, readCmds, 0, nothing, func(int) error {
			_, err := sess.Get(ctx, name)
			return err
		})
		n.reportHits(b, before)
	})
	b.Run("raw-HGET", func(b *testing.B) {
		key := e.rawKey()
		e.fillRaw(b, key, ns, v)
		loop(b, e.rdb, cmds("hget"), 0, nothing, func(int) error {
			return e.rdb.HGet(ctx, key, name).Err()
		})
	})
	b.Run("raw-HGET-hit", func(b *testing.B) {
		key := e.rawKey()
		e.fillRaw(b, key, ns, v)
		n.prime(b, func() error { return n.rdb.HGet(ctx, key, name).Err() })
		before := n.near.Stats()
		loop(b, e.rdb, cmds("hget"), 0, nothing, func(int) error {
			return n.rdb.HGet(ctx, key, name).Err()
		})
		n.reportHits(b, before)
	})
}

// nearSessions is how many sessions BenchmarkNearCacheMemory caches.
const nearSessions = 200

// BenchmarkNearCacheMemory: the near cache's own estimate of its memory
// (Stats().MemoryUsageBytes) with nearSessions sessions of getSessionSize
// attributes of valueSize bytes cached, read attribute by attribute with
// Get (one cached HMGET reply per attribute read) or whole with GetAll
// (one cached HGETALL reply per session). It reports B/session,
// B/entry, entries/session and the hit rate of the timed reads, which
// are all hits; their ns/op is the time to read one session that way.
func BenchmarkNearCacheMemory(b *testing.B) {
	e := newEnv(b)
	ns, v := names(getSessionSize), value(valueSize)
	for _, c := range []struct {
		name string
		read func(s *session) error
	}{
		{"Get", func(s *session) error {
			for _, name := range ns {
				if _, err := s.Get(ctx, name); err != nil {
					return err
				}
			}
			return nil
		}},
		{"GetAll", func(s *session) error {
			_, err := s.GetAll(ctx)
			return err
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			n := e.nearEnv(b)
			sessions := make([]*session, nearSessions)
			for i := range sessions {
				sessions[i] = e.sessionOf(b, n.store)
				fill(b, sessions[i], ns, v)
				n.prime(b, func() error { return c.read(sessions[i]) })
			}
			before := n.near.Stats()
			loop(b, e.rdb, readCmds, 0, nothing, func(i int) error {
				return c.read(sessions[i%nearSessions])
			})
			n.reportHits(b, before)
			s := n.near.Stats()
			if s.Entries == 0 {
				b.Fatal("the near cache holds nothing")
			}
			b.ReportMetric(float64(s.MemoryUsageBytes)/nearSessions, "B/session")
			b.ReportMetric(float64(s.MemoryUsageBytes)/float64(s.Entries), "B/entry")
			b.ReportMetric(float64(s.Entries)/nearSessions, "entries/session")
		})
	}
}
