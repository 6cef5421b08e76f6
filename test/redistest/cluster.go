package redistest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClusterNodeTimeout is the cluster-node-timeout of StartCluster's nodes.
// It is short so that a failover takes a few seconds; override it with
// WithArgs("--cluster-node-timeout", "MS") should a loaded machine make
// nodes flag each other as failing.
const ClusterNodeTimeout = 1000 * time.Millisecond

const (
	clusterMasters = 3
	clusterSlots   = 16384
	// clusterTimeout bounds forming the cluster and each failover wait.
	clusterTimeout = 30 * time.Second
)

// Cluster is a Redis Cluster of three masters with one replica each, run
// by a test and stopped when it ends.
type Cluster struct {
	nodes []*Server // masters first, then the replica of each in order
	user  string
	pass  string
}

// StartCluster starts six cluster-enabled nodes on loopback, assigns the
// 16384 slots evenly to the first three and makes each of the other three a
// replica of one of them, then waits until every node reports
// cluster_state:ok, every slot is served and every replica is in sync. The
// options apply to every node; credentials given with WithPassword or
// WithACLUser are used by the replicas and by the returned clients.
func StartCluster(t testing.TB, opts ...ServerOption) *Cluster {
	t.Helper()
	bin := Require(t)
	cfg := newServerConfig(opts)
	c := &Cluster{}
	c.user, c.pass = cfg.credentials()

	errs := make([]error, 2*clusterMasters)
	var wg sync.WaitGroup
	for i := range errs {
		dir := t.TempDir()
		args := cfg.dataArgs(
			"--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			"--cluster-node-timeout", strconv.Itoa(int(ClusterNodeTimeout.Milliseconds())),
		)
		s := newServer(t, bin, dir, cfg, args, freeClusterPort)
		s.bus = true
		c.nodes = append(c.nodes, s)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.start(true)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("redistest: start cluster nodes: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	if err := c.form(ctx); err != nil {
		t.Fatalf("redistest: form cluster: %v%s", err, c.logs())
	}
	// Masters only declare the cluster ok 2 s after they started, whatever
	// we do, so this wait takes that long at least.
	if err := poll(ctx, func() error { return c.check(ctx, true) }); err != nil {
		t.Fatalf("redistest: cluster did not become healthy: %v%s", err, c.logs())
	}
	return c
}

// form does what redis-cli --cluster create does, with a fixed layout:
// node i < 3 is a master, node i+3 its replica.
func (c *Cluster) form(ctx context.Context) error {
	ids := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		id, err := n.probeClient().Do(ctx, "CLUSTER", "MYID").Text()
		if err != nil {
			return fmt.Errorf("CLUSTER MYID on %s: %w", n.Addr(), err)
		}
		ids[i] = id
		// Distinct epochs up front spare the nodes a round of collision
		// resolution once they meet.
		if err := n.probeClient().Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", i+1).Err(); err != nil {
			return fmt.Errorf("CLUSTER SET-CONFIG-EPOCH on %s: %w", n.Addr(), err)
		}
	}
	for i := range clusterMasters {
		first := i * clusterSlots / clusterMasters
		last := (i+1)*clusterSlots/clusterMasters - 1
		n := c.nodes[i]
		if err := n.probeClient().Do(ctx, "CLUSTER", "ADDSLOTSRANGE", first, last).Err(); err != nil {
			return fmt.Errorf("CLUSTER ADDSLOTSRANGE %d %d on %s: %w", first, last, n.Addr(), err)
		}
	}
	first := c.nodes[0]
	for _, n := range c.nodes[1:] {
		host, port := splitAddr(n.Addr())
		if err := first.probeClient().Do(ctx, "CLUSTER", "MEET", host, port).Err(); err != nil {
			return fmt.Errorf("CLUSTER MEET %s from %s: %w", n.Addr(), first.Addr(), err)
		}
	}
	for i := range clusterMasters {
		replica, master := c.nodes[i+clusterMasters], ids[i]
		// A replica can only follow a master it has heard of through gossip.
		err := poll(ctx, func() error {
			nodes, err := replica.probeClient().ClusterNodes(ctx).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(nodes, master) {
				return fmt.Errorf("%s does not know master %s yet", replica.Addr(), master)
			}
			return replica.probeClient().Do(ctx, "CLUSTER", "REPLICATE", master).Err()
		})
		if err != nil {
			return fmt.Errorf("CLUSTER REPLICATE on %s: %w", replica.Addr(), err)
		}
	}
	return nil
}

