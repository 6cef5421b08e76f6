package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/test/redistest"
)

// valueSize is the value size of every benchmark unless it says otherwise.
const valueSize = 32

// sessionAttrs is how many attributes a typical session holds.
const sessionAttrs = 10

// sessionTTL is long enough that nothing expires during a run.
const sessionTTL = time.Hour

// quietAfter is how long a session must go unwritten to be quiet: every
// write keeps its token in the session's resend log until the call's
// deadline, at most the Store's call timeout (1 s by default) after it
// was sent, plus the bound of the Store's estimate of Redis's clock. A
// quiet session's log holds only dead entries, which its next write
// drops.
const quietAfter = time.Second + 500*time.Millisecond

var ctx = context.Background()

// env is one redis-server with one client and a Store of default options
// on it, shared by an attrcache benchmark and its baselines. The client
// has go-redis's default options but ContextTimeoutEnabled, as package
// config builds clients: the Store then bounds a call by handing its
// deadline to the client. With go-redis's default (no
// ContextTimeoutEnabled) the Store waits for every command on a
// goroutine of its own, whose scheduling on a 2-core machine also
// preempts redis-server in the middle of commands and inflates their
// measured execution time; BenchmarkGet, BenchmarkAllocs and
// BenchmarkSaturation measure that client too.
type env struct {
	srv   *redistest.Server
	rdb   *redis.Client
	store *attrcache.Store
	seq   atomic.Int64 // session ids and raw keys
}

// newEnv starts a redis-server for the top-level benchmark b; it stops
// when b ends.
func newEnv(b *testing.B) *env {
	b.Helper()
	e := &env{srv: redistest.StartServer(b)}
	e.rdb = e.client(b, nil)
	e.store = newStore(b, e.rdb)
	return e
}

// client returns a client of the env's server, built from go-redis's
// default options with ContextTimeoutEnabled and changed by change,
// closed when b ends.
func (e *env) client(b *testing.B, change func(*redis.Options)) *redis.Client {
	b.Helper()
	o := e.srv.Options() // Addr and no credentials: go-redis defaults otherwise
	o.ContextTimeoutEnabled = true
	if change != nil {
		change(o)
	}
	c := redis.NewClient(o)
	b.Cleanup(func() { _ = c.Close() })
	if err := c.Ping(ctx).Err(); err != nil {
		b.Fatalf("ping: %v", err)
	}
	return c
}

// newStore returns a Store on rdb with opts, failing b on error.
func newStore(b *testing.B, rdb attrcache.Client, opts ...attrcache.Option) *attrcache.Store {
	b.Helper()
	st, err := attrcache.New(rdb, opts...)
	if err != nil {
		b.Fatalf("attrcache.New: %v", err)
	}
	return st
}

// sid returns a fresh session id. The key holds a digest of it, so its
// length does not matter.
func (e *env) sid() string {
	return "bench-session-" + strconv.FormatInt(e.seq.Add(1), 10)
}

// start starts a fresh, empty session of st with opts.
func (e *env) start(b *testing.B, st *attrcache.Store, opts ...attrcache.StartOption) *attrcache.Session {
	b.Helper()
	sess, err := st.Start(ctx, e.sid(), sessionTTL, opts...)
	if err != nil {
		b.Fatalf("Start: %v", err)
	}
	return sess
}

// session starts a session of st and creates attrs in it with one
// CreateMany (none when attrs is empty).
func (e *env) session(b *testing.B, st *attrcache.Store, attrs []attrcache.Attr, opts ...attrcache.WriteOption) *attrcache.Session {
	b.Helper()
	sess := e.start(b, st)
	if len(attrs) > 0 {
		if err := sess.CreateMany(ctx, attrs, opts...); err != nil {
			b.Fatalf("CreateMany: %v", err)
		}
	}
	return sess
}

// prepWorkers is how many goroutines prepare sessions.
const prepWorkers = 8

// each runs f(i) for i in [0, n) on prepWorkers goroutines, failing b
// on the first error.
func each(b *testing.B, n int, f func(i int) error) {
	b.Helper()
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		once sync.Once
		fail error
	)
	for range prepWorkers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { fail = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if fail != nil {
		b.Fatal(fail)
	}
}

// maker makes the i-th session of a pool.
type maker func(i int) (*attrcache.Session, error)

