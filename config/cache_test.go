package config_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/config"
	"github.com/attrcache/attrcache/test/redistest"
)

// TestClientSideCacheShapes: with redis.client_side_cache.enabled a
// single-node client speaks RESP3 and caches in a NearCache; Sentinel, a
// cluster and another database do not cache, and Load says so.
func TestClientSideCacheShapes(t *testing.T) {
	on := "ATTRCACHE_REDIS_CLIENT_SIDE_CACHE_ENABLED=true"
	c := load(t, on, "ATTRCACHE_REDIS_ADDRS=127.0.0.1:1", "ATTRCACHE_REDIS_CLIENT_SIDE_CACHE_MAX_ENTRIES=7")
	if len(c.Warnings()) != 0 {
		t.Fatalf("warnings for a single node: %q", c.Warnings())
	}
	rdb, err := c.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	o := rdb.(*redis.Client).Options()
	if _, ok := o.ClientSideCache.(*attrcache.NearCache); !ok || o.Protocol != 3 {
		t.Fatalf("single node with the cache on: cache %T, protocol %d", o.ClientSideCache, o.Protocol)
	}

	for _, env := range [][]string{
		{on, "ATTRCACHE_REDIS_ADDRS=127.0.0.1:1,127.0.0.1:2"},
		{on, "ATTRCACHE_REDIS_ADDRS=127.0.0.1:1", "ATTRCACHE_REDIS_MASTER_NAME=m"},
		{on, "ATTRCACHE_REDIS_ADDRS=127.0.0.1:1", "ATTRCACHE_REDIS_DB=3"},
	} {
		c := load(t, env...)
		w := strings.Join(c.Warnings(), "\n")
		if !strings.Contains(w, "redis.client_side_cache.enabled has no effect") {
			t.Errorf("%v: warnings %q", env, w)
		}
		rdb, err := c.NewClient()
		if err != nil {
			t.Fatal(err)
		}
		if cl, ok := rdb.(*redis.Client); ok && cl.Options().ClientSideCache != nil {
			t.Errorf("%v: a cache on a shape go-redis does not cache for", env)
		}
		rdb.Close()
	}

	off := load(t, "ATTRCACHE_REDIS_ADDRS=127.0.0.1:1")
	rdb, err = off.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if o := rdb.(*redis.Client).Options(); o.ClientSideCache != nil {
		t.Fatal("a cache with the setting off")
	}

	_, err = config.LoadWith("", []string{"ATTRCACHE_REDIS_CLIENT_SIDE_CACHE_MAX_ENTRIES=-1", "ATTRCACHE_REDIS_CLIENT_SIDE_CACHE_MAX_STALENESS=-1s"})
	wantKeyError(t, err, "redis.client_side_cache.max_entries")
	wantKeyError(t, err, "redis.client_side_cache.max_staleness")
	_, err = config.LoadWith("", []string{"ATTRCACHE_CALL_TIMEOUT=1m", "ATTRCACHE_LIMITS_MAX_CALL_BYTES=-5"})
	wantKeyError(t, err, "attrcache.call_timeout")
	wantKeyError(t, err, "attrcache.limits.max_call_bytes")
}

// TestOpenStore opens a ready Store on a real server, near cache on, and
// refuses to when the server is gone.
func TestOpenStore(t *testing.T) {
	srv := redistest.StartServer(t)
	c := load(t, "ATTRCACHE_REDIS_ADDRS="+srv.Addr(), "ATTRCACHE_REDIS_CLIENT_SIDE_CACHE_ENABLED=true",
		"ATTRCACHE_NAMESPACE=open-test", "ATTRCACHE_LIMITS_MAX_SESSION_BYTES=4096")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	store, rdb, err := c.OpenStore(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if store.Namespace() != "open-test" {
		t.Fatalf("store of namespace %s", store.Namespace())
	}
	s, err := store.Start(ctx, attrcache.NewSessionID(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if e, err := s.Get(ctx, "a"); err != nil || string(e.Value) != "1" {
		t.Fatalf("Get = %v, %v", e, err)
	}

	srv.Kill()
	if _, _, err := c.OpenStore(ctx, nil); err == nil {
		t.Fatal("OpenStore on a stopped server succeeded")
	}
}
