package attrcache

import (
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// NearCache is go-redis's client-side cache (redis.LocalCache, with RESP3
// CLIENT TRACKING) with the one thing attrcache adds: after each write,
// the Store evicts the session's key itself, so that a read on the same
// Store after a write returned sees that write even before Redis's
// invalidation has arrived. Reads of other Stores and processes see a
// write once its invalidation arrives (go-redis applies it when the
// connection that fetched the entry is next read, and sweeps idle
// connections every DrainInterval, 5 ms by default). Expiry is judged on
// every hit, against the estimate of Redis's clock, so an attribute or
// session that expires while cached reads as absent at once.
//
// Give it to a standalone (or Sentinel-less) *redis.Client, which is the
// only kind go-redis caches for, on RESP3 and database 0:
//
//	near := attrcache.NewNearCache(redis.CacheConfig{MaxEntries: 100_000})
//	rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: 3, ClientSideCache: near})
//	store, err := attrcache.New(rdb)
//
// The cache may also hold other keys the application reads through the
// same client. go-redis's ClientSideCacheRefreshOnInvalidate and
// ClientSideCacheCoalesceMisses need its own cache type and are ignored
// with this one.
type NearCache struct {
	*redis.LocalCache

	mu       sync.RWMutex
	prefixes []string // the namespaces go-redis put before the keys it cached
}

// NewNearCache returns a cache configured as redis.NewLocalCache would
// be: bounded by entries, by bytes (MaxMemoryBytes) and, as a backstop
// for lost invalidations, by age (MaxStaleness).
func NewNearCache(cfg redis.CacheConfig) *NearCache {
	return &NearCache{LocalCache: redis.NewLocalCache(cfg)}
}

// Reserve is redis.Cache's: it notes the namespace go-redis gives the
// keys of this client, which evict needs, then defers to LocalCache.
func (c *NearCache) Reserve(cacheKey string, redisKeys []string) (uint64, bool) {
	for _, k := range redisKeys {
		c.learn(k)
	}
	return c.LocalCache.Reserve(cacheKey, redisKeys)
}

// maxPrefixes bounds the namespaces kept: one per database and ACL user
// of the clients that share the cache.
const maxPrefixes = 8

// learn records the namespace of k, a key as go-redis indexes it: the
// client's namespace, which ends with a NUL byte, then the Redis key.
// Only attrcache's keys are looked at; they never hold a NUL.
func (c *NearCache) learn(k string) {
	i := strings.LastIndexByte(k, 0)
	if !strings.Contains(k[i+1:], ":s:") {
		return
	}
	p := k[:i+1]
	c.mu.RLock()
	known := slices.Contains(c.prefixes, p)
	c.mu.RUnlock()
	if known {
		return
	}
	c.mu.Lock()
	if len(c.prefixes) < maxPrefixes && !slices.Contains(c.prefixes, p) {
		c.prefixes = append(c.prefixes, p)
	}
	c.mu.Unlock()
}

// evict drops every cached reply that read key.
func (c *NearCache) evict(key string) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, p := range c.prefixes {
		c.LocalCache.DeleteByRedisKey(p + key)
	}
}

var _ redis.Cache = (*NearCache)(nil)