// Addrs returns the addresses of all six nodes, dead or alive.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// Nodes returns the six nodes: the three initial masters, then the
// replica of each, in the same order. Roles change after a failover.
func (c *Cluster) Nodes() []*Server { return slices.Clone(c.nodes) }

// MasterAddrs returns the addresses of the masters that serve slots, as
// told by the first running node that answers, or nil when none does.
func (c *Cluster) MasterAddrs() []string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, n := range c.running() {
		slots, err := n.probeClient().ClusterSlots(ctx).Result()
		if err != nil {
			continue
		}
		var addrs []string
		for _, s := range slots {
			if len(s.Nodes) > 0 && !slices.Contains(addrs, s.Nodes[0].Addr) {
				addrs = append(addrs, s.Nodes[0].Addr)
			}
		}
		return addrs
	}
	return nil
}

// ClusterOptions returns client options that reach the cluster with its
// credentials. Callers may change them before redis.NewClusterClient.
func (c *Cluster) ClusterOptions() *redis.ClusterOptions {
	return &redis.ClusterOptions{Addrs: c.Addrs(), Username: c.user, Password: c.pass}
}

// Client returns a go-redis cluster client, closed when the test ends.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	cc := redis.NewClusterClient(c.ClusterOptions())
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// KillMasterFor kills (SIGKILL) the master that serves key's slot and
// returns its address. Follow with WaitForFailover.
func (c *Cluster) KillMasterFor(t testing.TB, key string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr, err := c.masterFor(ctx, key)
	if err != nil {
		t.Fatalf("redistest: find the master of %q: %v", key, err)
	}
	for _, n := range c.nodes {
		if n.Addr() == addr {
			n.Kill()
			return addr
		}
	}
	t.Fatalf("redistest: master %s of %q is not a node of this cluster", addr, key)
	return ""
}

// WaitForFailover waits until key's slot is served by a running master and
// the running nodes agree the cluster is healthy (see WaitHealthy). It fails
// the test after 30 seconds.
//
// A ClusterClient that already knew the old layout keeps sending the slot
// to the dead node, which refuses connections instead of answering MOVED,
// until its slot map is ten seconds old; call its ReloadState to make it
// follow at once.
func (c *Cluster) WaitForFailover(t testing.TB, key string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	err := poll(ctx, func() error {
		addr, err := c.masterFor(ctx, key)
		if err != nil {
			return err
		}
		if !slices.Contains(c.runningAddrs(), addr) {
			return fmt.Errorf("slot of %q still served by %s, which is down", key, addr)
		}
		return c.check(ctx, false)
	})
	if err != nil {
		t.Fatalf("redistest: no failover for %q: %v%s", key, err, c.logs())
	}
}

// WaitHealthy waits until every running node reports cluster_state:ok and
// sees all 16384 slots served by running masters. It returns the last
// problem seen when ctx ends first.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	return poll(ctx, func() error { return c.check(ctx, false) })
}

// masterFor returns the address of the master serving key's slot, as seen
// by the first running node that answers.
func (c *Cluster) masterFor(ctx context.Context, key string) (string, error) {
	var errs []error
	for _, n := range c.running() {
		slot, err := n.probeClient().ClusterKeySlot(ctx, key).Result()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		slots, err := n.probeClient().ClusterSlots(ctx).Result()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, s := range slots {
			if int64(s.Start) <= slot && slot <= int64(s.End) && len(s.Nodes) > 0 {
				return s.Nodes[0].Addr, nil
			}
		}
		return "", fmt.Errorf("%s: slot %d of %q is not served", n.Addr(), slot, key)
	}
	return "", fmt.Errorf("no running node answered: %w", errors.Join(errs...))
}

func (c *Cluster) running() []*Server {
	var rs []*Server
	for _, n := range c.nodes {
		if n.Running() {
			rs = append(rs, n)
		}
	}
	return rs
}

