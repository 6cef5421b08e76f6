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
// for lost invalidations, by age (MaxStaleness).
func NewNearCache(cfg redis.CacheConfig) *NearCache { return backend.NewNearCache(cfg) }
