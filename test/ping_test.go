package test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/test/redistest"
)

// pinger is a Store whose Ping spans are kept, so each check also sees
// what a trace of the readiness probe would show.
type pinger struct {
	st    *attrcache.Store
	spans *tracetest.InMemoryExporter
}

func newPinger(t *testing.T, rdb attrcache.Client) *pinger {
	t.Helper()
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return &pinger{st: newStore(t, rdb, attrcache.WithTracerProvider(tp)), spans: spans}
}

// ping runs one Ping with a deadline a readiness probe would give it,
// and checks that it made one span that says what Ping returned.
func (p *pinger) ping(t *testing.T) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p.spans.Reset()
	err := p.st.Ping(ctx)
	spans := p.spans.GetSpans()
	if len(spans) != 1 || spans[0].Name != "attrcache.ping" {
		t.Fatalf("Ping made spans %v, want one attrcache.ping", spans)
	}
	sp := spans[0]
	var outcome string
	for _, kv := range sp.Attributes {
		if kv.Key == "attrcache.outcome" {
			outcome = kv.Value.AsString()
		}
	}
	switch {
	case err == nil && (outcome != "ok" || sp.Status.Code != codes.Unset):
		t.Errorf("a passing Ping's span: outcome %q, status %v", outcome, sp.Status)
	case err != nil && (outcome != "unavailable" || sp.Status.Code != codes.Error || sp.Status.Description != err.Error()):
		t.Errorf("a failing Ping's span: outcome %q, status %v; want unavailable, Error, %q", outcome, sp.Status, err.Error())
	}
	return err
}

// pingSoon pings until Ping passes, for at most d: how a readiness probe
// sees a Store recover.
func (p *pinger) pingSoon(t *testing.T, d time.Duration) error {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := p.ping(t)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func wantUnavailable(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, attrcache.ErrUnavailable) {
		t.Fatalf("%s: Ping returned %v, want ErrUnavailable", what, err)
	}
}

// quickOptions fail fast on a dead node, as a readiness probe wants.
func quickOptions(o *redis.Options) *redis.Options {
	o.DialTimeout = 300 * time.Millisecond
	o.ReadTimeout = time.Second
	o.WriteTimeout = time.Second
	o.MaxRetries = 1
	return o
}

// TestPingSingleNode: Ping passes on a healthy server, loads the scripts
// when the server lost them, fails with ErrUnavailable while the server
// is down or the user may not run scripts, and passes again once the
// server is back.
func TestPingSingleNode(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t)
	rdb := redis.NewClient(quickOptions(srv.Options()))
	t.Cleanup(func() { _ = rdb.Close() })
	p := newPinger(t, rdb)
	ctx := testCtx(t, time.Minute)

	must(t, p.ping(t))

	// A server that lost its functions (a restart without persistence, a
	// FUNCTION FLUSH) is ready: Ping loads them, and writes work.
	must(t, rdb.FunctionFlush(ctx).Err())
	must(t, p.ping(t))
	names, err := rdb.FunctionList(ctx, redis.FunctionListQuery{}).Result()
	must(t, err)
	if len(names) != 1 || !strings.HasPrefix(names[0].Name, "attrcache_") {
		t.Errorf("after Ping the server holds function libraries %v, want attrcache's", names)
	}
	s, err := p.st.Start(ctx, "sid-"+randHex(8), time.Minute)
	must(t, err)
	must(t, s.Set(ctx, "a", []byte("1")))

	// A user who may not run scripts cannot use attrcache: not ready.
	must(t, rdb.Do(ctx, "ACL", "SETUSER", "noscripts", "on", ">pw", "~*", "+@all", "-@scripting").Err())
	o := quickOptions(srv.Options())
	o.Username, o.Password = "noscripts", "pw"
	limited := redis.NewClient(o)
	t.Cleanup(func() { _ = limited.Close() })
	wantUnavailable(t, "a user without scripting", newPinger(t, limited).ping(t))

	srv.Kill()
	err = p.ping(t)
	wantUnavailable(t, "server down", err)
	if !strings.Contains(err.Error(), srv.Addr()) {
		t.Errorf("Ping's error %q does not name the server %s", err, srv.Addr())
	}

	srv.Restart(t)
	if err := p.pingSoon(t, 10*time.Second); err != nil {
		t.Fatalf("Ping still fails 10s after the server came back: %v", err)
	}
}

