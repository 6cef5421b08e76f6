package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMasterName is the name under which StartSentinel's sentinels
// monitor the master.
const SentinelMasterName = "attrcache-master"

const (
	sentinelCount = 3
	// sentinelTimeout bounds the setup wait and the default failover wait.
	sentinelTimeout = 30 * time.Second
)

// Sentinel is a master, its replica and three sentinels monitoring them
// with quorum 2, run by a test and stopped when it ends. The master is
// declared down after 1 s without answers, so a failover takes a few
// seconds.
type Sentinel struct {
	data      []*Server // the initial master, then its replica
	sentinels []*Server
	user      string
	pass      string
}

// StartSentinel starts a master, a replica of it and three sentinels, and
// waits until the replica is in sync and every sentinel knows the master,
// the replica and the two other sentinels. The options apply to the master
// and the replica; credentials given with WithPassword or WithACLUser are
// passed to the sentinels (auth-user, auth-pass) and to FailoverClient.
func StartSentinel(t testing.TB, opts ...ServerOption) *Sentinel {
	t.Helper()
	bin := Require(t)
	cfg := newServerConfig(opts)
	s := &Sentinel{}
	s.user, s.pass = cfg.credentials()

	master := newServer(t, bin, t.TempDir(), cfg, cfg.dataArgs(), freePort)
	if err := master.start(true); err != nil {
		t.Fatalf("redistest: start sentinel's master: %v", err)
	}
	host, port := splitAddr(master.Addr())
	replica := newServer(t, bin, t.TempDir(), cfg, cfg.dataArgs("--replicaof", host, port), freePort)
	if err := replica.start(true); err != nil {
		t.Fatalf("redistest: start sentinel's replica: %v", err)
	}
	s.data = []*Server{master, replica}

	ctx, cancel := context.WithTimeout(context.Background(), sentinelTimeout)
	defer cancel()
	err := poll(ctx, func() error {
		info, err := replica.probeClient().Info(ctx, "replication").Result()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "master_link_status:up") {
			return fmt.Errorf("replica %s not in sync:\n%s", replica.Addr(), info)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("redistest: %v%s", err, s.logs())
	}

	conf := sentinelConf(host, port, s.user, s.pass)
	errs := make([]error, sentinelCount)
	var wg sync.WaitGroup
	for i := range sentinelCount {
		dir := t.TempDir()
		sn := newServer(t, bin, dir, serverConfig{}, nil, freePort)
		sn.sentinel = true
		// Sentinels rewrite their configuration file, so each gets its own.
		sn.confFile = filepath.Join(dir, "sentinel.conf")
		if err := os.WriteFile(sn.confFile, []byte(conf), 0o644); err != nil {
			t.Fatalf("redistest: %v", err)
		}
		s.sentinels = append(s.sentinels, sn)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = sn.start(true)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("redistest: start sentinels: %v", err)
	}
	if err := poll(ctx, func() error { return s.checkSentinels(ctx, master.Addr()) }); err != nil {
		t.Fatalf("redistest: sentinels did not settle: %v%s", err, s.logs())
	}
	return s
}

func sentinelConf(host, port, user, pass string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "sentinel monitor %s %s %s 2\n", SentinelMasterName, host, port)
	fmt.Fprintf(&b, "sentinel down-after-milliseconds %s 1000\n", SentinelMasterName)
	// Also the pause before a failed failover is retried (twice this).
	fmt.Fprintf(&b, "sentinel failover-timeout %s 3000\n", SentinelMasterName)
	fmt.Fprintf(&b, "sentinel parallel-syncs %s 1\n", SentinelMasterName)
	if user != "" {
		fmt.Fprintf(&b, "sentinel auth-user %s %s\n", SentinelMasterName, user)
	}
	if pass != "" {
		fmt.Fprintf(&b, "sentinel auth-pass %s %s\n", SentinelMasterName, pass)
	}
	return b.String()
}

// checkSentinels returns nil when every sentinel sees master as the
// healthy master with one replica and two other sentinels.
func (s *Sentinel) checkSentinels(ctx context.Context, master string) error {
	for _, sn := range s.sentinels {
		rc := sn.probeClient()
		addr, err := sentinelMasterAddr(ctx, rc)
		if err != nil {
			return fmt.Errorf("sentinel %s: %w", sn.Addr(), err)
		}
		if addr != master {
			return fmt.Errorf("sentinel %s names master %s, want %s", sn.Addr(), addr, master)
		}
		m := redis.NewMapStringStringCmd(ctx, "SENTINEL", "MASTER", SentinelMasterName)
		if err := rc.Process(ctx, m); err != nil {
			return fmt.Errorf("sentinel %s: SENTINEL MASTER: %w", sn.Addr(), err)
		}
		if flags := m.Val()["flags"]; flags != "master" {
			return fmt.Errorf("sentinel %s flags the master %q", sn.Addr(), flags)
		}
		replicas := redis.NewMapStringStringSliceCmd(ctx, "SENTINEL", "REPLICAS", SentinelMasterName)
		if err := rc.Process(ctx, replicas); err != nil {
			return fmt.Errorf("sentinel %s: SENTINEL REPLICAS: %w", sn.Addr(), err)
		}
		if r := replicas.Val(); len(r) != 1 || r[0]["flags"] != "slave" || r[0]["master-link-status"] != "ok" {
			return fmt.Errorf("sentinel %s sees replicas %v, want one healthy", sn.Addr(), r)
		}
		others := redis.NewMapStringStringSliceCmd(ctx, "SENTINEL", "SENTINELS", SentinelMasterName)
		if err := rc.Process(ctx, others); err != nil {
			return fmt.Errorf("sentinel %s: SENTINEL SENTINELS: %w", sn.Addr(), err)
		}
		if n := len(others.Val()); n != sentinelCount-1 {
			return fmt.Errorf("sentinel %s knows %d other sentinels, want %d", sn.Addr(), n, sentinelCount-1)
		}
	}
	return nil
}

