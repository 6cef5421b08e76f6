package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/config"
	"github.com/attrcache/attrcache/internal/format"
	"github.com/attrcache/attrcache/internal/inspect"
)

// examineBatch bounds the keys of one pipeline when examining a sample.
const examineBatch = 500

// scan is one stats run over every master.
type scan struct {
	pattern  string
	count    int64
	sample   sampleFlag
	progress time.Duration
	stderr   io.Writer
	shape    string // what was scanned: single node, sentinel, cluster
	nodes    []*node
	calls    atomic.Int64 // SCAN calls so far, for the progress line
	matched  atomic.Int64 // keys found so far
	start    time.Time
}

// node is one master's part of the run.
type node struct {
	addr   string
	rdb    *redis.Client
	dbsize int64
	keys   int64     // found by SCAN
	pool   []string  // the reservoir of keys to examine (sampling)
	t      tally     // what the examined keys hold
	base   int64     // Redis's clock (ms) ...
	at     time.Time // ... at this local time
}

// tally is what the examined keys of one node hold.
type tally struct {
	examined   int64
	states     map[string]int64
	attrs      int64 // attribute fields in every examined key
	liveAttrs  int64 // ... in live and rotating sessions
	maxAttrs   int64
	memory     int64 // MEMORY USAGE, summed over memKeys keys
	memKeys    int64
	maxMemory  int64
	noTTL      int64 // keys without a TTL: Redis never reclaims them
	mismatched int64 // sessions whose counter differs from HLEN
	memErr     error // MEMORY USAGE refused (an ACL, say)
}

// findNodes lists the masters: each of a cluster, or the one server
// (the current master, for a Sentinel failover client).
func (s *scan) findNodes(ctx context.Context, cn *conn) error {
	switch rdb := cn.rdb.(type) {
	case *redis.ClusterClient:
		s.shape = "cluster"
		var mu sync.Mutex
		err := rdb.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			s.nodes = append(s.nodes, &node{addr: c.Options().Addr, rdb: c})
			return nil
		})
		if err != nil {
			return fmt.Errorf("listing the cluster's masters: %w", err)
		}
		if len(s.nodes) == 0 {
			return errors.New("the cluster reports no masters")
		}
		// ForEachMaster runs in no particular order; the report lists
		// the masters by address.
		slices.SortFunc(s.nodes, func(a, b *node) int { return strings.Compare(a.addr, b.addr) })
	case *redis.Client:
		addr := rdb.Options().Addr
		s.shape = "single node"
		if cn.cfg.Redis.ResolvedMode() == config.ModeSentinel {
			s.shape, addr = "sentinel", "master "+cn.cfg.Redis.MasterName
		}
		s.nodes = []*node{{addr: addr, rdb: rdb}}
	default:
		return fmt.Errorf("stats cannot scan a %T", cn.rdb)
	}
	return nil
}

