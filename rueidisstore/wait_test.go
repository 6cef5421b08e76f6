package rueidisstore

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/test/redistest"
)

// TestReplicaWait runs writes WithReplicaWait: behind Sentinel,
// with a master and one replica, a write that one replica acknowledges
// succeeds, one that asks for two is ErrNotReplicated though applied, and
// with the cache on the Store still reads its own writes (WAIT goes on a
// connection of its own; a fence on the pipeline follows).
func TestReplicaWait(t *testing.T) {
	sen := redistest.StartSentinel(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, cache := range []bool{false, true} {
		c, err := rueidis.NewClient(Options(rueidis.ClientOption{InitAddress: sen.SentinelAddrs(), DisableCache: !cache,
			Sentinel: rueidis.SentinelOption{MasterSet: sen.MasterName()}}))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		store := func(replicas int, opts ...attrcache.Option) *attrcache.Store {
			st, err := New(c, append(opts, attrcache.WithReplicaWait(replicas, 200*time.Millisecond))...)
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
		one := store(1, attrcache.WithNamespace("wait-"+strconv.FormatBool(cache)))
		sid := attrcache.NewSessionID()
		s, err := one.Start(ctx, sid, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 200 {
			if _, err := s.Get(ctx, "a"); err != nil && !errors.Is(err, attrcache.ErrNotFound) {
				t.Fatal(err)
			}
			want := strconv.Itoa(i)
			if err := s.Set(ctx, "a", []byte(want)); err != nil {
				t.Fatalf("a write one replica acknowledges: %v", err)
			}
			e, err := s.Get(ctx, "a")
			if err != nil || string(e.Value) != want {
				t.Fatalf("cache %v, round %d: read %v, %v after writing %s", cache, i, e, err, want)
			}
		}
		two := store(2, attrcache.WithNamespace(one.Namespace()))
		err = two.Session(sid).Set(ctx, "a", []byte("two"))
		if !errors.Is(err, attrcache.ErrNotReplicated) {
			t.Fatalf("a write two replicas cannot acknowledge: %v, want ErrNotReplicated", err)
		}
		if e, err := s.Get(ctx, "a"); err != nil || string(e.Value) != "two" {
			t.Fatalf("the write not replicated enough is not applied: %v, %v", e, err)
		}
	}
}
