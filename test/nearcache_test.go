package test

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/test/redistest"
)

// maxStaleness is the near caches' backstop in these tests: go-redis never
// serves an entry older than this, invalidation or not.
const maxStaleness = 2 * time.Second

// nearClient returns a RESP3 client on srv with its own near cache.
func nearClient(t *testing.T, srv *redistest.Server) (*redis.Client, *attrcache.NearCache) {
	t.Helper()
	near := attrcache.NewNearCache(redis.CacheConfig{MaxEntries: 10_000, MaxStaleness: maxStaleness})
	o := srv.Options()
	o.Protocol = 3
	o.ClientSideCache = near
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c, near
}

// commandCalls is how many times the server has run cmd.
func commandCalls(t *testing.T, rdb *redis.Client, cmd string) int {
	t.Helper()
	info, err := rdb.Info(testCtx(t, 5*time.Second), "commandstats").Result()
	must(t, err)
	m := regexp.MustCompile(`cmdstat_` + cmd + `:calls=(\d+)`).FindStringSubmatch(info)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestNearCacheReadYourWrites: on one Store, a read after a write that
// returned sees that write, every time, although the cache held the
// previous value and Redis's invalidation may not have arrived yet.
func TestNearCacheReadYourWrites(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t)
	c, near := nearClient(t, srv)
	st := newStore(t, c)
	ctx := testCtx(t, 120*time.Second)
	s, err := st.Start(ctx, "ryw-"+randHex(8), time.Hour)
	must(t, err)
	must(t, s.Set(ctx, "a", []byte("0")))
	const rounds = 10_000
	for i := 1; i <= rounds; i++ {
		if _, err := s.Get(ctx, "a"); err != nil { // caches the current value
			t.Fatal(err)
		}
		want := strconv.Itoa(i)
		must(t, s.Set(ctx, "a", []byte(want)))
		e, err := s.Get(ctx, "a")
		must(t, err)
		if string(e.Value) != want {
			t.Fatalf("round %d: read %q after writing %q", i, e.Value, want)
		}
	}
	stats := near.Stats()
	t.Logf("near cache after %d write-then-read rounds: %d hits, %d misses", rounds, stats.Hits, stats.Misses)

	// The control: the same rounds through go-redis's cache alone, with
	// the write on another connection, as another goroutine's would be.
	// How often it reads its own write stale is why attrcache evicts.
	ctl := redis.NewClient(&redis.Options{Addr: srv.Addr(), Protocol: 3, ClientSideCacheConfig: &redis.CacheConfig{MaxEntries: 100}})
	defer ctl.Close()
	writer := srv.Client(t)
	stale := 0
	for i := range 2000 {
		ctl.HGet(ctx, "control", "a")
		must(t, writer.HSet(ctx, "control", "a", i).Err())
		if v, _ := ctl.HGet(ctx, "control", "a").Result(); v != strconv.Itoa(i) {
			stale++
		}
	}
	t.Logf("control: go-redis's cache alone read a write made on another connection stale in %d of 2000 rounds", stale)
}

