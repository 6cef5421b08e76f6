package rueidisstore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/attrcache/attrcache/internal/backend"
)

// CacheTTL is how long a read may stay in the client's cache: the
// backstop for an invalidation Redis never sent. Expiry is judged on
// every hit, against attrcache's estimate of Redis's clock, so it is no
// part of it; writes and Ends are seen through invalidations, within
// their delay.
const CacheTTL = 30 * time.Second

// window is the Info().Window of every rueidis backend, the longest call
// timeout attrcache allows: the backend resends a script only while its
// call's context lasts, and attrcache narrows each call's resend window
// to that context's deadline.
const window = 25 * time.Second

// maxSends bounds how often one call sends its script: the first send and
// two resends after a lost reply.
const maxSends = 3

// How the backend calls its scripts: found out on the first call.
const (
	modeUnknown   = iota // try FCALL
	modeFunctions        // FCALL works
	modeScripts          // EVALSHA, EVAL after NOSCRIPT
)

// Whether the client caches reads: found out on the first read.
const (
	cacheUnknown = iota // fence writes, as if it did
	cacheOn
	cacheOff // DisableCache: DoCache is Do
)

// uncachedProof is how many replies without a cache expiry, and none
// with one, show that the client does not cache.
const uncachedProof = 8

// rueidisBackend is the backend.Backend on a rueidis client.
type rueidisBackend struct {
	c        rueidis.Client
	cluster  bool
	cfg      backend.Config
	lib      *backend.Library
	shas     map[*backend.Script]string
	info     backend.Info
	mode     atomic.Int32
	caching  atomic.Int32
	uncached atomic.Int32 // replies without an expiry while caching is unknown
	stats    cacheStats
	dls      backend.Deadlines
	reads    *readCmds
}

// newBackend returns the backend on c, running the scripts of lib.
func newBackend(c rueidis.Client, lib *backend.Library, cfg backend.Config) (*rueidisBackend, error) {
	if c == nil {
		return nil, errors.New("rueidis client is nil")
	}
	b := &rueidisBackend{c: c, cfg: cfg, lib: lib, reads: newReadCmds(),
		shas: map[*backend.Script]string{},
	}
	for _, s := range lib.Scripts {
		b.shas[s] = sha1Hex(s.Eval)
	}
	switch c.Mode() {
	case rueidis.ClientModeCluster:
		b.cluster, b.info.Topology = true, "cluster"
	case rueidis.ClientModeSentinel:
		b.info.Topology = "sentinel"
	default:
		b.info.Topology = "single"
	}
	b.info.Window = window
	b.info.Cache = &b.stats
	return b, nil
}

// Info implements backend.Backend.
func (b *rueidisBackend) Info() backend.Info { return b.info }

// Bound implements backend.Backend (see backend.Deadlines).
func (b *rueidisBackend) Bound(ctx context.Context, d time.Duration, _ *backend.Room) (context.Context, context.CancelFunc) {
	return b.dls.Bound(ctx, d)
}

// Evict implements backend.Backend. It has nothing to do: every write
// carries its fence (see exec), so the write's invalidation has reached
// the client's cache before the write returns.
func (b *rueidisBackend) Evict(string) {}

// cacheStats counts the reads the client's cache answered and those it
// sent to Redis.
type cacheStats struct{ hits, misses atomic.Uint64 }

func (s *cacheStats) Hits() uint64   { return s.hits.Load() }
func (s *cacheStats) Misses() uint64 { return s.misses.Load() }

// read sends a plain read (with a static TTL, see readCmds): through the
// client's cache unless the client is known not to cache. The cache
// keeps a reply for CacheTTL and no longer, not for the key's own TTL,
// which attrcache does not need: it judges expiry itself.
func (b *rueidisBackend) read(ctx context.Context, cmd rueidis.Cacheable) rueidis.RedisResult {
	if b.caching.Load() == cacheOff {
		return b.c.Do(ctx, rueidis.Completed(cmd))
	}
	r := b.c.DoCache(ctx, cmd, CacheTTL)
	if err := r.Error(); err != nil && !rueidis.IsRedisNil(err) {
		return r
	}
	switch {
	case r.IsCacheHit():
		b.stats.hits.Add(1)
		if b.caching.Load() != cacheOn {
			b.caching.Store(cacheOn)
		}
	case r.CachePTTL() >= 0:
		// A reply the cache took carries its expiry.
		b.stats.misses.Add(1)
		b.caching.CompareAndSwap(cacheUnknown, cacheOn)
	default:
		// A client with DisableCache gives none, and so does a caching
		// one whose entry an invalidation dropped while it was read:
		// the client is taken for one that does not cache only when its
		// first replies all say so.
		b.stats.misses.Add(1)
		if b.caching.Load() == cacheUnknown && b.uncached.Add(1) >= uncachedProof {
			b.caching.CompareAndSwap(cacheUnknown, cacheOff)
		}
	}
	return r
}

