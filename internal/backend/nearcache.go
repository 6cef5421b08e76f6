package backend

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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

	// The lease: hits are served only until a PING sent recently was
	// answered, so that an instance cut off from Redis (a connection that
	// stops forwarding without closing) stops answering from memory.
	ping    func(ctx context.Context) error // through the client the cache serves
	until   atomic.Int64                    // Unix ns: hits are served before it
	probing atomic.Bool                     // a PING is in flight
	lapsed  atomic.Bool                     // the lease ran out; flushed once
	lapses  atomic.Uint64
}

// Lease timing: a PING is sent when less than leaseRenew is left, and an
// answered PING sent at t lets hits be served until t + leaseTime. A PING
// proves that invalidations for writes before it were flowing, so an
// entry is never served more than leaseTime (plus go-redis's drain
// interval, 5 ms) after an invalidation it missed.
const (
	leaseTime  = 1500 * time.Millisecond
	leaseRenew = 1000 * time.Millisecond
	// defaultMaxStaleness is the backstop for a single connection that
	// stops while others work, which the lease cannot see.
	defaultMaxStaleness = 10 * time.Second
)

// NewNearCache returns a cache configured as redis.NewLocalCache would
// be, with MaxStaleness 10 s when cfg leaves it 0.
func NewNearCache(cfg redis.CacheConfig) *NearCache {
	if cfg.MaxStaleness == 0 {
		cfg.MaxStaleness = defaultMaxStaleness
	}
	c := &NearCache{LocalCache: redis.NewLocalCache(cfg)}
	c.lapsed.Store(true) // nothing proven yet
	return c
}

// Get is redis.Cache's: a miss unless the lease holds, so that go-redis
// reads from Redis (and fails there during a partition). Hits ask for the
// lease to be renewed in time, so a cache in use is never without one.
func (c *NearCache) Get(ctx context.Context, cacheKey string) ([]byte, bool) {
	now := time.Now().UnixNano()
	until := c.until.Load()
	if until-now < int64(leaseRenew) {
		c.renew()
	}
	if now >= until {
		if c.lapsed.CompareAndSwap(false, true) {
			c.lapses.Add(1)
			c.LocalCache.Flush()
		}
		return nil, false
	}
	return c.LocalCache.Get(ctx, cacheKey)
}

// renew sends one PING in the background, if none is in flight.
func (c *NearCache) renew() {
	if c.ping == nil || !c.probing.CompareAndSwap(false, true) {
		return
	}
	go func(sent time.Time) {
		defer c.probing.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), leaseTime)
		defer cancel()
		if c.ping(ctx) == nil {
			c.answered(sent)
		}
	}(time.Now())
}

// answered extends the lease after a reply from Redis to a command sent at
// sent: the path to Redis worked then. Any reply will do, a PING or a
// read or write of the Store's own.
func (c *NearCache) answered(sent time.Time) {
	if time.Since(sent) >= leaseTime {
		return
	}
	until := sent.Add(leaseTime).UnixNano()
	for {
		cur := c.until.Load()
		if until <= cur {
			return
		}
		if c.until.CompareAndSwap(cur, until) {
			break
		}
	}
	if c.lapsed.CompareAndSwap(true, false) {
		// Entries cached while the lease was out may have missed
		// invalidations: start over.
		c.LocalCache.Flush()
	}
}

// Lapses counts the times the lease ran out.
func (c *NearCache) Lapses() uint64 { return c.lapses.Load() }

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
