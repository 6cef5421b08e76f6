package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/test/redistest"
	"github.com/attrcache/attrcache/web"
)

// rotator rotates one session again and again through Manager.Rotate,
// on a real redis-server, counting commands.
type rotator struct {
	m    *web.Manager
	cmds *counter
	id   string
}

func newRotator(tb testing.TB, attrs int, encrypted bool) *rotator {
	srv := redistest.StartServer(tb)
	rdb := redis.NewClient(srv.Options())
	tb.Cleanup(func() { rdb.Close() })
	c := &counter{}
	rdb.AddHook(c)
	store, err := attrcache.New(rdb, attrcache.WithCipher(envelope(tb)))
	if err != nil {
		tb.Fatal(err)
	}
	m, err := web.New(store, cfg(time.Hour, 2*time.Hour))
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	id := attrcache.NewSessionID()
	sess, err := store.Start(ctx, id, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	batch := make([]attrcache.Attr, attrs)
	for i := range batch {
		batch[i] = attrcache.Attr{Name: fmt.Sprintf("attr-%03d", i), Value: []byte(fmt.Sprintf("%064d", i))}
		if encrypted {
			batch[i].Options = []attrcache.WriteOption{attrcache.WithEncryption()}
		}
	}
	if err := sess.CreateMany(ctx, batch); err != nil {
		tb.Fatal(err)
	}
	return &rotator{m: m, cmds: c, id: id}
}

// rotate does what a request to a handler calling Rotate does, without
// the HTTP around it.
func (r *rotator) rotate(tb testing.TB) {
	req := httptest.NewRequest("POST", "/", nil)
	req.AddCookie(&http.Cookie{Name: r.m.Config().CookieName, Value: r.id})
	w := httptest.NewRecorder()
	if _, err := r.m.Rotate(w, req); err != nil {
		tb.Fatal(err)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		tb.Fatalf("rotation set %d cookies", len(cookies))
	}
	r.id = cookies[0].Value
}

// TestRotateCost reports what Rotate costs for sessions of 10 and 100
// attributes on a real redis-server over loopback: latency and Redis
// commands. It checks the command count (counting is not timing) and
// only logs the latencies.
func TestRotateCost(t *testing.T) {
	for _, attrs := range []int{10, 100} {
		for _, encrypted := range []bool{false, true} {
			t.Run(fmt.Sprintf("attrs=%d,encrypted=%t", attrs, encrypted), func(t *testing.T) {
				r := newRotator(t, attrs, encrypted)
				r.rotate(t) // warm: scripts loaded, clock sampled
				const n = 200
				took := make([]time.Duration, n)
				before := r.cmds.n.Load()
				for i := range took {
					t0 := time.Now()
					r.rotate(t)
					took[i] = time.Since(t0)
				}
				cmds := float64(r.cmds.n.Load()-before) / n
				slices.Sort(took)
				t.Logf("Rotate, %d attributes of 64 bytes, encrypted %t: median %v, p90 %v, max %v; %.1f Redis commands",
					attrs, encrypted, took[n/2].Round(time.Microsecond), took[n*9/10].Round(time.Microsecond), took[n-1].Round(time.Microsecond), cmds)
				// Freeze, read (HGETALL), commit, retire, activate: five
				// commands, whatever the session holds.
				if cmds != 5 {
					t.Errorf("Rotate sent %.1f commands, want 5", cmds)
				}
			})
		}
	}
}

// BenchmarkRotate measures Manager.Rotate on a real redis-server.
func BenchmarkRotate(b *testing.B) {
	for _, attrs := range []int{10, 100} {
		for _, encrypted := range []bool{false, true} {
			b.Run(fmt.Sprintf("attrs=%d,encrypted=%t", attrs, encrypted), func(b *testing.B) {
				r := newRotator(b, attrs, encrypted)
				r.rotate(b)
				before := r.cmds.n.Load()
				for b.Loop() {
					r.rotate(b)
				}
				b.ReportMetric(float64(r.cmds.n.Load()-before)/float64(b.N), "cmds/op")
			})
		}
	}
}

// BenchmarkHandler measures what the middleware adds to a request, with
// no network around it: a request that does not touch its session (no
// Redis at all), and one whose handler only asks FromContext.
func BenchmarkHandler(b *testing.B) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled: nothing here reaches Redis
	defer rdb.Close()
	store, err := attrcache.New(rdb)
	if err != nil {
		b.Fatal(err)
	}
	m, err := web.New(store, cfg(time.Hour, 2*time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	untouched := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	looks := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if web.FromContext(r.Context()) == nil {
			b.Fatal("no session")
		}
		w.WriteHeader(http.StatusNoContent)
	})
	id := attrcache.NewSessionID()
	for _, c := range []struct {
		name string
		h    http.Handler
	}{
		{"bare", untouched},
		{"untouched", m.Handler(untouched)},
		{"FromContext", m.Handler(looks)},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/", nil)
			req.AddCookie(&http.Cookie{Name: m.Config().CookieName, Value: id})
			b.ReportAllocs()
			for b.Loop() {
				c.h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}
