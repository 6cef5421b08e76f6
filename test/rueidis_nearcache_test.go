package test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/test/redistest"
)

// rueidisTopology is a deployment a near-cache test runs on: how to make
// a client on it, and its masters, whose command counts show what went to
// Redis.
type rueidisTopology struct {
	name    string
	option  rueidis.ClientOption
	masters func() []string
}

// rueidisTopologies starts a single server, a Sentinel deployment and a
// Cluster of three masters.
func rueidisTopologies(t *testing.T) []rueidisTopology {
	t.Helper()
	srv := redistest.StartServer(t)
	sen := redistest.StartSentinel(t)
	cl := redistest.StartCluster(t)
	return []rueidisTopology{
		{"Single", rueidis.ClientOption{InitAddress: []string{srv.Addr()}}, func() []string { return []string{srv.Addr()} }},
		{"Sentinel", rueidis.ClientOption{InitAddress: sen.SentinelAddrs(), Sentinel: rueidis.SentinelOption{MasterSet: sen.MasterName()}},
			func() []string { return []string{sen.MasterAddr()} }},
		{"Cluster", rueidis.ClientOption{InitAddress: cl.Addrs()}, cl.MasterAddrs},
	}
}

// cacheMetrics reads attrcache.near_cache.hits and misses.
func cacheMetrics(t *testing.T, reader *sdkmetric.ManualReader) (hits, misses int64) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	must(t, reader.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok || len(sum.DataPoints) != 1 {
				continue
			}
			switch m.Name {
			case "attrcache.near_cache.hits":
				hits = sum.DataPoints[0].Value
			case "attrcache.near_cache.misses":
				misses = sum.DataPoints[0].Value
			}
		}
	}
	return hits, misses
}

// calls is how many times the masters have run cmd.
func calls(t *testing.T, masters []string, cmd string) int {
	t.Helper()
	n := 0
	for _, addr := range masters {
		c := redis.NewClient(&redis.Options{Addr: addr})
		n += commandCalls(t, c, cmd)
		_ = c.Close()
	}
	return n
}

// TestRueidisNearCache runs the near cache's promises on each topology:
// hits reach no server, expiry is judged on every hit, a Store reads its
// own writes over many rounds, and another instance's writes and its End
// are seen within the invalidation delay.
func TestRueidisNearCache(t *testing.T) {
	t.Parallel()
	for _, topo := range rueidisTopologies(t) {
		t.Run(topo.name, func(t *testing.T) {
			t.Run("Hits", func(t *testing.T) { testRueidisHits(t, topo) })
			t.Run("ReadYourWrites", func(t *testing.T) { testRueidisReadYourWrites(t, topo) })
			t.Run("CrossInstance", func(t *testing.T) { testRueidisCrossInstance(t, topo) })
		})
	}
}

