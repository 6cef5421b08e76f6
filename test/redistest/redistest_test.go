package redistest_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/attrcache/attrcache/test/redistest"
	"github.com/redis/go-redis/v9"
)

// testCtx returns a context that ends before the test's own deadline would.
func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestServerPingSetGet(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	s := redistest.StartServer(t)
	c := s.Client(t)
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING %s: %v", s.Addr(), err)
	}
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET = %q, %v; want v", got, err)
	}
}

func TestServerRestartKeepsAOFData(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 30*time.Second)
	s := redistest.StartServer(t, redistest.WithAOF())
	addr := s.Addr()
	c := s.Client(t)
	if err := c.Set(ctx, "kept", "yes", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	s.Restart(t)
	if s.Addr() != addr {
		t.Fatalf("Restart moved the server from %s to %s", addr, s.Addr())
	}
	if got, err := c.Get(ctx, "kept").Result(); err != nil || got != "yes" {
		t.Fatalf("GET after Restart = %q, %v; want yes", got, err)
	}

	// With appendfsync always an acknowledged write survives a crash too.
	if err := c.Set(ctx, "crash", "survived", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	s.Kill()
	if s.Running() {
		t.Fatal("Running() = true after Kill")
	}
	s.Restart(t)
	if got, err := c.Get(ctx, "crash").Result(); err != nil || got != "survived" {
		t.Fatalf("GET after Kill+Restart = %q, %v; want survived", got, err)
	}
}

func TestServerWithoutAOFForgets(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	s := redistest.StartServer(t)
	c := s.Client(t)
	if err := c.Set(ctx, "gone", "1", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	s.Restart(t)
	if err := c.Get(ctx, "gone").Err(); err != redis.Nil {
		t.Fatalf("GET after Restart without persistence: err = %v, want redis.Nil", err)
	}
}

func TestServerACLUser(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	s := redistest.StartServer(t, redistest.WithACLUser("app", "s3cret"))
	if err := s.Client(t).Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET as ACL user: %v", err)
	}
	anon := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer anon.Close()
	if err := anon.Get(ctx, "k").Err(); err == nil || err == redis.Nil {
		t.Fatalf("GET without credentials: err = %v, want an authentication error", err)
	}
	wrong := redis.NewClient(&redis.Options{Addr: s.Addr(), Username: "app", Password: "nope", MaxRetries: -1})
	defer wrong.Close()
	if err := wrong.Ping(ctx).Err(); err == nil {
		t.Fatal("PING with a wrong password succeeded")
	}
}

func TestServerPassword(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	s := redistest.StartServer(t, redistest.WithPassword("pw"), redistest.WithArgs("--maxmemory", "10mb"))
	c := s.Client(t)
	if got, err := c.ConfigGet(ctx, "maxmemory").Result(); err != nil || got["maxmemory"] != "10485760" {
		t.Fatalf("CONFIG GET maxmemory = %v, %v; want 10485760", got, err)
	}
	anon := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer anon.Close()
	if err := anon.Ping(ctx).Err(); err == nil {
		t.Fatal("PING without the password succeeded")
	}
}

func TestClusterSpreadsKeysOverMasters(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 60*time.Second)
	c := redistest.StartCluster(t)
	if n := len(c.Addrs()); n != 6 {
		t.Fatalf("Addrs() has %d nodes, want 6", n)
	}
	masters := c.MasterAddrs()
	if len(masters) != 3 {
		t.Fatalf("MasterAddrs() = %v, want 3 masters", masters)
	}
	cc := c.Client(t)
	for i := range 100 {
		if err := cc.Set(ctx, fmt.Sprintf("key-%d", i), i, 0).Err(); err != nil {
			t.Fatalf("SET key-%d: %v", i, err)
		}
	}
	// Every master must hold some of the keys.
	for _, n := range c.Nodes() {
		role, err := n.Role(ctx)
		if err != nil {
			t.Fatalf("ROLE %s: %v", n.Addr(), err)
		}
		if role != "master" {
			continue
		}
		size, err := n.Client(t).DBSize(ctx).Result()
		if err != nil || size == 0 {
			t.Errorf("master %s holds %d keys (err %v), want some", n.Addr(), size, err)
		}
	}
}

