package bench

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/test/redistest"
)

// valueSize is the value size of every benchmark unless it says otherwise.
const valueSize = 32

// sessionTTL is long enough that nothing expires during a run.
const sessionTTL = time.Hour

// bigLimits lift the per-session attribute count so that no benchmark
// trips it; sessions are kept small by rotation instead.
var bigLimits = attrcache.Limits{MaxAttributes: 1 << 20}

var ctx = context.Background()

// env is one redis-server with one client of default options, shared by an
// attrcache benchmark and its baselines.
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
	srv := redistest.StartServer(b)
	rdb := srv.Client(b) // Addr and no credentials: go-redis defaults otherwise
	if err := rdb.Ping(ctx).Err(); err != nil {
		b.Fatalf("ping: %v", err)
	}
	store, err := attrcache.New(rdb, attrcache.WithLimits(bigLimits))
	if err != nil {
		b.Fatalf("attrcache.New: %v", err)
	}
	return &env{srv: srv, rdb: rdb, store: store}
}

// client returns another client of the env's server, built from options
// of default values changed by change, closed when b ends.
func (e *env) client(b *testing.B, change func(*redis.Options)) *redis.Client {
	b.Helper()
	o := e.srv.Options()
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

// session is a started session that a benchmark can empty between
// operations.
type session struct {
	*attrcache.Session
	store *attrcache.Store
	rdb   *redis.Client
	sid   string
}

// session starts a fresh, empty session of the env's Store.
func (e *env) session(b *testing.B) *session { return e.sessionOf(b, e.store) }

// sessionOf starts a fresh, empty session of st, which must use e's client.
func (e *env) sessionOf(b *testing.B, st *attrcache.Store) *session {
	b.Helper()
	sid := "bench-session-" + strconv.FormatInt(e.seq.Add(1), 10)
	sess, err := st.Start(ctx, sid, sessionTTL)
	if err != nil {
		b.Fatalf("Start: %v", err)
	}
	return &session{Session: sess, store: st, rdb: e.rdb, sid: sid}
}

// empty deletes the session's key and starts the session again.
func (s *session) empty(b *testing.B) {
	b.Helper()
	if err := s.rdb.Del(ctx, s.Key()).Err(); err != nil {
		b.Fatalf("DEL: %v", err)
	}
	if _, err := s.store.Start(ctx, s.sid, sessionTTL); err != nil {
		b.Fatalf("Start: %v", err)
	}
}

// rawKey returns a fresh key for a raw hash.
func (e *env) rawKey() string {
	return "bench:raw:" + strconv.FormatInt(e.seq.Add(1), 10)
}

// emptyRaw deletes a raw hash.
func (e *env) emptyRaw(b *testing.B, key string) {
	b.Helper()
	if err := e.rdb.Del(ctx, key).Err(); err != nil {
		b.Fatalf("DEL: %v", err)
	}
}

// fillRaw writes names with value into a raw hash and gives it the
// sessions' TTL.
func (e *env) fillRaw(b *testing.B, key string, names []string, value []byte) {
	b.Helper()
	args := make([]any, 0, 2*len(names))
	for _, n := range names {
		args = append(args, n, value)
	}
	if err := e.rdb.HSet(ctx, key, args...).Err(); err != nil {
		b.Fatalf("HSET: %v", err)
	}
	if err := e.rdb.Expire(ctx, key, sessionTTL).Err(); err != nil {
		b.Fatalf("EXPIRE: %v", err)
	}
}

// fill creates names with value in sess, in as few CreateMany calls as
// the Store's MaxBatch and MaxCallBytes allow (with room for what sealing
// adds).
func fill(b *testing.B, sess *session, names []string, value []byte, opts ...attrcache.WriteOption) {
	b.Helper()
	lim := attrcache.Limits{MaxBatch: 1000, MaxCallBytes: 512 << 10} // the defaults, which bigLimits keeps
	for len(names) > 0 {
		n, bytes := 0, 0
		for n < len(names) && n < lim.MaxBatch && bytes+len(names[n])+len(value)+sealSlack <= lim.MaxCallBytes {
			bytes += len(names[n]) + len(value) + sealSlack
			n++
		}
		if err := sess.CreateMany(ctx, attrs(names[:n], value), opts...); err != nil {
			b.Fatalf("CreateMany: %v", err)
		}
		names = names[n:]
	}
}

// sealSlack is more than sealing adds to a value.
const sealSlack = 64

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

// loop runs op b.N times with the timer on. Before the timer starts it
// runs op once to load the script and warm the connection, then calls
// fresh. When every > 0, op sees i counting 0..every-1 and fresh runs with
// the timer off after each every operations, so the state op works on
// (session size, free names) is the same for attrcache and its baselines
// whatever b.N is.
//
// Besides the usual figures it reports p50-ns/op and p99-ns/op, the median
// and 99th percentile latency of one operation (bursts of other work on a
// shared machine move the median much less than the mean), the CPU time
// of client and server per operation (see cpuMeter), and Redis's
// execution time of cmds, the commands this side sends (see cmdMeter).
func loop(b *testing.B, rdb *redis.Client, cmds []string, every int, fresh func(), op func(i int) error) {
	b.Helper()
	run(b, newMeter(b, rdb, cmds, false), every, fresh, op)
}

// loopSlow is loop that also reports the longest single call of cmds
// (max-server-µs), for the worst-case benchmarks. The slow log it needs
// costs every command a little wall time, not execution time.
func loopSlow(b *testing.B, rdb *redis.Client, cmds []string, every int, fresh func(), op func(i int) error) {
	b.Helper()
	run(b, newMeter(b, rdb, cmds, true), every, fresh, op)
}

func run(b *testing.B, m *meter, every int, fresh func(), op func(i int) error) {
	b.Helper()
	fresh()
	if err := op(0); err != nil {
		b.Fatalf("warm-up: %v", err)
	}
	fresh()
	lat := make([]time.Duration, b.N)
	b.ReportAllocs()
	m.start()
	b.ResetTimer()
	j := 0
	for n := range b.N {
		if every > 0 && j == every {
			b.StopTimer()
			m.stop()
			fresh()
			m.start()
			b.StartTimer()
			j = 0
		}
		t0 := time.Now()
		err := op(j)
		lat[n] = time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		j++
	}
	b.StopTimer()
	m.stop()
	m.report(b)
	reportLatency(b, lat)
}

// reportLatency reports the median and 99th percentile of lat, which it
// sorts.
func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns/op")
	b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns/op")
}

func nothing() {}