// unbound is a maker of sessions of st, started and given attrs in one
// CreateMany (none when attrs is empty).
func (e *env) unbound(st *attrcache.Store, attrs []attrcache.Attr) maker {
	return func(int) (*attrcache.Session, error) {
		sess, err := st.Start(ctx, e.sid(), sessionTTL)
		if err != nil {
			return nil, fmt.Errorf("Start: %w", err)
		}
		if len(attrs) > 0 {
			if err := sess.CreateMany(ctx, attrs); err != nil {
				return nil, fmt.Errorf("CreateMany: %w", err)
			}
		}
		return sess, nil
	}
}

// pools returns a pool of n sessions from each maker, made quiet: it
// returns quietAfter after the last write. The pools are made
// interleaved (the i-th session of each, then the next), so that when
// the calls begin no pool is fresher than another in the CPU's caches.
func (e *env) pools(b *testing.B, n int, makers ...maker) [][]*attrcache.Session {
	b.Helper()
	out := make([][]*attrcache.Session, len(makers))
	for k := range out {
		out[k] = make([]*attrcache.Session, n)
	}
	each(b, n, func(i int) error {
		for k, mk := range makers {
			sess, err := mk(i)
			if err != nil {
				return err
			}
			out[k][i] = sess
		}
		return nil
	})
	time.Sleep(quietAfter)
	return out
}

// pool is pools of one maker: n sessions of st given attrs.
func (e *env) pool(b *testing.B, st *attrcache.Store, n int, attrs []attrcache.Attr) []*attrcache.Session {
	b.Helper()
	return e.pools(b, n, e.unbound(st, attrs))[0]
}

// rawKeyLen is the length of a session key ("attrcache:s:{" 43
// characters "}"): raw hashes get keys of the same length.
const rawKeyLen = 57

// rawKey returns a fresh key for a raw hash, as long as a session key.
func (e *env) rawKey() string {
	return fmt.Sprintf("raw:{%0*d}", rawKeyLen-6, e.seq.Add(1))
}

// fillRaw writes attrs into the raw hash key and, when ttl > 0, gives it
// that TTL, as a session key has one.
func (e *env) fillRaw(b *testing.B, key string, attrs []attrcache.Attr, ttl time.Duration) {
	b.Helper()
	args := make([]any, 0, 2*len(attrs))
	for _, a := range attrs {
		args = append(args, a.Name, a.Value)
	}
	if err := e.rdb.HSet(ctx, key, args...).Err(); err != nil {
		b.Fatalf("HSET: %v", err)
	}
	if ttl > 0 {
		if err := e.rdb.Expire(ctx, key, ttl).Err(); err != nil {
			b.Fatalf("EXPIRE: %v", err)
		}
	}
}

// rawPool returns n raw hashes holding attrs, with the sessions' TTL.
func (e *env) rawPool(b *testing.B, n int, attrs []attrcache.Attr) []string {
	b.Helper()
	keys := make([]string, n)
	for i := range keys {
		keys[i] = e.rawKey()
		e.fillRaw(b, keys[i], attrs, sessionTTL)
	}
	return keys
}

// setConfig sets a server parameter until b ends.
func (e *env) setConfig(b *testing.B, name, value string) {
	b.Helper()
	old, err := e.rdb.ConfigGet(ctx, name).Result()
	if err != nil || old[name] == "" {
		b.Fatalf("CONFIG GET %s: %v %v", name, old, err)
	}
	if err := e.rdb.ConfigSet(ctx, name, value).Err(); err != nil {
		b.Fatalf("CONFIG SET %s: %v", name, err)
	}
	b.Cleanup(func() { _ = e.rdb.ConfigSet(ctx, name, old[name]).Err() })
}

// names returns n attribute names of a typical shape ("attr-0042").
func names(n int) []string {
	return prefixed("attr-", n)
}

func prefixed(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%04d", prefix, i)
	}
	return out
}

// value returns n bytes of a fixed pattern.
func value(n int) []byte {
	v := make([]byte, n)
	for i := range v {
		v[i] = byte('a' + i%26)
	}
	return v
}

// attrs pairs every name with value.
func attrs(names []string, value []byte) []attrcache.Attr {
	out := make([]attrcache.Attr, len(names))
	for i, n := range names {
		out[i] = attrcache.Attr{Name: n, Value: value}
	}
	return out
}

// typical is a typical session's attributes: sessionAttrs of valueSize
// bytes.
func typical() []attrcache.Attr { return attrs(names(sessionAttrs), value(valueSize)) }

// target is the attribute single-attribute calls work on.
var target = names(sessionAttrs)[sessionAttrs/2]
