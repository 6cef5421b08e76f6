package test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/test/redistest"
	"github.com/redis/rueidis"
)

// replicaWaitCalls runs every write once on a fresh session of st and
// returns their errors by name. The session is started through plain,
// so that Start itself is not the call under test.
func replicaWaitCalls(ctx context.Context, t *testing.T, st, plain *attrcache.Store) map[string]error {
	t.Helper()
	sid := "replica-wait-" + randHex(8)
	ps, err := plain.Start(ctx, sid, time.Hour)
	must(t, err)
	must(t, ps.CreateMany(ctx, []attrcache.Attr{{Name: "u", Value: []byte("1")}, {Name: "d", Value: []byte("1")}, {Name: "e", Value: []byte("1")}}))
	s := st.Session(sid)
	one := func(name string) []attrcache.Attr { return []attrcache.Attr{{Name: name, Value: []byte("v")}} }
	errs := map[string]error{}
	_, errs["Start"] = st.Start(ctx, "replica-wait-start-"+randHex(8), time.Hour)
	errs["Create"] = s.Create(ctx, "c1", []byte("v"))
	errs["CreateMany"] = s.CreateMany(ctx, one("c2"))
	errs["Set"] = s.Set(ctx, "s1", []byte("v"))
	errs["SetMany"] = s.SetMany(ctx, one("s2"))
	errs["Update"] = s.Update(ctx, "u", []byte("2"))
	errs["UpdateMany"] = s.UpdateMany(ctx, one("u"))
	errs["SetExpiry"] = s.SetExpiry(ctx, "e", time.Minute)
	errs["SetExpiryMany"] = s.SetExpiryMany(ctx, map[string]time.Duration{"e": 2 * time.Minute})
	errs["Delete"] = s.Delete(ctx, "d")
	errs["DeleteMany"] = s.DeleteMany(ctx, []string{"c1"})
	_, errs["Renew"] = s.Renew(ctx, 2*time.Hour)
	errs["End"] = s.End(ctx)
	return errs
}

// TestReplicaWaitNoReplica: with WithReplicaWait(1) on a master without
// replicas, every write is applied but returns ErrNotReplicated, within
// the wait's timeout; reads are not affected.
func TestReplicaWaitNoReplica(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 30*time.Second)
	srv := redistest.StartServer(t)
	rdb := srv.Client(t)
	const wait = 100 * time.Millisecond
	st := newStore(t, rdb, attrcache.WithReplicaWait(1, wait))
	plain, err := attrcache.New(rdb, attrcache.WithNamespace(st.Namespace()))
	must(t, err)

	start := time.Now()
	errs := replicaWaitCalls(ctx, t, st, plain)
	took := time.Since(start)
	for call, err := range errs {
		if !errors.Is(err, attrcache.ErrNotReplicated) {
			t.Errorf("%s with no replica to acknowledge it: %v, want ErrNotReplicated", call, err)
		}
	}
	if took > time.Duration(len(errs))*wait+5*time.Second {
		t.Errorf("%d writes waiting %v each took %v", len(errs), wait, took)
	}
	// The writes were applied on the master all the same.
	sid := "replica-wait-visible-" + randHex(8)
	if _, err := st.Start(ctx, sid, time.Hour); !errors.Is(err, attrcache.ErrNotReplicated) {
		t.Fatalf("Start: %v, want ErrNotReplicated", err)
	}
	if err := plain.Session(sid).Create(ctx, "a", []byte("1")); err != nil {
		t.Fatalf("the session started without replicas is not there: %v", err)
	}
	if e, err := st.Session(sid).Get(ctx, "a"); err != nil || string(e.Value) != "1" {
		t.Fatalf("a read through a store WithReplicaWait: %v, %v", e, err)
	}
}

// TestReplicaWaitWithReplica: with a replica that keeps up, every write
// succeeds and is on the replica when the call returns.
func TestReplicaWaitWithReplica(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 30*time.Second)
	master := redistest.StartServer(t)
	host, port, err := net.SplitHostPort(master.Addr())
	must(t, err)
	replica := redistest.StartServer(t, redistest.WithArgs("--replicaof", host, port))
	rc := replica.Client(t)
	err = retryCall(ctx, 10*time.Second, func() error {
		info, err := rc.Info(ctx, "replication").Result()
		if err == nil && !strings.Contains(info, "master_link_status:up") {
			err = errors.New("replica not in sync yet")
		}
		return err
	})
	must(t, err)
	rdb := master.Client(t)
	st := newStore(t, rdb, attrcache.WithReplicaWait(1, 2*time.Second))
	plain, err := attrcache.New(rdb, attrcache.WithNamespace(st.Namespace()))
	must(t, err)
	for call, err := range replicaWaitCalls(ctx, t, st, plain) {
		if err != nil {
			t.Errorf("%s with a replica in sync: %v", call, err)
		}
	}
	// Acknowledged means on the replica: read it there at once.
	sid := "replica-wait-on-replica-" + randHex(8)
	s, err := st.Start(ctx, sid, time.Hour)
	must(t, err)
	must(t, s.Create(ctx, "a", []byte("replicated")))
	hash, err := rc.HGetAll(ctx, rawKey(st.Namespace(), sid)).Result()
	if err != nil || hash["a"] == "" {
		t.Fatalf("the acknowledged write is not on the replica: %v", err)
	}
	if rec, err := recordIn(hash, "a"); err != nil || rec.value != "replicated" {
		t.Fatalf("the replica holds %q (%v)", hash["a"], err)
	}
}

// TestReplicaWaitLongerThanACall: a wait longer than the default call
// timeout stretches the call's deadline, so a write nobody acknowledges
// reports ErrNotReplicated after the wait instead of ending at the
// deadline with the wait still running. The first write on a fresh
// server waits once, on either client: the library is loaded before the
// first script that WAIT follows.
func TestReplicaWaitLongerThanACall(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 30*time.Second)
	const wait = 1500 * time.Millisecond
	for _, client := range []string{"go-redis", "rueidis"} {
		srv := redistest.StartServer(t)
		var st *attrcache.Store
		if client == "go-redis" {
			st = newStore(t, srv.Client(t), attrcache.WithReplicaWait(1, wait))
		} else {
			st = newRueidisStore(t, newRueidis(t, rueidis.ClientOption{InitAddress: []string{srv.Addr()}}),
				attrcache.WithReplicaWait(1, wait))
		}
		start := time.Now()
		_, err := st.Start(ctx, "replica-wait-long-"+randHex(8), time.Hour)
		if !errors.Is(err, attrcache.ErrNotReplicated) {
			t.Fatalf("%s: Start waiting %v for a replica that does not exist: %v, want ErrNotReplicated", client, wait, err)
		}
		if took := time.Since(start); took < wait {
			t.Fatalf("%s: Start returned ErrNotReplicated after %v, before its wait of %v", client, took, wait)
		}
	}
}