// HMGet implements backend.Backend. A field's absence is a nil element,
// told apart from an empty value element by element.
func (b *rueidisBackend) HMGet(ctx context.Context, key string, fields []string) ([]backend.Field, error) {
	arr, err := b.read(ctx, b.reads.hmget(b.c, key, fields)).ToArray()
	if err != nil {
		return nil, err
	}
	out := make([]backend.Field, len(fields))
	if err := fillFields(out, arr); err != nil {
		return nil, err
	}
	return out, nil
}

// fillFields decodes an HMGET reply into out, one field each.
func fillFields(out []backend.Field, arr []rueidis.RedisMessage) error {
	if len(arr) != len(out) {
		return fmt.Errorf("%w: HMGET of %d fields answered %d", backend.ErrReply, len(out), len(arr))
	}
	for i := range arr {
		if arr[i].IsNil() {
			continue
		}
		s, err := arr[i].ToString()
		if err != nil {
			return fmt.Errorf("%w: an HMGET element that is no string", backend.ErrReply)
		}
		out[i] = backend.Field{S: s, OK: true}
	}
	return nil
}

// HMGetPair implements backend.Backend.
func (b *rueidisBackend) HMGetPair(ctx context.Context, key backend.Keys, f0 string, f1 *backend.PairName) ([2]backend.Field, error) {
	var out [2]backend.Field
	arr, err := b.read(ctx, b.reads.hmgetPair(b.c, key.Names[0], f0, f1.S)).ToArray()
	if err != nil {
		return out, err
	}
	err = fillFields(out[:], arr) // before out is read: see the spec's order of evaluation
	return out, err
}

// HGetAll implements backend.Backend.
func (b *rueidisBackend) HGetAll(ctx context.Context, key string) (map[string]string, error) {
	r := b.read(ctx, b.reads.hgetall(b.c, key))
	if err := r.Error(); err != nil {
		return nil, err
	}
	m, err := r.AsStrMap()
	if err != nil {
		return nil, fmt.Errorf("%w: an HGETALL reply that is no map of strings", backend.ErrReply)
	}
	return m, nil
}

// Del implements backend.Backend, with the write's fence.
func (b *rueidisBackend) Del(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	del := b.c.B().Del().Key(keys...).Build()
	if b.caching.Load() == cacheOff {
		return b.c.Do(ctx, del).Error()
	}
	rs := b.c.DoMulti(ctx, del, b.c.B().Exists().Key(keys[0]).Build())
	return rs[0].Error()
}

// Time implements backend.Backend. On a cluster, TIME goes to the key's
// master in one pipeline with an EXISTS of the key, which routes it, and
// CLUSTER MYID, which names the master for the clock.
func (b *rueidisBackend) Time(ctx context.Context, key string) (backend.Sample, error) {
	var (
		r    rueidis.RedisResult
		src  string
		sent = time.Now()
	)
	if b.cluster {
		rs := b.c.DoMulti(ctx, b.c.B().Exists().Key(key).Build(), b.c.B().ClusterMyid().Build(), b.c.B().Time().Build())
		src, _ = rs[1].ToString()
		r = rs[2]
	} else {
		r = b.c.Do(ctx, b.c.B().Time().Build())
	}
	recv := time.Now()
	t, err := r.AsIntSlice()
	if err != nil {
		return backend.Sample{}, err
	}
	if len(t) != 2 {
		return backend.Sample{}, fmt.Errorf("%w: TIME answered %d elements", backend.ErrReply, len(t))
	}
	return backend.Sample{Src: src, Ms: t[0]*1000 + t[1]/1000, Sent: sent, Recv: recv}, nil
}

// ErrorPrefix implements backend.Backend. rueidis drops the "ERR " of an
// error reply and keeps every other code, so a reply that does not start
// with a code was an ERR.
func (b *rueidisBackend) ErrorPrefix(err error) (string, bool) {
	var rerr *rueidis.RedisError
	if !errors.As(err, &rerr) || rerr.IsNil() {
		return "", false
	}
	if code, ok := backend.ErrorCode(rerr.Error()); ok {
		return code, true
	}
	return "ERR", true
}

// redisError returns the Redis error reply in err's chain.
func redisError(err error) (*rueidis.RedisError, bool) {
	var rerr *rueidis.RedisError
	if errors.As(err, &rerr) && !rerr.IsNil() {
		return rerr, true
	}
	return nil, false
}

// functionMissing reports a reply to an FCALL that did not run (see
// backend.FunctionMissing).
func functionMissing(err error) bool {
	rerr, ok := redisError(err)
	return ok && backend.FunctionMissing(rerr.Error())
}

// functionsUnsupported reports a reply of a server without Functions (see
// backend.NoFunctions).
func functionsUnsupported(err error) bool {
	rerr, ok := redisError(err)
	return ok && backend.NoFunctions(rerr.Error())
}

var _ backend.Backend = (*rueidisBackend)(nil)
