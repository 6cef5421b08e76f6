package attrcache

import (
	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/internal/backend"
)

// NearCache is go-redis's client-side cache (redis.LocalCache, with RESP3
// CLIENT TRACKING) with the one thing attrcache adds: after each write,
// the Store evicts the written key itself, so that a read on the same
// Store after a write returned sees that write even before Redis's
// invalidation has arrived. Reads of other Stores and processes see a
// write once its invalidation arrives. Expiry is judged on every hit,
// against the estimate of Redis's clock, so an attribute or session that
// expires while cached reads as absent at once.
//
// It fails closed. A process cut off from Redis (a connection that stops
// forwarding without closing, which go-redis does not notice) would go on
// answering from memory for ever; so the cache answers only while a lease
// holds: a PING (sent in the background when the lease nears its end) or
// a script of the Store's was answered within the last 1.5 s. A
// partitioned process stops reading from memory at most 1.5 s after the
// path to Redis stopped working (measured: under 1 s after another
// instance ended the session), and its reads then fail as Redis's do. A
// cache in use keeps its lease, so the hit rate does not suffer; the
// first read after 1.5 s of no use is a miss. MaxStaleness (10 s when
// left 0) is the backstop for one connection that stops while others
// work, which a PING cannot see.
//
// Give it to a standalone (or Sentinel-less) *redis.Client, which is the
// only kind go-redis caches for, on RESP3 and database 0:
//
//	near := attrcache.NewNearCache(redis.CacheConfig{MaxEntries: 100_000})
//	rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: 3, ClientSideCache: near})
//	store, err := attrcache.New(rdb)
//
// For a near cache on Redis Cluster or Sentinel, use the rueidis backend
// (package rueidisstore).
type NearCache = backend.NearCache

// NewNearCache returns a cache configured as redis.NewLocalCache would
// be: bounded by entries, by bytes (MaxMemoryBytes) and, as a backstop
// for lost invalidations, by age (MaxStaleness, 10 s when left 0).
func NewNearCache(cfg redis.CacheConfig) *NearCache { return backend.NewNearCache(cfg) }
