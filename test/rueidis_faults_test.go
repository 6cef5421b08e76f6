package test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/rueidisstore"
	"github.com/attrcache/attrcache/test/redistest"
)

// TestRueidisNearCachePartition: when Redis stops answering but the
// connection stays open (the proxy stops forwarding both ways, holding
// every byte for an hour), the cache keeps answering only until rueidis's
// background PING on the connection has gone unanswered: within
// rueidisstore.PartitionBound, and under 2 s whatever the scheduling.
// Then reads fail (the Store fails closed), and never show the old value
// again; once the partition heals, the new value is read.
func TestRueidisNearCachePartition(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t)
	p := redistest.NewProxy(t, srv.Addr())
	r := newRueidisStore(t, newRueidis(t, rueidis.ClientOption{InitAddress: []string{p.Addr()}}))
	w, err := attrcache.New(srv.Client(t), attrcache.WithNamespace(r.Namespace()))
	must(t, err)
	ctx := testCtx(t, 60*time.Second)
	sid := "part-" + randHex(8)
	ws, err := w.Start(ctx, sid, time.Hour)
	must(t, err)
	must(t, ws.Set(ctx, "a", []byte("old")))
	rs := r.Session(sid)
	for range 3 { // cached, and the clock estimate known
		e, err := rs.Get(ctx, "a")
		must(t, err)
		if string(e.Value) != "old" {
			t.Fatalf("Get = %q", e.Value)
		}
	}

	p.SetDelay(time.Hour)
	p.SetRequestDelay(time.Hour)
	cut := time.Now()
	must(t, ws.Set(ctx, "a", []byte("new"))) // another instance, not partitioned
	var stale, failing time.Duration
	for time.Since(cut) < 4*time.Second {
		e, err := rs.Get(ctx, "a")
		switch {
		case err == nil && string(e.Value) == "old":
			if failing > 0 {
				t.Fatalf("the old value was read again at %v, after reads had failed from %v", time.Since(cut), failing)
			}
			stale = time.Since(cut)
		case err == nil:
			t.Fatalf("read %q through a partition", e.Value)
		case errors.Is(err, attrcache.ErrUnavailable):
			if failing == 0 {
				failing = time.Since(cut)
			}
		default:
			t.Fatalf("Get in a partition: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("the cache answered until %v into the partition (bound %v); reads failed from %v", stale, rueidisstore.PartitionBound, failing)
	if stale == 0 || failing == 0 {
		t.Fatalf("stale until %v, failing from %v: the cache did not answer, or did not stop", stale, failing)
	}
	if stale > 2*time.Second {
		t.Errorf("the cache answered %v into the partition, past 2s", stale)
	}

	p.SetDelay(0)
	p.SetRequestDelay(0)
	healed := time.Now()
	for {
		e, err := rs.Get(ctx, "a")
		if err == nil {
			if string(e.Value) != "new" {
				t.Fatalf("after the partition read %q", e.Value)
			}
			break
		}
		if time.Since(healed) > 10*time.Second {
			t.Fatalf("reads still fail 10s after the partition healed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the new value was read %v after the partition healed", time.Since(healed))
}

// TestRueidisResend loses the reply of one write with the proxy (Redis
// runs it; the connection breaks before the client reads the reply).
// rueidis does not resend writes; the Store does, and Redis recognises the
// copy: each write was sent twice, applied once, and its caller saw
// success.
func TestRueidisResend(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t)
	p := redistest.NewProxy(t, srv.Addr())
	raw := srv.Client(t)
	st := newRueidisStore(t, newRueidis(t, rueidis.ClientOption{InitAddress: []string{p.Addr()}}))
	ctx := testCtx(t, 60*time.Second)
	s, err := st.Start(ctx, "resend-"+randHex(8), time.Hour)
	must(t, err)
	must(t, s.Set(ctx, "n", []byte("10")))

	lose := func(what string, call func() error) {
		t.Helper()
		must(t, st.Ping(ctx)) // the connection is busy: no background PING takes the loss
		sent, dropped := commandCalls(t, raw, "fcall"), p.DroppedReplies()
		p.DropNextReply()
		if err := call(); err != nil {
			t.Fatalf("%s with its reply lost: %v", what, err)
		}
		if n := p.DroppedReplies() - dropped; n != 1 {
			t.Fatalf("%s: %d replies lost, want 1", what, n)
		}
		if n := commandCalls(t, raw, "fcall") - sent; n != 2 {
			t.Fatalf("%s reached Redis %d times, want 2 (the lost one and its resend)", what, n)
		}
	}
	var n int64
	lose("Incr", func() error { var err error; n, err = s.Incr(ctx, "n", 5); return err })
	if n != 15 {
		t.Fatalf("a resent Incr returned %d, want 15", n)
	}
	lose("Create", func() error { return s.Create(ctx, "c", []byte("1")) })
	lose("Delete", func() error { return s.Delete(ctx, "c") })
	for name, want := range map[string]string{"n": "15"} {
		e, err := s.Get(ctx, name)
		must(t, err)
		if string(e.Value) != want {
			t.Fatalf("%s = %q after resent writes, want %q", name, e.Value, want)
		}
	}
	if _, err := s.Get(ctx, "c"); !errors.Is(err, attrcache.ErrNotFound) {
		t.Fatalf("Get after a resent Delete: %v", err)
	}
	lose("End", func() error { return s.End(ctx) })
	if _, err := s.Names(ctx); !errors.Is(err, attrcache.ErrSessionNotFound) {
		t.Fatalf("Names after a resent End: %v", err)
	}
}

// TestRueidisPing: Store.Ping on rueidis passes on each topology, loads
// the library where a master lost it, fails with ErrUnavailable (naming
// the master on a cluster) while a master is down, and passes again once
// a replica took over.
func TestRueidisPing(t *testing.T) {
	t.Parallel()
	t.Run("Single", func(t *testing.T) {
		t.Parallel()
		srv := redistest.StartServer(t)
		raw := srv.Client(t)
		st := newRueidisStore(t, newRueidis(t, rueidis.ClientOption{InitAddress: []string{srv.Addr()}}))
		ctx := testCtx(t, 60*time.Second)
		must(t, st.Ping(ctx))
		must(t, raw.FunctionFlush(ctx).Err())
		must(t, st.Ping(ctx))
		wantLibrary(t, raw)
		s, err := st.Start(ctx, "ping-"+randHex(8), time.Minute)
		must(t, err)
		must(t, s.Set(ctx, "a", []byte("1")))

		srv.Kill()
		wantUnavailable(t, "a killed server", st.Ping(ctx))
		srv.Restart(t)
		must(t, pingSoon(ctx, st, 10*time.Second))
	})
	t.Run("Cluster", func(t *testing.T) {
		t.Parallel()
		cl := redistest.StartCluster(t)
		st := newRueidisStore(t, newRueidis(t, rueidis.ClientOption{InitAddress: cl.Addrs()}))
		ctx := testCtx(t, 90*time.Second)
		must(t, st.Ping(ctx))
		for _, addr := range cl.MasterAddrs() {
			c := redis.NewClient(&redis.Options{Addr: addr})
			wantLibrary(t, c)
			// A master that lost the library gets it back on the first
			// write that finds it missing.
			must(t, c.FunctionFlush(ctx).Err())
			_ = c.Close()
		}
		for i := range 20 { // sessions on every master, with high odds
			s, err := st.Start(ctx, "ping-"+strconv.Itoa(i)+randHex(8), time.Minute)
			must(t, err)
			must(t, s.Set(ctx, "a", []byte("1")))
		}

		s, err := st.Start(ctx, "ping-"+randHex(8), time.Minute)
		must(t, err)
		dead := cl.KillMasterFor(t, s.Key())
		err = st.Ping(ctx)
		wantUnavailable(t, "a cluster with a master down", err)
		if !strings.Contains(err.Error(), dead) {
			t.Errorf("Ping error %q does not name the dead master %s", err, dead)
		}
		cl.WaitForFailover(t, s.Key())
		must(t, pingSoon(ctx, st, 20*time.Second))
	})
	t.Run("Sentinel", func(t *testing.T) {
		t.Parallel()
		sen := redistest.StartSentinel(t)
		st := newRueidisStore(t, newRueidis(t, rueidis.ClientOption{InitAddress: sen.SentinelAddrs(),
			Sentinel: rueidis.SentinelOption{MasterSet: sen.MasterName()}}))
		ctx := testCtx(t, 90*time.Second)
		must(t, st.Ping(ctx))
		old := sen.KillMaster()
		wantUnavailable(t, "Sentinel with its master down", st.Ping(ctx))
		if _, err := sen.WaitForNewMaster(ctx, old); err != nil {
			t.Fatal(err)
		}
		must(t, pingSoon(ctx, st, 20*time.Second))
		s, err := st.Start(ctx, "ping-"+randHex(8), time.Minute)
		must(t, err)
		must(t, s.Set(ctx, "a", []byte("1")))
	})
}

// wantLibrary checks that the server behind c holds attrcache's library.
func wantLibrary(t *testing.T, c *redis.Client) {
	t.Helper()
	libs, err := c.FunctionList(context.Background(), redis.FunctionListQuery{}).Result()
	must(t, err)
	if len(libs) != 1 || !strings.HasPrefix(libs[0].Name, "attrcache_") {
		t.Fatalf("the server holds function libraries %v, want attrcache's", libs)
	}
}

// pingSoon pings until Ping passes, for at most d.
func pingSoon(ctx context.Context, st *attrcache.Store, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		err := st.Ping(ctx)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
