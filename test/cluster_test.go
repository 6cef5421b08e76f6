package test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/test/redistest"
)

// clusterClientOptions are the options a caller should use for attrcache
// on a cluster: retries on (MaxRedirects is the cluster client's resend
// budget), context deadlines honoured, timeouts short enough that calls
// to a dead master give up within the call's deadline.
func clusterClientOptions(c *redistest.Cluster) *redis.ClusterOptions {
	o := c.ClusterOptions()
	o.MaxRedirects = 8
	o.ContextTimeoutEnabled = true
	o.DialTimeout = 300 * time.Millisecond
	o.ReadTimeout = 2 * time.Second
	o.WriteTimeout = 2 * time.Second
	return o
}

// TestClusterFailover writes from 8 goroutines to 320 sessions spread
// over the three masters, kills one master, waits for its replica to be
// promoted, brings the old master back (it rejoins as a replica) and
// writes on. Calls on the killed master's sessions must succeed again
// after the promotion. Replication is asynchronous, so acknowledged
// writes may be lost: the test measures and reports them, once for a
// plain kill and once after the replica lost its link to the master
// (a partition), the case where asynchronous replication does lose them.
func TestClusterFailover(t *testing.T) {
	t.Parallel()
	failoverCases(t, "cluster", clusterFailover, nil)
}

// TestClusterFailoverReplicaWait does the same with WithReplicaWait(1):
// a write is acknowledged only once the replica has it, so no
// acknowledged write may be lost; writes the replica did not get return
// ErrNotReplicated instead.
func TestClusterFailoverReplicaWait(t *testing.T) {
	t.Parallel()
	failoverCases(t, "cluster", clusterFailover, []attrcache.Option{attrcache.WithReplicaWait(1, replicaWaitTimeout)})
}

// replicaWaitTimeout is the WAIT bound of the failover tests: well inside
// the 500ms between cutting the replica off and killing the master, so
// writes in that window return ErrNotReplicated before the kill.
const replicaWaitTimeout = 150 * time.Millisecond

// failoverCases runs a failover test for a plain kill and for a kill after
// the replica was cut off, and reports what it measured. With
// WithReplicaWait among opts no acknowledged write may be lost, and
// writes the cut-off replica did not get must return ErrNotReplicated.
func failoverCases(t *testing.T, what string, failover func(*testing.T, bool, []attrcache.Option) failoverReport, opts []attrcache.Option) {
	mode := "asynchronous replication"
	if opts != nil {
		mode = fmt.Sprintf("WithReplicaWait(1, %v)", replicaWaitTimeout)
	}
	for _, cut := range []bool{false, true} {
		t.Run(failoverCase(cut), func(t *testing.T) {
			rep := failover(t, cut, opts)
			t.Logf("%s failover, %s, %s: %v", what, mode, failoverCase(cut), rep)
			if opts == nil {
				return
			}
			if rep.lost != 0 || rep.lostSessions != 0 {
				t.Errorf("WithReplicaWait: %d acknowledged writes and %d sessions lost in the failover, want 0", rep.lost, rep.lostSessions)
			}
			if cut && rep.errors["ErrNotReplicated"] == 0 {
				t.Errorf("WithReplicaWait: no write returned ErrNotReplicated while the replica was cut off")
			}
		})
	}
}

func failoverCase(cut bool) string {
	if cut {
		return "replica cut off 500ms before the kill"
	}
	return "kill"
}

func clusterFailover(t *testing.T, cut bool, opts []attrcache.Option) failoverReport {
	ctx := testCtx(t, 150*time.Second)
	c := redistest.StartCluster(t)
	cc := redis.NewClusterClient(clusterClientOptions(c))
	t.Cleanup(func() { _ = cc.Close() })
	st := newStore(t, cc, opts...)

	run := startFailoverLoad(ctx, t, st)
	stopped := false
	defer func() {
		if !stopped {
			run.finish()
		}
	}()
	// Which master serves each session, before anything fails.
	masterOf := map[[2]int]string{}
	for _, wk := range run.workers {
		for si, s := range wk.sessions {
			node, err := cc.MasterForKey(ctx, s.Key())
			must(t, err)
			masterOf[[2]int{wk.id, si}] = node.Options().Addr
		}
	}
	victim := run.workers[0].sessions[0].Key()
	time.Sleep(1500 * time.Millisecond)

	if cut {
		master, err := cc.MasterForKey(ctx, victim)
		must(t, err)
		nodes := c.Nodes()
		for i := range 3 {
			if nodes[i].Addr() == master.Options().Addr {
				cutReplication(ctx, t, nodes[i].Client(t), nodes[i+3].Client(t))
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	killed := c.KillMasterFor(t, victim)
	killedAt := time.Now() // the process is gone
	c.WaitForFailover(t, victim)
	promoted := time.Since(killedAt)
	// The killed master comes back empty and rejoins as a replica of the
	// node that replaced it, so its shard has a replica again.
	for _, n := range c.Nodes() {
		if n.Addr() == killed {
			n.Restart(t)
		}
	}
	rejoined := time.Since(killedAt)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := c.WaitHealthy(wctx)
	cancel()
	must(t, err)
	onKilled := func(w, s int) bool { return masterOf[[2]int{w, s}] == killed }
	// Writes on the killed master's sessions must succeed again.
	probe := retryCall(ctx, 20*time.Second, func() error {
		return run.workers[0].sessions[0].Set(ctx, "probe", []byte("after"))
	})
	time.Sleep(2 * time.Second)
	run.finish()
	stopped = true
	if probe != nil {
		t.Fatalf("a write on the killed master's sessions still fails 20s after the promotion: %v", probe)
	}

	rep := run.check(ctx, t, cc, killedAt, onKilled)
	t.Logf("killed master %s; replica promoted %v after the kill; old master back as a replica %v after", killed, promoted.Round(time.Millisecond), rejoined.Round(time.Millisecond))
	if rep.ackedAfter == 0 {
		t.Errorf("no write was acknowledged after the failover")
	}
	if rep.firstOK == 0 {
		t.Errorf("no write on the killed master's sessions succeeded after the kill")
	}
	if n := rep.errors["ErrCorrupt"]; n > 0 {
		t.Errorf("%d calls met corrupt data during the failover", n)
	}
	return rep
}