func sentinelMasterAddr(ctx context.Context, rc *redis.Client) (string, error) {
	v, err := rc.Do(ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SentinelMasterName).StringSlice()
	if err != nil {
		return "", fmt.Errorf("SENTINEL GET-MASTER-ADDR-BY-NAME: %w", err)
	}
	if len(v) != 2 {
		return "", fmt.Errorf("SENTINEL GET-MASTER-ADDR-BY-NAME replied %v", v)
	}
	return v[0] + ":" + v[1], nil
}

// MasterName returns the name the sentinels monitor, SentinelMasterName.
func (s *Sentinel) MasterName() string { return SentinelMasterName }

// SentinelAddrs returns the addresses of the three sentinels.
func (s *Sentinel) SentinelAddrs() []string {
	addrs := make([]string, len(s.sentinels))
	for i, sn := range s.sentinels {
		addrs[i] = sn.Addr()
	}
	return addrs
}

// Sentinels returns the three sentinel processes.
func (s *Sentinel) Sentinels() []*Server { return slices.Clone(s.sentinels) }

// Nodes returns the data nodes: the initial master, then its replica.
// Roles change after a failover.
func (s *Sentinel) Nodes() []*Server { return slices.Clone(s.data) }

// MasterAddr returns the current master's address as told by the first
// running sentinel that answers, or "" when none does within 5 seconds.
func (s *Sentinel) MasterAddr() string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, sn := range s.sentinels {
		if !sn.Running() {
			continue
		}
		if addr, err := sentinelMasterAddr(ctx, sn.probeClient()); err == nil {
			return addr
		}
	}
	return ""
}

// FailoverOptions returns options for redis.NewFailoverClient that find
// the master through the sentinels, with the data nodes' credentials.
func (s *Sentinel) FailoverOptions() *redis.FailoverOptions {
	return &redis.FailoverOptions{
		MasterName:    SentinelMasterName,
		SentinelAddrs: s.SentinelAddrs(),
		Username:      s.user,
		Password:      s.pass,
	}
}

// FailoverClient returns a go-redis client that follows the master through
// the sentinels, closed when the test ends.
func (s *Sentinel) FailoverClient(t testing.TB) *redis.Client {
	c := redis.NewFailoverClient(s.FailoverOptions())
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// KillMaster kills (SIGKILL) the data node the sentinels name as master
// and returns its address, or "" when no sentinel names one of the data
// nodes. Follow with WaitForNewMaster.
func (s *Sentinel) KillMaster() string {
	addr := s.MasterAddr()
	for _, n := range s.data {
		if n.Addr() == addr {
			n.Kill()
			return addr
		}
	}
	return ""
}

// WaitForNewMaster waits until every running sentinel names the same
// master other than old and that node answers ROLE as master, and returns
// its address. It gives up when ctx ends, or after 30 seconds when ctx has
// no deadline, returning the last problem seen.
func (s *Sentinel) WaitForNewMaster(ctx context.Context, old string) (string, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, sentinelTimeout)
		defer cancel()
	}
	var master string
	err := poll(ctx, func() error {
		master = ""
		for _, sn := range s.sentinels {
			if !sn.Running() {
				continue
			}
			addr, err := sentinelMasterAddr(ctx, sn.probeClient())
			if err != nil {
				return fmt.Errorf("sentinel %s: %w", sn.Addr(), err)
			}
			switch {
			case addr == old:
				return fmt.Errorf("sentinel %s still names %s", sn.Addr(), old)
			case master != "" && addr != master:
				return fmt.Errorf("sentinels disagree: %s and %s", master, addr)
			}
			master = addr
		}
		if master == "" {
			return errors.New("no sentinel is running")
		}
		for _, n := range s.data {
			if n.Addr() != master {
				continue
			}
			role, err := n.Role(ctx)
			if err != nil {
				return fmt.Errorf("new master %s: %w", master, err)
			}
			if role != "master" {
				return fmt.Errorf("new master %s is still a %s", master, role)
			}
			return nil
		}
		return fmt.Errorf("sentinels name %s, not one of the data nodes", master)
	})
	if err != nil {
		return "", fmt.Errorf("redistest: no new master after %s: %w", old, err)
	}
	return master, nil
}

// logs returns the tail of every process's log, for failure messages.
func (s *Sentinel) logs() string {
	var b strings.Builder
	for _, n := range append(slices.Clone(s.data), s.sentinels...) {
		b.WriteString(logTails(n.Dir(), outputName, logName))
	}
	return b.String()
}
