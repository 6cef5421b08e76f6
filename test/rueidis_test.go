package test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/rueidisstore"
	"github.com/attrcache/attrcache/test/redistest"
	"github.com/attrcache/attrcache/test/suite"
)

// newRueidis returns a rueidis client built with rueidisstore.Options,
// closed when the test ends.
func newRueidis(t testing.TB, o rueidis.ClientOption) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidisstore.Options(o))
	if err != nil {
		t.Fatalf("rueidis.NewClient: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// rueidisStores is a suite Store function: Stores on c.
func rueidisStores(c rueidis.Client) func(testing.TB, ...attrcache.Option) *attrcache.Store {
	return func(t testing.TB, opts ...attrcache.Option) *attrcache.Store {
		t.Helper()
		st, err := rueidisstore.New(c, opts...)
		if err != nil {
			t.Fatalf("rueidisstore.New: %v", err)
		}
		return st
	}
}

// newRueidisStore returns a Store on c in a namespace of its own.
func newRueidisStore(t testing.TB, c rueidis.Client, opts ...attrcache.Option) *attrcache.Store {
	t.Helper()
	return rueidisStores(c)(t, append([]attrcache.Option{attrcache.WithNamespace("r-" + randHex(4))}, opts...)...)
}

// The behaviour suite with the Stores under test on rueidis, with and
// without its near cache, on one server, a Cluster of three masters and
// behind Sentinel. The raw checks, and the Stores a test makes beside the
// one under test, run on go-redis: both clients share the same bytes.

func TestRueidisBehaviourServer(t *testing.T) {
	t.Parallel()
	s := redistest.StartServer(t)
	for _, near := range []bool{false, true} {
		t.Run(cacheName(near), func(t *testing.T) {
			c := newRueidis(t, rueidis.ClientOption{InitAddress: []string{s.Addr()}, DisableCache: !near})
			suite.Run(t, suite.Backend{
				Client:    fenced(s.Client(t), c, near),
				NewClient: func() redis.UniversalClient { return redis.NewClient(s.Options()) },
				Advance:   time.Sleep,
				Store:     rueidisStores(c),
			})
		})
	}
}

func TestRueidisBehaviourCluster(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t)
	for _, near := range []bool{false, true} {
		t.Run(cacheName(near), func(t *testing.T) {
			c := newRueidis(t, rueidis.ClientOption{InitAddress: cl.Addrs(), DisableCache: !near})
			if c.Mode() != rueidis.ClientModeCluster {
				t.Fatalf("client mode %v, want cluster", c.Mode())
			}
			suite.Run(t, suite.Backend{
				Client:    fenced(cl.Client(t), c, near),
				NewClient: func() redis.UniversalClient { return redis.NewClusterClient(cl.ClusterOptions()) },
				Advance:   time.Sleep,
				Store:     rueidisStores(c),
			})
		})
	}
}

func TestRueidisBehaviourSentinel(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t)
	for _, near := range []bool{false, true} {
		t.Run(cacheName(near), func(t *testing.T) {
			c := newRueidis(t, rueidis.ClientOption{InitAddress: s.SentinelAddrs(), DisableCache: !near,
				Sentinel: rueidis.SentinelOption{MasterSet: s.MasterName()}})
			if c.Mode() != rueidis.ClientModeSentinel {
				t.Fatalf("client mode %v, want sentinel", c.Mode())
			}
			suite.Run(t, suite.Backend{
				Client:    fenced(s.FailoverClient(t), c, near),
				NewClient: func() redis.UniversalClient { return redis.NewFailoverClient(s.FailoverOptions()) },
				Advance:   time.Sleep,
				Store:     rueidisStores(c),
			})
		})
	}
}

// fenceHook fences each command of a go-redis client on a rueidis client:
// after the command, an EXISTS of its key on the rueidis client, whose
// reply comes after the invalidation the command caused, on the one
// connection that caches the key. The suite writes raw records and reads
// them back at once; between two instances a write is seen within the
// invalidation delay instead (TestRueidisNearCacheCrossInstance measures
// it).
type fenceHook struct{ c rueidis.Client }

func (fenceHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h fenceHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.fence(ctx, cmd)
		return err
	}
}
func (h fenceHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			h.fence(ctx, cmd)
		}
		return err
	}
}

func (h fenceHook) fence(ctx context.Context, cmd redis.Cmder) {
	args, i := cmd.Args(), 1
	switch cmd.Name() {
	case "fcall", "evalsha", "eval":
		i = 3
	}
	if i >= len(args) {
		return
	}
	if key, ok := args[i].(string); ok {
		_ = h.c.Do(ctx, h.c.B().Exists().Key(key).Build()).Error()
	}
}

// fenced returns rdb with its commands fenced on c, when c caches.
func fenced[C interface{ AddHook(redis.Hook) }](rdb C, c rueidis.Client, near bool) C {
	if near {
		rdb.AddHook(fenceHook{c})
	}
	return rdb
}

func cacheName(near bool) string {
	if near {
		return "NearCache"
	}
	return "NoCache"
}