func TestClusterFailover(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 60*time.Second)
	c := redistest.StartCluster(t)
	cc := c.Client(t)
	const key = "failover-key"
	if err := cc.Set(ctx, key, "before", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	killed := c.KillMasterFor(t, key)
	start := time.Now()
	c.WaitForFailover(t, key)
	t.Logf("failover of %s took %v", killed, time.Since(start))
	for _, m := range c.MasterAddrs() {
		if m == killed {
			t.Fatalf("killed node %s still listed as a master", killed)
		}
	}
	// A dead node refuses connections rather than answering MOVED, so
	// go-redis keeps its old slot map until it is ten seconds old unless
	// told to reload it.
	cc.ReloadState(ctx)
	var err error
	for range 50 {
		if err = cc.Set(ctx, key, "after", 0).Err(); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("SET after failover: %v", err)
	}
	if got, err := cc.Get(ctx, key).Result(); err != nil || got != "after" {
		t.Fatalf("GET after failover = %q, %v; want after", got, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.WaitHealthy(wctx); err != nil {
		t.Fatalf("WaitHealthy: %v", err)
	}
}

func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 60*time.Second)
	s := redistest.StartSentinel(t)
	if len(s.SentinelAddrs()) != 3 || s.MasterName() == "" {
		t.Fatalf("SentinelAddrs() = %v, MasterName() = %q", s.SentinelAddrs(), s.MasterName())
	}
	old := s.MasterAddr()
	if old != s.Nodes()[0].Addr() {
		t.Fatalf("MasterAddr() = %q, want the initial master %s", old, s.Nodes()[0].Addr())
	}
	c := s.FailoverClient(t)
	if err := c.Set(ctx, "k", "before", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if killed := s.KillMaster(); killed != old {
		t.Fatalf("KillMaster() = %q, want %s", killed, old)
	}
	start := time.Now()
	master, err := s.WaitForNewMaster(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failover from %s to %s took %v", old, master, time.Since(start))
	if master != s.Nodes()[1].Addr() {
		t.Fatalf("new master %s, want the replica %s", master, s.Nodes()[1].Addr())
	}
	// The client drops its connections on +switch-master; until it has,
	// a command may still fail.
	for range 50 {
		if err = c.Set(ctx, "k", "after", 0).Err(); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("SET after failover: %v", err)
	}
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "after" {
		t.Fatalf("GET after failover = %q, %v; want after", got, err)
	}
}

// proxiedClient returns a client that reaches s through p, with one
// connection and no retries, so each fault shows up as an error.
func proxiedClient(t *testing.T, s *redistest.Server, p *redistest.Proxy) *redis.Client {
	o := s.Options()
	o.Addr = p.Addr()
	o.MaxRetries = -1
	o.PoolSize = 1
	o.ReadTimeout = 2 * time.Second
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestProxyPassThrough(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	s := redistest.StartServer(t)
	p := redistest.NewProxy(t, s.Addr())
	c := proxiedClient(t, s, p)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET through proxy: %v", err)
	}
	if got, err := s.Client(t).Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET on server = %q, %v; want v", got, err)
	}
	if n := p.Connections(); n != 1 {
		t.Fatalf("Connections() = %d, want 1", n)
	}
}

func TestProxyDelay(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	s := redistest.StartServer(t)
	p := redistest.NewProxy(t, s.Addr())
	c := proxiedClient(t, s, p)
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING: %v", err)
	}

	const d = 200 * time.Millisecond
	p.SetDelay(d)
	start := time.Now()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING with delay: %v", err)
	}
	if took := time.Since(start); took < d {
		t.Fatalf("PING took %v with a %v delay", took, d)
	}

	// A reply later than the client's read timeout: the client gives up,
	// the server has applied the write.
	short := s.Options()
	short.Addr = p.Addr()
	short.MaxRetries = -1
	short.ReadTimeout = 100 * time.Millisecond
	sc := redis.NewClient(short)
	defer sc.Close()
	p.SetDelay(0)
	if err := sc.Ping(ctx).Err(); err != nil { // connect before the delay
		t.Fatalf("PING: %v", err)
	}
	p.SetDelay(time.Second)
	if err := sc.Set(ctx, "slow", "1", 0).Err(); err == nil {
		t.Fatal("SET with a reply slower than ReadTimeout succeeded")
	}
	if got, err := s.Client(t).Get(ctx, "slow").Result(); err != nil || got != "1" {
		t.Fatalf("GET on server = %q, %v; want 1", got, err)
	}

	p.SetDelay(0)
	p.SetRequestDelay(d)
	start = time.Now()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING with request delay: %v", err)
	}
	if took := time.Since(start); took < d {
		t.Fatalf("PING took %v with a %v request delay", took, d)
	}
}

