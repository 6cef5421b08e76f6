package config_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/config"
	_ "github.com/attrcache/attrcache/config/rueidisconfig"
	"github.com/attrcache/attrcache/test/redistest"
)

func TestRedisClientSetting(t *testing.T) {
	c, err := config.LoadWith("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Redis.Client != config.ClientGoRedis || c.Redis.UsesRueidis() {
		t.Fatalf("default client %q", c.Redis.Client)
	}
	c, err = config.LoadWith("", []string{"ATTRCACHE_REDIS_CLIENT=rueidis"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Redis.UsesRueidis() {
		t.Fatalf("ATTRCACHE_REDIS_CLIENT=rueidis gave %q", c.Redis.Client)
	}

	_, err = config.LoadWith("", []string{"ATTRCACHE_REDIS_CLIENT=jedis"})
	ke := wantKeyError(t, err, "redis.client")
	if !strings.Contains(ke.Error(), "go-redis, rueidis") || !strings.Contains(ke.Error(), "ATTRCACHE_REDIS_CLIENT") {
		t.Errorf("error %q names neither the choices nor the variable", ke)
	}
	// A replica wait works on rueidis too; redis.read_timeout, which
	// rueidis does not use, does not bound it there.
	if _, err = config.LoadWith("", []string{"ATTRCACHE_REDIS_CLIENT=rueidis", "ATTRCACHE_REPLICA_WAIT_REPLICAS=1",
		"ATTRCACHE_REPLICA_WAIT_TIMEOUT=5s", "ATTRCACHE_REDIS_READ_TIMEOUT=1s"}); err != nil {
		t.Errorf("a replica wait on rueidis: %v", err)
	}

	// rueidis caches on a cluster: no warning, where go-redis draws one.
	cluster := []string{"ATTRCACHE_REDIS_ADDRS=a:1,b:2", "ATTRCACHE_REDIS_CLIENT_SIDE_CACHE_ENABLED=true"}
	for client, warned := range map[string]bool{"go-redis": true, "rueidis": false} {
		c, err := config.LoadWith("", append(cluster, "ATTRCACHE_REDIS_CLIENT="+client))
		if err != nil {
			t.Fatal(err)
		}
		if got := len(c.Warnings()) > 0; got != warned {
			t.Errorf("%s with the cache on a cluster: warnings %q", client, c.Warnings())
		}
	}
}

// TestOpenStoreRueidis opens a ready Store on rueidis, near cache on, on
// one server, on a cluster and behind Sentinel, checks that the client returned beside it
// works and closes the rueidis client too, and that a stopped server is
// ErrUnreachable.
func TestOpenStoreRueidis(t *testing.T) {
	srv := redistest.StartServer(t)
	cl := redistest.StartCluster(t)
	sen := redistest.StartSentinel(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for name, env := range map[string][]string{
		"single":   {"ATTRCACHE_REDIS_ADDRS=" + srv.Addr()},
		"cluster":  {"ATTRCACHE_REDIS_ADDRS=" + strings.Join(cl.Addrs(), ",")},
		"sentinel": {"ATTRCACHE_REDIS_ADDRS=" + strings.Join(sen.SentinelAddrs(), ","), "ATTRCACHE_REDIS_MASTER_NAME=" + sen.MasterName()},
	} {
		c := load(t, append(env, "ATTRCACHE_REDIS_CLIENT=rueidis",
			"ATTRCACHE_REDIS_CLIENT_SIDE_CACHE_ENABLED=true", "ATTRCACHE_NAMESPACE=open-"+name)...)
		store, rdb, err := c.OpenStore(ctx, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		s, err := store.Start(ctx, attrcache.NewSessionID(), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Set(ctx, "a", []byte("1")); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if e, err := s.Get(ctx, "a"); err != nil || string(e.Value) != "1" {
				t.Fatalf("%s: Get = %v, %v", name, e, err)
			}
		}
		// The go-redis client beside it reaches the same data.
		if n, err := rdb.Exists(ctx, s.Key()).Result(); err != nil || n != 1 {
			t.Fatalf("%s: the returned client sees %d keys, %v", name, n, err)
		}
		if err := rdb.Close(); err != nil {
			t.Fatal(err)
		}
		// rueidis's cluster client closes its connections in goroutines:
		// a write right after Close may still land, but not for long.
		var werr error
		for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if werr = s.Set(ctx, "a", []byte("2")); werr != nil {
				break
			}
		}
		if !errors.Is(werr, attrcache.ErrUnavailable) {
			t.Fatalf("%s: writes after Close: %v, want ErrUnavailable", name, werr)
		}
	}

	c := load(t, "ATTRCACHE_REDIS_ADDRS="+srv.Addr(), "ATTRCACHE_REDIS_CLIENT=rueidis")
	srv.Kill()
	if _, _, err := c.OpenStore(ctx, nil); !errors.Is(err, config.ErrUnreachable) {
		t.Fatalf("OpenStore on a stopped server: %v, want ErrUnreachable", err)
	}
}