// TestPingCluster: Ping passes on a healthy cluster and with a replica
// down (writes need masters only); with a master down it fails with
// ErrUnavailable naming that master and no other; once the master's
// replica has taken over, it passes again.
func TestPingCluster(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t)
	o := clusterClientOptions(c)
	o.DialTimeout = 300 * time.Millisecond
	o.ReadTimeout = time.Second
	o.MaxRedirects = 2
	cc := redis.NewClusterClient(o)
	t.Cleanup(func() { _ = cc.Close() })
	p := newPinger(t, cc)
	ctx := testCtx(t, 2*time.Minute)

	must(t, p.ping(t))

	nodes := c.Nodes() // masters 0..2, then the replica of each
	nodes[3].Kill()
	if err := p.ping(t); err != nil {
		t.Fatalf("Ping with a replica down: %v", err)
	}

	dead := nodes[1].Addr()
	nodes[1].Kill()
	err := p.ping(t)
	wantUnavailable(t, "a master down", err)
	if !strings.Contains(err.Error(), "master "+dead) {
		t.Errorf("Ping's error %q does not name the dead master %s", err, dead)
	}
	for _, n := range []*redistest.Server{nodes[0], nodes[2]} {
		if strings.Contains(err.Error(), n.Addr()) {
			t.Errorf("Ping's error %q names %s, which is up", err, n.Addr())
		}
	}

	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatalf("no failover: %v", err)
	}
	cc.ReloadState(ctx)
	if err := p.pingSoon(t, 15*time.Second); err != nil {
		t.Fatalf("Ping still fails 15s after the failover: %v", err)
	}
}

// TestPingSentinel: behind Sentinel, Ping checks the master the client
// follows. It passes on a healthy setup and with a sentinel or the
// replica down. With the master down it fails with ErrUnavailable: the
// Store cannot write until a master is back, which is what a readiness
// probe must say. Once the sentinels have promoted the replica, the
// client follows it and Ping passes again, with no restart.
func TestPingSentinel(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t)
	o := sentinelClientOptions(s)
	o.DialTimeout = 300 * time.Millisecond
	o.ReadTimeout = time.Second
	o.MaxRetries = 1
	fc := redis.NewFailoverClient(o)
	t.Cleanup(func() { _ = fc.Close() })
	p := newPinger(t, fc)
	ctx := testCtx(t, 2*time.Minute)

	must(t, p.ping(t))

	s.Sentinels()[0].Kill()
	if err := p.ping(t); err != nil {
		t.Fatalf("Ping with a sentinel down: %v", err)
	}

	master := s.MasterAddr()
	var replica *redistest.Server
	for _, n := range s.Nodes() {
		if n.Addr() != master {
			replica = n
		}
	}
	replica.Kill()
	if err := p.ping(t); err != nil {
		t.Fatalf("Ping with the replica down: %v", err)
	}
	replica.Restart(t)
	// The replica must be in sync before the master dies, or no sentinel
	// will promote it.
	rc := replica.Client(t)
	if err := retryCall(ctx, 20*time.Second, func() error {
		info, err := rc.Info(ctx, "replication").Result()
		if err == nil && !strings.Contains(info, "master_link_status:up") {
			err = errors.New("replica not in sync")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}

	killed := s.KillMaster()
	wantUnavailable(t, "the master down", p.ping(t))

	if _, err := s.WaitForNewMaster(ctx, killed); err != nil {
		t.Fatal(err)
	}
	if err := p.pingSoon(t, 15*time.Second); err != nil {
		t.Fatalf("Ping still fails 15s after the sentinels promoted a new master: %v", err)
	}
}
