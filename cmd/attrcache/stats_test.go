package main

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/test/redistest"
)

// copyKey makes n copies of key under new keys of the namespace with
// DUMP and RESTORE, pipelined: byte for byte what attrcache wrote, and
// far faster than n scripts. ttl 0 leaves the copies without a TTL.
func copyKey(t *testing.T, rdb *redis.Client, ns, key string, n int, ttl time.Duration) {
	t.Helper()
	ctx := context.Background()
	dump, err := rdb.Dump(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	for done := 0; done < n; {
		pipe := rdb.Pipeline()
		for ; done < n && pipe.Len() < 1000; done++ {
			// A fresh id's shape is a digest's: 43 base64url characters.
			pipe.Restore(ctx, ns+":s:"+attrcache.NewSessionID(), ttl, dump)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.Del(ctx, key).Err(); err != nil {
		t.Fatal(err)
	}
}

// fillStats writes 10,000 session keys in known states: 9,000 live with
// 3 attributes (10 of them without a TTL), 500 expired with 1, 300 ended,
// 150 strings and 50 hashes with a junk marker and 1 attribute. Keys of
// other namespaces are added around them; one of them matches the
// namespace as a glob pattern, which stats must not count.
func fillStats(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	_, live := e.start(t, time.Hour)
	err := live.CreateMany(ctx, []attrcache.Attr{
		{Name: "role", Value: []byte(plainSecret)},
		{Name: "token", Value: []byte(sealedSecret), Options: []attrcache.WriteOption{attrcache.WithEncryption()}},
		{Name: "cart", Value: []byte("42")},
	})
	if err != nil {
		t.Fatal(err)
	}
	copyKey(t, e.rdb, e.ns, live.Key(), 8990, time.Hour)
	_, live = e.start(t, time.Hour)
	if err := live.CreateMany(ctx, []attrcache.Attr{{Name: "a", Value: []byte("1")}, {Name: "b", Value: []byte("2")}, {Name: "c", Value: []byte("3")}}); err != nil {
		t.Fatal(err)
	}
	copyKey(t, e.rdb, e.ns, live.Key(), 10, 0)

	_, expired := e.start(t, time.Hour)
	if err := expired.Create(ctx, "role", []byte(plainSecret)); err != nil {
		t.Fatal(err)
	}
	expireSoon(t, expired)
	_, ended := e.start(t, time.Hour)
	if err := ended.End(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	copyKey(t, e.rdb, e.ns, expired.Key(), 500, 10*time.Minute)
	copyKey(t, e.rdb, e.ns, ended.Key(), 300, 10*time.Minute)

	str := e.store.Session(attrcache.NewSessionID()).Key()
	if err := e.rdb.Set(ctx, str, plainSecret, 0).Err(); err != nil {
		t.Fatal(err)
	}
	copyKey(t, e.rdb, e.ns, str, 150, 10*time.Minute)
	junk := e.store.Session(attrcache.NewSessionID()).Key()
	if err := e.rdb.HSet(ctx, junk, "\x00", "junk", "role", plainSecret).Err(); err != nil {
		t.Fatal(err)
	}
	copyKey(t, e.rdb, e.ns, junk, 50, 10*time.Minute)

	pipe := e.rdb.Pipeline()
	for i := range 200 {
		other := []string{"appX:s:", "other:s:"}[i%2] + attrcache.NewSessionID()
		pipe.HSet(ctx, other, "\x00", "whatever")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestStats(t *testing.T) {
	e := newEnv(t, "app*")
	t0 := time.Now()
	fillStats(t, e)
	t.Logf("10,000 session keys written in %v", time.Since(t0).Round(time.Millisecond))

	// Every key examined: exact figures.
	t0 = time.Now()
	r := mustRun(t, "", "-config", e.config, "stats", "-json", "-sample", "all")
	t.Logf("stats -sample all on 10,000 sessions: %v", time.Since(t0).Round(time.Millisecond))
	absent(t, r, plainSecret, sealedSecret)
	js := decodeJSON[statsJSON](t, r.stdout)
	want := map[string]int64{"live": 9000, "rotating": 0, "expired": 500, "ended": 300, "corrupt": 200, "gone": 0}
	if js.Keys != 10000 || js.Examined != 10000 || !js.Exact || js.Pattern != `app\*:s:*` || js.Redis != "single node" || len(js.Masters) != 1 {
		t.Errorf("keys %d, examined %d, exact %v, pattern %q, redis %q, masters %v", js.Keys, js.Examined, js.Exact, js.Pattern, js.Redis, js.Masters)
	}
	for st, n := range want {
		if js.States[st] != n {
			t.Errorf("%s: %d, want %d", st, js.States[st], n)
		}
	}
	if js.Attributes != 9000*3+500+50 || js.LiveAttributes != 27000 || js.PerLive != 3 || js.MaxAttributes != 3 {
		t.Errorf("attributes %d (want 27550), live %d (want 27000), per live %v, max %d",
			js.Attributes, js.LiveAttributes, js.PerLive, js.MaxAttributes)
	}
	if js.NoTTL != 10 || js.CounterMismatch != 0 {
		t.Errorf("keys without TTL %d (want 10), counter mismatches %d (want 0)", js.NoTTL, js.CounterMismatch)
	}
	if js.MemoryBytes == nil || *js.MemoryBytes < 10000*50 || js.MemoryPerKey < 50 || js.MaxMemory < int64(js.MemoryPerKey) {
		t.Errorf("memory %v, per key %v, max %d", js.MemoryBytes, js.MemoryPerKey, js.MaxMemory)
	}

	// The table says the same.
	r = mustRun(t, "", "-config", e.config, "stats", "-sample", "all")
	present(t, squash(r.stdout), "scanned 10,000 keys", "all 10,000 keys: the figures are exact",
		"live 9,000", "expired 500", "ended 300", "corrupt 200", "attributes 27,550 stored",
		"in live sessions 27,000 (3.0 per live session", "memory", "MEMORY USAGE",
		"problems 10 keys without a TTL", "200 corrupt keys")

	// A sample of 1,000: figures scaled up, close to the truth.
	r = mustRun(t, "", "-config", e.config, "stats", "-json", "-sample", "1000")
	js = decodeJSON[statsJSON](t, r.stdout)
	if js.Keys != 10000 || js.Examined != 1000 || js.Exact {
		t.Errorf("sampled: keys %d, examined %d, exact %v", js.Keys, js.Examined, js.Exact)
	}
	// Binomial standard deviations of the scaled estimates are about 95
	// (live) and 70 (expired); six of them is far from a flaky test.
	near := func(what string, got, want, tol int64) {
		if math.Abs(float64(got-want)) > float64(tol) {
			t.Errorf("sampled %s: %d, want %d ± %d", what, got, want, tol)
		}
	}
	near("live", js.States["live"], 9000, 600)
	near("expired", js.States["expired"], 500, 420)
	near("attributes", js.Attributes, 27550, 2000)
	var sum int64
	for _, n := range js.States {
		sum += n
	}
	near("sum of states", sum, 10000, 5)
	r = mustRun(t, "", "-config", e.config, "stats", "-sample", "1000")
	present(t, squash(r.stdout), "1,000 of 10,000 keys, a uniform sample", "live ~")

	// A progress line on stderr while the scan runs.
	r = mustRun(t, "", "-config", e.config, "stats", "-sample", "100", "-count", "10", "-progress", "1ms")
	present(t, r.stderr, "attrcache: stats: ", "keys matching app\\*:s:* so far")
	r = mustRun(t, "", "-config", e.config, "stats", "-sample", "100", "-count", "10", "-progress", "0s")
	if r.stderr != "" {
		t.Errorf("-progress 0s: stderr %q", r.stderr)
	}
}

func TestStatsCluster(t *testing.T) {
	cl := redistest.StartCluster(t)
	rdb := cl.Client(t)
	store, err := attrcache.New(rdb, attrcache.WithNamespace("clu"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const sessions, ended = 300, 30
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for i := range sessions {
		wg.Go(func() {
			sess, err := store.Start(ctx, attrcache.NewSessionID(), time.Hour)
			if err == nil {
				err = sess.Create(ctx, "role", []byte(plainSecret))
			}
			if err == nil && i < ended {
				err = sess.End(ctx)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	config := writeFile(t, t.TempDir(), "cluster.yaml",
		"redis:\n  addrs: [\""+strings.Join(cl.Addrs(), `", "`)+"\"]\nattrcache:\n  namespace: clu\n")

	r := mustRun(t, "", "-config", config, "stats", "-json", "-sample", "all")
	absent(t, r, plainSecret)
	js := decodeJSON[statsJSON](t, r.stdout)
	if js.Redis != "cluster" || len(js.Masters) != 3 || js.Keys != sessions || !js.Exact ||
		js.States["live"] != sessions-ended || js.States["ended"] != ended || js.Attributes != sessions-ended {
		t.Errorf("cluster stats: %+v", js)
	}
	var sum int64
	for _, m := range js.Masters {
		if m.Keys == 0 {
			t.Errorf("master %s holds no session: the keys did not spread, or it was not scanned", m.Addr)
		}
		sum += m.Keys
	}
	if sum != sessions {
		t.Errorf("masters hold %d keys in all, want %d", sum, sessions)
	}

	// The sample is split between the masters in proportion to their keys.
	r = mustRun(t, "", "-config", config, "stats", "-json", "-sample", "60")
	js = decodeJSON[statsJSON](t, r.stdout)
	if js.Keys != sessions || js.Examined < 58 || js.Examined > 62 || js.Exact {
		t.Errorf("sampled cluster stats: keys %d, examined %d, exact %v", js.Keys, js.Examined, js.Exact)
	}
	r = mustRun(t, "", "-config", config, "stats")
	present(t, squash(r.stdout), "redis cluster, 3 masters", "scanned 300 keys")
}
