package keys

import (
	"encoding/binary"
	"hash/maphash"
	"sync"

	"github.com/tink-crypto/tink-go/v2/tink"
)

const (
	// DefaultCacheSize is how many derived data keys an Envelope keeps
	// unless WithCacheSize says otherwise.
	DefaultCacheSize = 10_000

	// maxShards bounds the shards of the cache; minShardSize keeps small
	// caches in one shard, where eviction is exactly least-recently-used.
	maxShards    = 16
	minShardSize = 64

	// maxCachedScope is the longest scope the cache keeps. attrcache's
	// scopes are about a hundred bytes; longer ones, which only other
	// callers make, are derived on every call rather than pinning memory.
	maxCachedScope = 512
)

// scopeCache is a bounded least-recently-used cache of data-key AEADs keyed
// by KEK key id and scope. It is split into shards, each with its own lock
// and its own share of the bound, so that concurrent calls seldom wait for
// one another; eviction is least-recently-used within a shard. It never
// holds more than its size in total.
type scopeCache struct {
	seed   maphash.Seed
	mask   uint64
	shards []cacheShard
}

type cacheShard struct {
	mu    sync.Mutex
	limit int
	m     map[string]*cacheEntry
	ring  cacheEntry // sentinel: ring.next is the newest entry, ring.prev the oldest
	_     [64]byte   // keeps neighbouring shards' locks off one cache line
}

type cacheEntry struct {
	key        string
	aead       tink.AEAD
	prev, next *cacheEntry
}

func newScopeCache(size int) *scopeCache {
	n := 1
	for n*2 <= maxShards && size/(n*2) >= minShardSize {
		n *= 2
	}
	c := &scopeCache{seed: maphash.MakeSeed(), mask: uint64(n - 1), shards: make([]cacheShard, n)}
	for i := range c.shards {
		s := &c.shards[i]
		s.limit = size / n
		if i < size%n {
			s.limit++
		}
		s.m = make(map[string]*cacheEntry)
		s.ring.next, s.ring.prev = &s.ring, &s.ring
	}
	return c
}

// appendCacheKey appends the cache key of KEK key id and scope to dst.
func appendCacheKey(dst []byte, id uint32, scope []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, id)
	return append(dst, scope...)
}

func (c *scopeCache) shard(key []byte) *cacheShard {
	return &c.shards[maphash.Bytes(c.seed, key)&c.mask]
}

// get returns the cached AEAD for key and marks it most recently used, or
// nil.
func (c *scopeCache) get(key []byte) tink.AEAD {
	s := c.shard(key)
	s.mu.Lock()
	e := s.m[string(key)]
	if e == nil {
		s.mu.Unlock()
		return nil
	}
	s.unlink(e)
	s.pushFront(e)
	a := e.aead
	s.mu.Unlock()
	return a
}

// add caches a under key, evicting the least recently used entry of the
// shard when it is full. When another goroutine cached key first, add keeps
// that entry and returns its AEAD; otherwise it returns a.
func (c *scopeCache) add(key []byte, a tink.AEAD) tink.AEAD {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.m[string(key)]; e != nil {
		s.unlink(e)
		s.pushFront(e)
		return e.aead
	}
	if s.limit <= 0 {
		return a
	}
	var e *cacheEntry
	if len(s.m) >= s.limit {
		// Reuse the oldest entry rather than allocating another.
		e = s.ring.prev
		s.unlink(e)
		delete(s.m, e.key)
	} else {
		e = new(cacheEntry)
	}
	e.key, e.aead = string(key), a
	s.m[e.key] = e
	s.pushFront(e)
	return a
}

// len returns how many entries the cache holds.
func (c *scopeCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

func (s *cacheShard) unlink(e *cacheEntry) {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
}

func (s *cacheShard) pushFront(e *cacheEntry) {
	e.prev = &s.ring
	e.next = s.ring.next
	s.ring.next.prev = e
	s.ring.next = e
}
