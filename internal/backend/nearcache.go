package backend

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// NearCache is go-redis's client-side cache (redis.LocalCache, with RESP3
// CLIENT TRACKING) with what attrcache adds: after each write the Store
// evicts the written key itself, so that a read on the same process after
// a write sees it even before Redis's invalidation has arrived. Package
// attrcache exports it as attrcache.NearCache, where its use is
// documented.
type NearCache struct {
	*redis.LocalCache

	mu       sync.RWMutex
	prefixes []string // the namespaces go-redis put before the keys it cached
}

// NewNearCache returns a cache configured as redis.NewLocalCache would
// be.
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
// Only attrcache's keys are looked at: they hold ":<letter>:{" and never
// a NUL.
func (c *NearCache) learn(k string) {
	i := strings.LastIndexByte(k, 0)
	if !strings.Contains(k[i+1:], ":{") {
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

// Hits implements CacheStats.
func (c *NearCache) Hits() uint64 { return c.Stats().Hits }

// Misses implements CacheStats.
func (c *NearCache) Misses() uint64 { return c.Stats().Misses }

var _ redis.Cache = (*NearCache)(nil)

// nearCacheOf returns the client's NearCache, nil when it caches nothing
// (or caches where attrcache never reads: RESP2, another database), and
// an error for a cache attrcache cannot evict after its writes.
func nearCacheOf(o *redis.Options) (*NearCache, error) {
	switch cache := o.ClientSideCache.(type) {
	case *NearCache:
		if o.Protocol == 3 && o.DB == 0 {
			return cache, nil
		}
	case nil:
		if o.ClientSideCacheConfig != nil && o.Protocol == 3 {
			return nil, errors.New("the client's ClientSideCacheConfig builds a cache attrcache cannot evict after its writes; " +
				"set Options.ClientSideCache to attrcache.NewNearCache(config) instead")
		}
	default:
		if o.Protocol == 3 {
			return nil, fmt.Errorf("the client's client-side cache is a %T; attrcache needs an *attrcache.NearCache "+
				"so that a read after a write sees it", cache)
		}
	}
	return nil, nil
}