func testRueidisHits(t *testing.T, topo rueidisTopology) {
	c := newRueidis(t, topo.option)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	st := newRueidisStore(t, c, attrcache.WithMeterProvider(mp))
	ctx := testCtx(t, 60*time.Second)
	s, err := st.Start(ctx, "hits-"+randHex(8), time.Hour)
	must(t, err)
	must(t, s.Set(ctx, "a", []byte("1")))
	must(t, s.Set(ctx, "short", []byte("2"), attrcache.WithExpiration(300*time.Millisecond)))
	_, err = s.Get(ctx, "a")
	must(t, err)
	_, err = s.Get(ctx, "short")
	must(t, err)
	_, err = s.GetAll(ctx)
	must(t, err)

	before := calls(t, topo.masters(), "hmget") + calls(t, topo.masters(), "hgetall")
	const reads = 1000
	for range reads {
		if e, err := s.Get(ctx, "a"); err != nil || string(e.Value) != "1" {
			t.Fatalf("Get = %v, %v", e, err)
		}
		if _, err := s.GetAll(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := calls(t, topo.masters(), "hmget") + calls(t, topo.masters(), "hgetall") - before; n != 0 {
		t.Errorf("%d reads of an unchanged session sent %d reads to Redis, want 0", 2*reads, n)
	}
	// The Store's near-cache metrics count them: the three first reads
	// missed, the rest hit.
	hits, misses := cacheMetrics(t, reader)
	if hits != 2*reads || misses != 3 {
		t.Errorf("near-cache metrics: %d hits, %d misses; want %d and 3", hits, misses, 2*reads)
	}

	// Expiry is judged on every hit: the cached record of "short" reads
	// as absent once it expires, with no invalidation and no server call.
	time.Sleep(400 * time.Millisecond)
	before = calls(t, topo.masters(), "hmget")
	_, err = s.Get(ctx, "short")
	if !errors.Is(err, attrcache.ErrNotFound) {
		t.Fatalf("Get of an attribute expired while cached: %v, want ErrNotFound", err)
	}
	if n := calls(t, topo.masters(), "hmget") - before; n != 0 {
		t.Errorf("the expired hit sent %d reads to Redis", n)
	}
}

func testRueidisReadYourWrites(t *testing.T, topo rueidisTopology) {
	c := newRueidis(t, topo.option)
	st := newRueidisStore(t, c)
	ctx := testCtx(t, 120*time.Second)
	const rounds = 3000
	s, err := st.Start(ctx, "ryw-"+randHex(8), time.Hour)
	must(t, err)
	must(t, s.Set(ctx, "a", []byte("0")))
	// write.lua reads with one HMGET of its own, which the server counts
	// too: the reads that reached Redis are the HMGETs less the FCALLs.
	reads := func() int { return calls(t, topo.masters(), "hmget") - calls(t, topo.masters(), "fcall") }
	before := reads()
	for i := 1; i <= rounds; i++ {
		if _, err := s.Get(ctx, "a"); err != nil { // cached: the previous value
			t.Fatal(err)
		}
		want := strconv.Itoa(i)
		must(t, s.Set(ctx, "a", []byte(want)))
		e, err := s.Get(ctx, "a")
		must(t, err)
		if string(e.Value) != want {
			t.Fatalf("round %d: read %q after writing %q", i, e.Value, want)
		}
		// Other writes: Delete and End are fenced too.
		if i%500 == 0 {
			must(t, s.Delete(ctx, "a"))
			if _, err := s.Get(ctx, "a"); !errors.Is(err, attrcache.ErrNotFound) {
				t.Fatalf("round %d: Get after Delete: %v", i, err)
			}
			must(t, s.Set(ctx, "a", []byte(want)))
		}
	}
	// Each round's first Get hits (the write's fence left the new value
	// to be read once from Redis); so about one read per round reaches it.
	n := reads() - before
	t.Logf("%d write-then-read rounds sent %d reads to Redis", rounds, n)
	if n > rounds+rounds/500*2+10 {
		t.Errorf("%d rounds sent %d HMGETs: the cache answered nothing", rounds, n)
	}
	must(t, s.End(ctx))
	if _, err := s.Get(ctx, "a"); !errors.Is(err, attrcache.ErrSessionNotFound) {
		t.Fatalf("Get after End: %v", err)
	}

	// The control: a Store on a client built without Options, whose
	// writes may leave on another connection than the one that caches
	// the key. How often it reads its own write stale is why Options
	// sets one connection per node.
	if topo.name != "Single" {
		return
	}
	c4, err := rueidis.NewClient(topo.option)
	must(t, err)
	defer c4.Close()
	s4, err := rueidisStores(c4)(t, attrcache.WithNamespace(st.Namespace())).Start(ctx, "ctl-"+randHex(8), time.Hour)
	must(t, err)
	stale := 0
	for i := range 1000 {
		_, _ = s4.Get(ctx, "a")
		must(t, s4.Set(ctx, "a", []byte(strconv.Itoa(i))))
		if e, err := s4.Get(ctx, "a"); err == nil && string(e.Value) != strconv.Itoa(i) {
			stale++
		}
	}
	t.Logf("control: a Store on a client of rueidis's default connections read its own write stale in %d of 1000 rounds", stale)
}

// testRueidisCrossInstance: another instance's write, and its End, reach
// a reader's cache within the invalidation delay, which it measures.
func testRueidisCrossInstance(t *testing.T, topo rueidisTopology) {
	w := newRueidisStore(t, newRueidis(t, topo.option))
	r := rueidisStores(newRueidis(t, topo.option))(t, attrcache.WithNamespace(w.Namespace()))
	ctx := testCtx(t, 120*time.Second)
	const rounds = 200
	var delays []time.Duration
	poll := func(what string, done func() bool) {
		start := time.Now()
		for !done() {
			if time.Since(start) > time.Second {
				t.Fatalf("%s: not seen after 1s", what)
			}
		}
		delays = append(delays, time.Since(start))
	}
	for i := range rounds {
		sid := "cross-" + randHex(8)
		ws, err := w.Start(ctx, sid, time.Hour)
		must(t, err)
		rs := r.Session(sid)
		must(t, ws.Set(ctx, "a", []byte("old")))
		if e, err := rs.Get(ctx, "a"); err != nil || string(e.Value) != "old" { // cached
			t.Fatalf("round %d: Get = %v, %v", i, e, err)
		}
		if i%2 == 0 {
			must(t, ws.Set(ctx, "a", []byte("new")))
			poll("a write", func() bool {
				e, err := rs.Get(ctx, "a")
				must(t, err)
				return string(e.Value) == "new"
			})
		} else {
			must(t, ws.End(ctx))
			poll("an End", func() bool {
				_, err := rs.Get(ctx, "a")
				if err != nil && !errors.Is(err, attrcache.ErrSessionNotFound) {
					t.Fatal(err)
				}
				return err != nil
			})
		}
	}
	slices.Sort(delays)
	t.Logf("another instance's write or End seen after p50 %v, p99 %v, max %v",
		delays[len(delays)/2], delays[len(delays)*99/100], delays[len(delays)-1])
}