func TestProxyDropReply(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	s := redistest.StartServer(t)
	p := redistest.NewProxy(t, s.Addr())
	c := proxiedClient(t, s, p)
	// Open the connection first so its handshake replies are not the ones
	// dropped.
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING: %v", err)
	}
	p.DropNextReply()
	if err := c.Set(ctx, "lost", "applied", 0).Err(); err == nil {
		t.Fatal("SET succeeded although its reply was dropped")
	}
	if got, err := s.Client(t).Get(ctx, "lost").Result(); err != nil || got != "applied" {
		t.Fatalf("GET on server = %q, %v; want applied", got, err)
	}
	if n := p.DroppedReplies(); n != 1 {
		t.Fatalf("DroppedReplies() = %d, want 1", n)
	}
	// Only one reply was to be lost: the client reconnects and goes on.
	if err := c.Set(ctx, "next", "ok", 0).Err(); err != nil {
		t.Fatalf("SET after the dropped reply: %v", err)
	}
	if n := p.Connections(); n != 2 {
		t.Fatalf("Connections() = %d, want 2", n)
	}
}

func TestProxyRefuse(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 20*time.Second)
	s := redistest.StartServer(t)
	p := redistest.NewProxy(t, s.Addr())
	c := proxiedClient(t, s, p)
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING: %v", err)
	}
	p.Refuse(true)
	// An open connection survives Refuse until CloseAll.
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING on the open connection: %v", err)
	}
	p.CloseAll()
	for i := range 3 {
		if err := c.Ping(ctx).Err(); err == nil {
			t.Fatalf("PING %d succeeded while the proxy refuses connections", i)
		}
	}
	if p.RefusedConnections() == 0 {
		t.Fatal("RefusedConnections() = 0 after refused PINGs")
	}
	p.Refuse(false)
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after Refuse(false): %v", err)
	}
}

// TestProxyCloseLeavesNoGoroutines runs alone (not parallel) so the
// goroutine count is not disturbed by other tests.
func TestProxyCloseLeavesNoGoroutines(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	base := runtime.NumGoroutine()

	p := redistest.NewProxy(t, echo.Addr().String())
	p.SetDelay(time.Hour) // a pump stuck in a delay must stop too
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("PING\r\n")); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for p.OpenConnections() < len(conns) {
		time.Sleep(5 * time.Millisecond)
	}
	p.Close()
	for _, c := range conns {
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base+1 { // +1: the echo server's per-connection copies wind down
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before:\n%s",
				runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// recorder stands in for a test to see what Require does with it.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Skip(args ...any)                  { r.skipped = fmt.Sprint(args...) }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestRequire(t *testing.T) {
	if path := redistest.Require(t); path == "" {
		t.Fatal("Require returned an empty path")
	}

	t.Setenv(redistest.EnvServer, "/nonexistent/redis-server")
	t.Setenv("CI", "")
	t.Setenv(redistest.EnvRequire, "")
	r := &recorder{TB: t}
	redistest.Require(r)
	if r.skipped == "" || r.failed != "" {
		t.Fatalf("without the binary: skipped %q, failed %q; want a skip", r.skipped, r.failed)
	}

	for _, env := range []string{"CI", redistest.EnvRequire} {
		t.Setenv(env, "true")
		r := &recorder{TB: t}
		redistest.Require(r)
		if r.failed == "" {
			t.Fatalf("with %s=true and no binary: skipped %q; want a failure", env, r.skipped)
		}
		t.Setenv(env, "")
	}
}

func TestClusterWithACLUser(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 60*time.Second)
	c := redistest.StartCluster(t, redistest.WithACLUser("app", "pw"))
	if err := c.Client(t).Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET as ACL user: %v", err)
	}
	anon := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), MaxRedirects: 1})
	defer anon.Close()
	if err := anon.Set(ctx, "k", "v", 0).Err(); err == nil {
		t.Fatal("SET without credentials succeeded")
	}
}

func TestSentinelWithPassword(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 60*time.Second)
	s := redistest.StartSentinel(t, redistest.WithPassword("pw"))
	if err := s.FailoverClient(t).Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET with the password: %v", err)
	}
}