// TestNearCacheCrossInstance: another instance's write, and its End, reach
// a reader's near cache within the invalidation delay, measured here, and
// never later than the cache's MaxStaleness backstop.
func TestNearCacheCrossInstance(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t)
	wc, _ := nearClient(t, srv)
	rc, _ := nearClient(t, srv)
	w := newStore(t, wc)
	r, err := attrcache.New(rc, attrcache.WithNamespace(w.Namespace()))
	must(t, err)
	ctx := testCtx(t, 120*time.Second)
	sid := "cross-" + randHex(8)
	ws, err := w.Start(ctx, sid, time.Hour)
	must(t, err)
	rs := r.Session(sid)

	const rounds = 300
	var delays []time.Duration
	for i := range rounds {
		must(t, ws.Set(ctx, "a", []byte(strconv.Itoa(i))))
		written := time.Now()
		for {
			e, err := rs.Get(ctx, "a")
			must(t, err)
			if string(e.Value) == strconv.Itoa(i) {
				delays = append(delays, time.Since(written))
				break
			}
			if time.Since(written) > maxStaleness+time.Second {
				t.Fatalf("round %d: the reader still saw %q %v after the write", i, e.Value, time.Since(written))
			}
			time.Sleep(100 * time.Microsecond)
		}
		// Let the reader's cache hold the value again before the next write.
		_, _ = rs.Get(ctx, "a")
	}
	slices.Sort(delays)
	t.Logf("another instance's write seen after: p50 %v, p99 %v, max %v (%d rounds)",
		delays[len(delays)/2], delays[len(delays)*99/100], delays[len(delays)-1], rounds)

	// End from the writer: the reader's cached session reads as ended.
	_, err = rs.Get(ctx, "a")
	must(t, err)
	must(t, ws.End(ctx))
	ended := time.Now()
	for {
		_, err := rs.Get(ctx, "a")
		if errors.Is(err, attrcache.ErrSessionNotFound) {
			t.Logf("another instance's End seen after %v", time.Since(ended))
			break
		}
		must(t, err)
		if time.Since(ended) > maxStaleness+time.Second {
			t.Fatal("the reader still saw the session after the other instance ended it")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// TestNearCacheHits: repeated reads of an unchanged session answer from
// memory: the server runs no HMGET for them. Expiry is judged on every
// hit: an attribute that expires while cached reads as absent at once.
func TestNearCacheHits(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t)
	c, near := nearClient(t, srv)
	direct := srv.Client(t)
	st := newStore(t, c)
	ctx := testCtx(t, 30*time.Second)
	s, err := st.Start(ctx, "hits-"+randHex(8), time.Hour)
	must(t, err)
	must(t, s.Create(ctx, "a", []byte("1")))
	must(t, s.Create(ctx, "short", []byte("2"), attrcache.WithExpiration(300*time.Millisecond)))
	// Twice each: go-redis may leave the first fetch on a new connection
	// uncached.
	for range 2 {
		_, err = s.GetMany(ctx, []string{"a", "short"})
		must(t, err)
		_, err = s.Get(ctx, "a")
		must(t, err)
	}
	calls := commandCalls(t, direct, "hmget")
	hits := near.Stats().Hits
	for range 1000 {
		e, err := s.Get(ctx, "a")
		must(t, err)
		if string(e.Value) != "1" {
			t.Fatalf("cached Get = %q", e.Value)
		}
	}
	if n := commandCalls(t, direct, "hmget") - calls; n != 0 {
		t.Fatalf("1000 Gets of an unchanged session ran %d HMGETs on the server, want 0", n)
	}
	if h := near.Stats().Hits - hits; h < 1000 {
		t.Fatalf("1000 Gets made %d cache hits", h)
	}
	time.Sleep(350 * time.Millisecond)
	calls = commandCalls(t, direct, "hmget")
	m, err := s.GetMany(ctx, []string{"a", "short"})
	must(t, err)
	if m["short"] != nil || m["a"] == nil {
		t.Fatalf("GetMany from the cache after short expired: %v", m)
	}
	if n := commandCalls(t, direct, "hmget") - calls; n != 0 {
		t.Fatalf("the read after the expiry went to the server (%d HMGETs): the test did not exercise a hit", n)
	}
}

// TestNearCacheShapes: attrcache refuses a client-side cache it cannot
// evict, and falls back quietly where go-redis does not cache.
func TestNearCacheShapes(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t)
	plain := redis.NewClient(&redis.Options{Addr: srv.Addr(), Protocol: 3, ClientSideCacheConfig: &redis.CacheConfig{MaxEntries: 10}})
	defer plain.Close()
	if _, err := attrcache.New(plain); !errors.Is(err, attrcache.ErrInvalid) {
		t.Fatalf("New on a client with ClientSideCacheConfig: %v, want ErrInvalid", err)
	}
	other := redis.NewClient(&redis.Options{Addr: srv.Addr(), Protocol: 3, ClientSideCache: redis.NewLocalCache(redis.CacheConfig{MaxEntries: 10})})
	defer other.Close()
	if _, err := attrcache.New(other); !errors.Is(err, attrcache.ErrInvalid) {
		t.Fatalf("New on a client with a LocalCache: %v, want ErrInvalid", err)
	}
	// RESP2: go-redis does not cache; attrcache works uncached.
	resp2 := redis.NewClient(&redis.Options{Addr: srv.Addr(), Protocol: 2, ClientSideCache: attrcache.NewNearCache(redis.CacheConfig{MaxEntries: 10})})
	defer resp2.Close()
	ctx := testCtx(t, 10*time.Second)
	st := newStore(t, resp2)
	s, err := st.Start(ctx, "resp2-"+randHex(8), time.Hour)
	must(t, err)
	must(t, s.Set(ctx, "a", []byte("1")))
	e, err := s.Get(ctx, "a")
	must(t, err)
	if string(e.Value) != "1" {
		t.Fatal(fmt.Sprintf("RESP2 Get = %q", e.Value))
	}
}

// TestNearCachePartition cuts an instance off from Redis without closing
// its connections (a proxy that stops forwarding both ways), lets another
// instance end the session, and checks that the cut-off instance stops
// reading it as live from its near cache within 2 s of the End: the
// cache serves hits only while a recent PING or script was answered.
func TestNearCachePartition(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t)
	p := redistest.NewProxy(t, srv.Addr())
	near := attrcache.NewNearCache(redis.CacheConfig{MaxEntries: 10_000, MaxStaleness: time.Hour})
	o := srv.Options()
	o.Addr, o.Protocol, o.ClientSideCache = p.Addr(), 3, near
	o.MaxRetries = -1
	cut := redis.NewClient(o)
	t.Cleanup(func() { _ = cut.Close() })
	ns := "part-" + randHex(4)
	a, err := attrcache.New(cut, attrcache.WithNamespace(ns), attrcache.WithCallTimeout(300*time.Millisecond))
	must(t, err)
	b := newStore(t, srv.Client(t), attrcache.WithNamespace(ns))
	ctx := testCtx(t, 60*time.Second)
	sid := "part-" + randHex(8)
	s, err := a.Start(ctx, sid, time.Hour)
	must(t, err)
	must(t, s.Set(ctx, "role", []byte("user")))
	// Reads for a while: the cache holds the session, and hits renew the
	// lease in the background.
	for range 50 {
		_, err := s.Get(ctx, "role")
		must(t, err)
		time.Sleep(20 * time.Millisecond)
	}
	hits := near.Stats().Hits
	if hits == 0 {
		t.Fatal("the near cache never answered: the test proves nothing")
	}

	p.SetRequestDelay(time.Hour)
	p.SetDelay(time.Hour)
	t.Cleanup(func() { p.SetRequestDelay(0); p.SetDelay(0) })
	must(t, b.Session(sid).End(ctx))
	ended := time.Now()
	var lastLive time.Duration
	for time.Since(ended) < 3*time.Second {
		if _, err := s.Get(ctx, "role"); err == nil {
			lastLive = time.Since(ended)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("the cut-off instance read the ended session as live until %v after the End (%d hits before the cut, %d lapses)",
		lastLive.Round(time.Millisecond), hits, near.Lapses())
	if lastLive > 2*time.Second {
		t.Fatalf("the cut-off instance read the ended session as live %v after the End, want at most 2s", lastLive)
	}
}
