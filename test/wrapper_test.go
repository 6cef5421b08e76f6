package test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/test/redistest"
)

// Applications wrap their clients (to add metrics, a circuit breaker, a
// name): a type that embeds a go-redis client must be served exactly like
// the client, or be refused by New. These are the wrappers.
type (
	nodeWrapper    struct{ *redis.Client }
	clusterWrapper struct{ *redis.ClusterClient }
	ringWrapper    struct{ *redis.Ring }
	// opaqueWrapper hides its client behind the methods attrcache calls:
	// nothing says which node serves a key.
	opaqueWrapper struct{ attrcache.Client }
)

// wrapperWorks runs the behaviour suite's core on st (a Store on a
// wrapper) and Ping, which on a cluster must reach every master.
func wrapperWorks(ctx context.Context, t *testing.T, st *attrcache.Store) {
	t.Helper()
	must(t, st.Ping(ctx))
	for i := range 20 {
		sid := "wrapped-" + randHex(8)
		s, err := st.Start(ctx, sid, time.Hour, attrcache.WithAttrs(attrcache.Attr{Name: "a", Value: []byte("1")}))
		must(t, err)
		must(t, s.Set(ctx, "b", []byte("2")))
		n, err := s.Incr(ctx, "n", int64(i))
		must(t, err)
		if n != int64(i) {
			t.Fatalf("Incr through a wrapper: %d", n)
		}
		m, err := st.Session(sid).GetMany(ctx, []string{"a", "b"})
		must(t, err)
		if string(m["a"].Value) != "1" || string(m["b"].Value) != "2" {
			t.Fatal("a read through a wrapper lost a write")
		}
		ns, err := s.Rotate(ctx, s.NewID())
		must(t, err)
		must(t, ns.End(ctx))
	}
}

// TestWrappedClients: a wrapper embedding each go-redis client works
// fully, Ping and WithReplicaWait included; one that hides its client is
// refused by New with a message that says what to do.
func TestWrappedClients(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 120*time.Second)

	t.Run("node", func(t *testing.T) {
		srv := redistest.StartServer(t)
		st := newStore(t, nodeWrapper{srv.Client(t)})
		wrapperWorks(ctx, t, st)
	})
	t.Run("cluster", func(t *testing.T) {
		c := redistest.StartCluster(t)
		w := clusterWrapper{c.Client(t)}
		st := newStore(t, w)
		wrapperWorks(ctx, t, st)
		// Ping reaches every master: with one of them down it fails,
		// naming it, where a ping of one node would pass.
		killed := c.KillMasterFor(t, "wrapped-ping")
		err := st.Ping(ctx)
		if !errors.Is(err, attrcache.ErrUnavailable) || !strings.Contains(err.Error(), killed) {
			t.Fatalf("Ping through a cluster wrapper with master %s down: %v", killed, err)
		}
		c.WaitForFailover(t, "wrapped-ping")
		// WAIT goes to the key's master in the script's pipeline.
		rw := newStore(t, w, attrcache.WithReplicaWait(1, 2*time.Second))
		s, err := rw.Start(ctx, "wrapped-wait-"+randHex(8), time.Hour)
		if err != nil && !errors.Is(err, attrcache.ErrNotReplicated) {
			t.Fatalf("Start WithReplicaWait through a cluster wrapper: %v", err)
		}
		if err == nil {
			must(t, s.Set(ctx, "a", []byte("1")))
		}
	})
	t.Run("sentinel", func(t *testing.T) {
		s := redistest.StartSentinel(t)
		st := newStore(t, nodeWrapper{s.FailoverClient(t)})
		wrapperWorks(ctx, t, st)
	})
	t.Run("ring", func(t *testing.T) {
		a, b := redistest.StartServer(t), redistest.StartServer(t)
		ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": a.Addr(), "b": b.Addr()}})
		t.Cleanup(func() { _ = ring.Close() })
		st := newStore(t, ringWrapper{ring})
		wrapperWorks(ctx, t, st)
		if _, err := attrcache.New(ringWrapper{ring}, attrcache.WithReplicaWait(1, time.Second)); !errors.Is(err, attrcache.ErrInvalid) {
			t.Fatalf("WithReplicaWait on a ring wrapper: %v, want ErrInvalid", err)
		}
	})
	t.Run("opaque", func(t *testing.T) {
		srv := redistest.StartServer(t)
		_, err := attrcache.New(opaqueWrapper{srv.Client(t)})
		if !errors.Is(err, attrcache.ErrInvalid) || !strings.Contains(err.Error(), "embeds") {
			t.Fatalf("New on a wrapper that hides its client: %v, want ErrInvalid saying to embed one", err)
		}
	})
}
