package redistest_test

import (
	"context"
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