// run scans every master at once, examines the sample, and sums up.
func (s *scan) run(ctx context.Context) (*statsResult, error) {
	s.start = time.Now()
	for _, n := range s.nodes {
		if err := n.prepare(ctx); err != nil {
			return nil, err
		}
	}
	stop := s.startProgress(ctx)
	err := s.each(func(n *node) error { return s.scanNode(ctx, n) })
	stop()
	if err != nil {
		return nil, err
	}
	if !s.sample.all {
		s.allocate()
		err = s.each(func(n *node) error {
			for i := 0; i < len(n.pool); i += examineBatch {
				if err := n.examine(ctx, n.pool[i:min(i+examineBatch, len(n.pool))]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return s.result(time.Since(s.start)), nil
}

// each runs f on every node concurrently and joins their errors.
func (s *scan) each(f func(*node) error) error {
	errs := make([]error, len(s.nodes))
	var wg sync.WaitGroup
	for i, n := range s.nodes {
		wg.Go(func() {
			if err := f(n); err != nil {
				errs[i] = fmt.Errorf("%s: %w", n.addr, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// prepare reads the node's clock, against which sessions are judged
// expired (as the library judges them, on Redis's clock), and its size
// for the progress line.
func (n *node) prepare(ctx context.Context) error {
	t0 := time.Now()
	tm, err := n.rdb.Time(ctx).Result()
	if err != nil {
		return fmt.Errorf("%s: TIME: %w", n.addr, err)
	}
	// The reply was made somewhere in the round trip; its middle is the
	// best guess, within half of it.
	n.base, n.at = tm.UnixMilli(), t0.Add(time.Since(t0)/2)
	if n.dbsize, err = n.rdb.DBSize(ctx).Result(); err != nil {
		return fmt.Errorf("%s: DBSIZE: %w", n.addr, err)
	}
	n.t.states = make(map[string]int64, len(states))
	return nil
}

// now is the node's Redis clock, estimated, in ms.
func (n *node) now() int64 { return n.base + time.Since(n.at).Milliseconds() }

// scanNode walks the node's keyspace with SCAN: examining each page as it
// comes with -sample all, keeping a reservoir otherwise.
func (s *scan) scanNode(ctx context.Context, n *node) error {
	var cursor uint64
	for {
		keys, next, err := n.rdb.Scan(ctx, cursor, s.pattern, s.count).Result()
		if err != nil {
			return fmt.Errorf("SCAN: %w", err)
		}
		s.calls.Add(1)
		s.matched.Add(int64(len(keys)))
		if s.sample.all {
			for i := 0; i < len(keys); i += examineBatch {
				if err := n.examine(ctx, keys[i:min(i+examineBatch, len(keys))]); err != nil {
					return err
				}
			}
			n.keys += int64(len(keys))
		} else {
			for _, k := range keys {
				n.keys++
				// Reservoir sampling (algorithm R): after n.keys keys,
				// each is in the pool with the same probability.
				if len(n.pool) < s.sample.n {
					n.pool = append(n.pool, k)
				} else if j := rand.Int64N(n.keys); j < int64(s.sample.n) {
					n.pool[j] = k
				}
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// allocate trims each node's reservoir to its share of the sample, in
// proportion to its keys, so the sample is uniform over all masters.
func (s *scan) allocate() {
	var total int64
	for _, n := range s.nodes {
		total += n.keys
	}
	for _, n := range s.nodes {
		if total == 0 {
			break
		}
		share := int(math.Round(float64(s.sample.n) * float64(n.keys) / float64(total)))
		share = max(share, min(1, len(n.pool)))
		if share < len(n.pool) {
			// The reservoir is a uniform set, but its order follows the
			// scan: shuffle before taking a part of it.
			rand.Shuffle(len(n.pool), func(i, j int) { n.pool[i], n.pool[j] = n.pool[j], n.pool[i] })
			n.pool = n.pool[:share]
		}
	}
}

// examine looks at keys in one pipeline and adds them to the node's
// tally.
func (n *node) examine(ctx context.Context, keys []string) error {
	type cmds struct {
		typ  *redis.StatusCmd
		hlen *redis.IntCmd
		own  *redis.SliceCmd // attrcache's own fields: marker, log, moved, counters
		ttl  *redis.DurationCmd
		mem  *redis.IntCmd
	}
	pipe := n.rdb.Pipeline()
	cs := make([]cmds, len(keys))
	for i, k := range keys {
		cs[i] = cmds{
			pipe.Type(ctx, k), pipe.HLen(ctx, k),
			pipe.HMGet(ctx, k, format.MarkerField, format.LogField, format.MovedField),
			pipe.PTTL(ctx, k), pipe.MemoryUsage(ctx, k),
		}
	}
	// Exec's error is the first command's that failed, which includes
	// HLEN's and HMGET's WRONGTYPE on other types: judge each below.
	_, _ = pipe.Exec(ctx)
	now := n.now()
	t := &n.t
	for _, c := range cs {
		typ, err := c.typ.Result()
		if err != nil {
			return fmt.Errorf("TYPE: %w", err)
		}
		if typ == "none" { // gone since SCAN found it
			t.examined++
			t.states["gone"]++
			continue
		}
		ttl, err := c.ttl.Result()
		if err != nil {
			return fmt.Errorf("PTTL: %w", err)
		}
		t.examined++
		if ttl == -1 {
			t.noTTL++
		}
		switch mem, err := c.mem.Result(); {
		case err == nil:
			t.memory += mem
			t.memKeys++
			t.maxMemory = max(t.maxMemory, mem)
		case errors.Is(err, redis.Nil):
		case t.memErr == nil:
			t.memErr = err
		}
		if typ != "hash" {
			t.states["corrupt"]++
			continue
		}
		fields, err := c.hlen.Result()
		if err != nil {
			return fmt.Errorf("HLEN: %w", err)
		}
		own, err := c.own.Result()
		if err != nil {
			return fmt.Errorf("HMGET: %w", err)
		}
		if len(own) != 3 {
			return fmt.Errorf("HMGET of 3 fields answered %d", len(own))
		}
		attrs := fields
		for _, v := range own {
			if v != nil {
				attrs--
			}
		}
		attrs = max(attrs, 0)
		raw, hasMarker := own[0].(string)
		t.attrs += attrs
		t.maxAttrs = max(t.maxAttrs, attrs)
		m, err := format.ParseMarker(raw)
		if !hasMarker || err != nil || !m.Session() {
			t.states["corrupt"]++
			continue
		}
		state := inspect.State(m, now)
		t.states[state]++
		if state == "live" || state == "rotating" {
			t.liveAttrs += attrs
		}
		if state != "ended" && m.Count != int64(attrs) {
			t.mismatched++
		}
	}
	return nil
}

// startProgress prints a line on stderr every s.progress while the scan
// runs; small databases finish before the first. It returns a function
// that stops it and waits, so that no goroutine outlives the run.
func (s *scan) startProgress(ctx context.Context) (stop func()) {
	if s.progress <= 0 {
		return func() {}
	}
	var dbsize int64
	for _, n := range s.nodes {
		dbsize += n.dbsize
	}
	done, quit := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(s.progress)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				// SCAN visits about COUNT keys a call, matching or not.
				pct := 0.0
				if dbsize > 0 {
					pct = min(99, 100*float64(s.calls.Load()*s.count)/float64(dbsize))
				}
				fmt.Fprintf(s.stderr, "attrcache: stats: %s keys matching %s so far, about %.0f%% of %s keys scanned (%s)\n",
					fmtCount(s.matched.Load()), s.pattern, pct, fmtCount(dbsize), time.Since(s.start).Round(time.Second))
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}
