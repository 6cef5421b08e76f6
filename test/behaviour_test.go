package test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/test/redistest"
	"github.com/attrcache/attrcache/test/suite"
)

// TestBehaviourServer runs the whole behaviour suite on one real
// redis-server: the scripts, the record format and the expiry rules hold
// on the real thing, not only on miniredis.
func TestBehaviourServer(t *testing.T) {
	t.Parallel()
	s := redistest.StartServer(t)
	suite.Run(t, suite.Backend{
		Client:    s.Client(t),
		NewClient: func() redis.UniversalClient { return redis.NewClient(s.Options()) },
		Advance:   time.Sleep,
	})
}

// TestBehaviourCluster runs the suite on a Redis Cluster of three masters
// with a replica each, then checks that sessions really spread over every
// master: one key per session means every call is slot-local, and
// nothing pins all sessions to one node.
func TestBehaviourCluster(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t)
	cc := c.Client(t)
	suite.Run(t, suite.Backend{
		Client:    cc,
		NewClient: func() redis.UniversalClient { return redis.NewClusterClient(c.ClusterOptions()) },
		Advance:   time.Sleep,
	})

	ctx := testCtx(t, 60*time.Second)
	st := newStore(t, cc)
	// Start sessions until each master has some, at least 30 in all.
	// Each new session misses a given master with odds 2/3, so 300
	// sessions missing one is practically impossible.
	perMaster := map[string]int{}
	started := 0
	for i := 0; i < 300 && (started < 30 || len(perMaster) < 3 || minCount(perMaster) < 3); i++ {
		sid := fmt.Sprintf("spread-%d-%s", i, randHex(4))
		sess, err := st.Start(ctx, sid, time.Hour)
		must(t, err)
		must(t, sess.Create(ctx, "where", []byte(sid)))
		node, err := cc.MasterForKey(ctx, sess.Key())
		must(t, err)
		perMaster[node.Options().Addr]++
		started++
	}
	masters := c.MasterAddrs()
	if len(masters) != 3 {
		t.Fatalf("cluster has masters %v, want 3", masters)
	}
	// Count, on each master itself, the keys of this store's namespace.
	for _, addr := range masters {
		n := countKeys(ctx, t, redis.NewClient(&redis.Options{Addr: addr}), st.Namespace()+":s:*")
		if n == 0 {
			t.Errorf("master %s holds none of the %d sessions", addr, started)
		}
		if n != perMaster[addr] {
			t.Errorf("master %s holds %d sessions, the client routed %d there", addr, n, perMaster[addr])
		}
		t.Logf("master %s holds %d of %d sessions", addr, n, started)
	}
}

// TestBehaviourSentinel runs the suite through a Sentinel failover
// client: the client the application would use to follow a master.
func TestBehaviourSentinel(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t)
	suite.Run(t, suite.Backend{
		Client:    s.FailoverClient(t),
		NewClient: func() redis.UniversalClient { return redis.NewFailoverClient(s.FailoverOptions()) },
		Advance:   time.Sleep,
	})
}

func minCount(m map[string]int) int {
	least := -1
	for _, n := range m {
		if least < 0 || n < least {
			least = n
		}
	}
	return least
}

// countKeys counts the keys matching pattern on one node with SCAN,
// closing the client.
func countKeys(ctx context.Context, t testing.TB, rdb *redis.Client, pattern string) int {
	t.Helper()
	defer rdb.Close()
	n := 0
	iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		if !strings.HasPrefix(iter.Val(), strings.TrimSuffix(pattern, "*")) {
			t.Fatalf("SCAN %s returned %q", pattern, iter.Val())
		}
		n++
	}
	must(t, iter.Err())
	return n
}