func (c *Cluster) runningAddrs() []string {
	var addrs []string
	for _, n := range c.running() {
		addrs = append(addrs, n.Addr())
	}
	return addrs
}

// check returns nil when every running node reports a healthy cluster
// whose slots are all served by running masters. With full it also wants
// the initial layout: every node sees all six nodes, three masters with
// slots and three connected replicas, and every replica is in sync.
func (c *Cluster) check(ctx context.Context, full bool) error {
	live := c.runningAddrs()
	if len(live) == 0 {
		return errors.New("no node is running")
	}
	for _, n := range c.running() {
		addr := n.Addr()
		rc := n.probeClient()
		info, err := rc.ClusterInfo(ctx).Result()
		if err != nil {
			return fmt.Errorf("%s: CLUSTER INFO: %w", addr, err)
		}
		for _, want := range []string{"cluster_state:ok", "cluster_slots_ok:16384"} {
			if !strings.Contains(info, want+"\r\n") {
				return fmt.Errorf("%s: CLUSTER INFO lacks %s:\n%s", addr, want, info)
			}
		}
		slots, err := rc.ClusterSlots(ctx).Result()
		if err != nil {
			return fmt.Errorf("%s: CLUSTER SLOTS: %w", addr, err)
		}
		covered := 0
		for _, s := range slots {
			if len(s.Nodes) == 0 || !slices.Contains(live, s.Nodes[0].Addr) {
				return fmt.Errorf("%s: slots %d-%d served by %v, not a running master", addr, s.Start, s.End, s.Nodes)
			}
			covered += s.End - s.Start + 1
		}
		if covered != clusterSlots {
			return fmt.Errorf("%s: CLUSTER SLOTS covers %d slots", addr, covered)
		}
		if !full {
			continue
		}
		nodes, err := rc.ClusterNodes(ctx).Result()
		if err != nil {
			return fmt.Errorf("%s: CLUSTER NODES: %w", addr, err)
		}
		if err := checkNodes(nodes); err != nil {
			return fmt.Errorf("%s: %w:\n%s", addr, err, nodes)
		}
		if role, err := n.Role(ctx); err == nil && role == "slave" {
			repl, err := rc.Info(ctx, "replication").Result()
			if err != nil {
				return fmt.Errorf("%s: INFO replication: %w", addr, err)
			}
			if !strings.Contains(repl, "master_link_status:up") {
				return fmt.Errorf("%s: replica not in sync:\n%s", addr, repl)
			}
		}
	}
	return nil
}

// checkNodes wants a CLUSTER NODES reply of three masters with slots and
// three replicas, all connected and none flagged as failing.
func checkNodes(nodes string) error {
	var masters, replicas int
	for _, line := range strings.Split(strings.TrimSpace(nodes), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			return fmt.Errorf("malformed CLUSTER NODES line %q", line)
		}
		flags := strings.Split(f[2], ",")
		for _, bad := range []string{"fail", "fail?", "handshake", "noaddr"} {
			if slices.Contains(flags, bad) {
				return fmt.Errorf("node %s is flagged %s", f[1], f[2])
			}
		}
		if f[7] != "connected" {
			return fmt.Errorf("node %s link is %s", f[1], f[7])
		}
		switch {
		case slices.Contains(flags, "master") && len(f) > 8:
			masters++
		case slices.Contains(flags, "slave") && f[3] != "-":
			replicas++
		}
	}
	if masters != clusterMasters || replicas != clusterMasters {
		return fmt.Errorf("%d masters with slots and %d replicas, want %d of each", masters, replicas, clusterMasters)
	}
	return nil
}

// logs returns the tail of every node's log, for failure messages.
func (c *Cluster) logs() string {
	var b strings.Builder
	for _, n := range c.nodes {
		b.WriteString(logTails(n.Dir(), outputName, logName))
	}
	return b.String()
}

// poll calls f until it returns nil or ctx ends; then it returns f's last
// error.
func poll(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || sleepCtx(ctx, 50*time.Millisecond) != nil {
			return fmt.Errorf("gave up: %w", err)
		}
	}
}

func splitAddr(addr string) (host, port string) {
	i := strings.LastIndexByte(addr, ':')
	return addr[:i], addr[i+1:]
}
