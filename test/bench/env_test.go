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
	return &env{rdb: rdb, store: store}
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

// fill creates names with value in sess, in batches of at most 1,000.
func fill(b *testing.B, sess *session, names []string, value []byte, opts ...attrcache.WriteOption) {
	b.Helper()
	for len(names) > 0 {
		n := min(len(names), attrcache.DefaultLimits.MaxBatch)
		if err := sess.CreateMany(ctx, attrs(names[:n], value), opts...); err != nil {
			b.Fatalf("CreateMany: %v", err)
		}
		names = names[n:]
	}
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

// loop runs op b.N times with the timer on. Before the timer starts it
// runs op once to load the script and warm the connection, then calls
// fresh. When every > 0, op sees i counting 0..every-1 and fresh runs with
// the timer off after each every operations, so the state op works on
// (session size, free names) is the same for attrcache and its baselines
// whatever b.N is.
//
// Besides the usual figures it reports p50-ns/op, the median latency of
// one operation, which other processes' bursts on a shared machine move
// much less than the mean, and the CPU time of client and server per
// operation (see cpuMeter).
func loop(b *testing.B, rdb *redis.Client, every int, fresh func(), op func(i int) error) {
	b.Helper()
	fresh()
	if err := op(0); err != nil {
		b.Fatalf("warm-up: %v", err)
	}
	fresh()
	lat := make([]time.Duration, b.N)
	cpu := newCPUMeter(rdb)
	b.ReportAllocs()
	cpu.start()
	b.ResetTimer()
	j := 0
	for n := range b.N {
		if every > 0 && j == every {
			b.StopTimer()
			cpu.stop()
			fresh()
			cpu.start()
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
	cpu.stop()
	cpu.report(b)
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns/op")
}

func nothing() {}
