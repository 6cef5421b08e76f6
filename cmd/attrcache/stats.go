package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/config"
	"github.com/attrcache/attrcache/internal/cli"
)

// How stats works, and what it costs.
//
// It SCANs every master for <namespace>:s:* (never KEYS, which blocks
// Redis for the whole keyspace) and counts the keys: that count is exact
// within SCAN's own guarantee (a key present for the whole scan is seen;
// one added or removed during it may or may not be; a key may be seen
// twice while Redis resizes its table). One SCAN call of COUNT 1000 held
// Redis 7.0 for about 3 ms on a 2-core machine; 10M keys are 10,000
// calls, about 30 s of Redis time in 3 ms slices. Lower -count on a
// server whose latency matters more than the time stats takes.
//
// Each examined key costs one pipelined TYPE, HLEN, HGET of the marker,
// HEXISTS of the resend log, PTTL and MEMORY USAGE: six O(1) commands
// (MEMORY USAGE samples 5 fields of a large hash), about 5.5 µs of Redis
// time in all. Examining all of 10M keys would be 60M commands, about a
// minute of Redis time and several minutes of wall time, so by default a
// uniform sample of 10,000 keys (-sample) is examined: chosen by
// reservoir sampling during the scan, split between masters in
// proportion to their keys, and scaled up to the keys found. -sample all
// examines every key as the scan goes, in constant memory.
//
// Attributes are counted as HLEN minus attrcache's own fields (the marker
// and the resend log): what the hash stores, expired records not yet
// reclaimed and corrupt records included. That works for every key,
// whatever its marker says; the marker's counter is compared with it,
// and sessions where the two differ are reported.

// defaultSample is how many keys stats examines unless told otherwise.
const defaultSample = 10000

// examineBatch bounds the keys of one pipeline when examining a sample.
const examineBatch = 500

// states in the order stats reports them.
var states = []string{"live", "rotating", "expired", "ended", "corrupt", "gone"}

// sampleFlag is -sample: a number of keys, or "all".
type sampleFlag struct {
	n   int
	all bool
}

func (s *sampleFlag) String() string {
	if s.all {
		return "all"
	}
	return strconv.Itoa(s.n)
}

// Accepts says what -sample takes, for the error about a value it
// refused, which does not show the value.
func (s *sampleFlag) Accepts() string { return "a number of keys, at least 1, or all" }

func (s *sampleFlag) Set(v string) error {
	if v == "all" {
		s.all = true
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return errors.New("must be a number of keys (at least 1) or 'all'")
	}
	s.n, s.all = n, false
	return nil
}

// stats counts the namespace's session keys on every master and
// describes them from a sample, or from all of them with -sample all.
func (c *invocation) stats(ctx context.Context, args []string) error {
	fs := c.flags(false)
	asJSON := fs.Bool("json", false, "")
	sample := sampleFlag{n: defaultSample}
	fs.Var(&sample, "sample", "")
	count := fs.Int64("count", 1000, "")
	progress := fs.Duration("progress", 2*time.Second, "")
	pos, err := cli.ParseInterspersed(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return cli.Usagef("stats takes no arguments, %d given", len(pos))
	case *count < 1:
		return cli.Usagef("stats: -count must be at least 1")
	case *progress < 0:
		return cli.Usagef("stats: -progress must not be negative")
	}
	cn, err := c.connect(ctx, false)
	if err != nil {
		return err
	}
	defer cn.close()

	ns := cn.store.Namespace()
	sc := &scan{
		pattern:  globEscape(ns) + ":s:*",
		count:    *count,
		sample:   sample,
		progress: *progress,
		stderr:   c.stderr,
	}
	if err := sc.findNodes(ctx, cn); err != nil {
		return err
	}
	res, err := sc.run(ctx)
	if err != nil {
		return err
	}
	res.namespace = ns
	if *asJSON {
		return res.writeJSON(c.stdout)
	}
	return res.writeTable(c.stdout)
}

// globEscape escapes the characters SCAN's MATCH treats as pattern: a
// namespace may hold any printable character but braces.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

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
		typ    *redis.StatusCmd
		hlen   *redis.IntCmd
		marker *redis.StringCmd
		log    *redis.BoolCmd
		ttl    *redis.DurationCmd
		mem    *redis.IntCmd
	}
	pipe := n.rdb.Pipeline()
	cs := make([]cmds, len(keys))
	for i, k := range keys {
		cs[i] = cmds{
			pipe.Type(ctx, k), pipe.HLen(ctx, k), pipe.HGet(ctx, k, attrcache.MarkerField),
			pipe.HExists(ctx, k, attrcache.LogField), pipe.PTTL(ctx, k), pipe.MemoryUsage(ctx, k),
		}
	}
	// Exec's error is the first command's that failed, which includes
	// HGET's "nil" and HLEN's WRONGTYPE on other types: judge each below.
	_, _ = pipe.Exec(ctx)
	now := time.UnixMilli(n.now())
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
		hasLog, err := c.log.Result()
		if err != nil {
			return fmt.Errorf("HEXISTS: %w", err)
		}
		raw, err := c.marker.Result()
		hasMarker := err == nil
		if err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("HGET: %w", err)
		}
		attrs := fields
		if hasMarker {
			attrs--
		}
		if hasLog {
			attrs--
		}
		attrs = max(attrs, 0)
		t.attrs += attrs
		t.maxAttrs = max(t.maxAttrs, attrs)
		m, err := attrcache.ParseMarker(raw)
		if !hasMarker || err != nil {
			t.states["corrupt"]++
			continue
		}
		state := m.StateAt(now)
		t.states[state]++
		if state == "live" || state == "rotating" {
			t.liveAttrs += attrs
		}
		if !m.Legacy && state != "ended" && m.Counted != attrs {
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

// statsResult is what stats reports. Figures scaled up from a sample are
// estimates; exact says whether every key was examined.
type statsResult struct {
	namespace string
	pattern   string // SCAN's MATCH
	shape     string // single node, sentinel or cluster
	nodes     []nodeResult
	keys      int64 // found by SCAN
	examined  int64
	exact     bool // every key was examined
	states    map[string]float64
	attrs     float64 // stored attribute fields
	liveAttrs float64 // ... in live and rotating sessions
	avgLive   float64 // attributes per live session
	maxAttrs  int64
	memory    float64 // bytes; not measured when memoryErr is set
	avgMemory float64 // bytes per key
	maxMemory int64
	memoryErr error
	noTTL     float64
	mismatch  float64 // sessions whose counter differs from HLEN
	duration  time.Duration
}

// nodeResult is one master's part: its address, the keys SCAN found on
// it, and how many of them were examined.
type nodeResult struct {
	Addr     string `json:"addr"`
	Keys     int64  `json:"keys"`
	Examined int64  `json:"examined"`
}

// result sums up the nodes, each scaled from its examined keys to its
// keys (by a factor of 1 when all were examined).
func (s *scan) result(d time.Duration) *statsResult {
	r := &statsResult{pattern: s.pattern, shape: s.shape, exact: true, states: map[string]float64{}, duration: d}
	var live, memKeys, memSum int64
	var liveAttrs int64
	for _, n := range s.nodes {
		t := &n.t
		r.nodes = append(r.nodes, nodeResult{Addr: n.addr, Keys: n.keys, Examined: t.examined})
		r.keys += n.keys
		r.examined += t.examined
		if t.examined < n.keys {
			r.exact = false
		}
		if t.examined == 0 {
			continue
		}
		f := float64(n.keys) / float64(t.examined)
		for _, st := range states {
			r.states[st] += f * float64(t.states[st])
		}
		r.attrs += f * float64(t.attrs)
		r.liveAttrs += f * float64(t.liveAttrs)
		r.noTTL += f * float64(t.noTTL)
		r.mismatch += f * float64(t.mismatched)
		r.maxAttrs = max(r.maxAttrs, t.maxAttrs)
		r.maxMemory = max(r.maxMemory, t.maxMemory)
		live += t.states["live"] + t.states["rotating"]
		liveAttrs += t.liveAttrs
		if t.memKeys > 0 {
			// The mean over the keys measured, times the keys this
			// node is estimated to hold still.
			r.memory += float64(t.memory) / float64(t.memKeys) * f * float64(t.examined-t.states["gone"])
			memKeys += t.memKeys
			memSum += t.memory
		}
		if t.memErr != nil && r.memoryErr == nil {
			r.memoryErr = fmt.Errorf("%s: MEMORY USAGE: %w", n.addr, t.memErr)
		}
	}
	if live > 0 {
		r.avgLive = float64(liveAttrs) / float64(live)
	}
	if memKeys > 0 {
		r.avgMemory = float64(memSum) / float64(memKeys)
	}
	return r
}

// est shows a figure: as it is when exact, rounded and marked "~" when
// scaled up from a sample.
func (r *statsResult) est(v float64) string {
	if r.exact {
		return fmtCount(int64(math.Round(v)))
	}
	return "~" + fmtCount(int64(math.Round(v)))
}

// stateNotes say what each state means for an operator.
var stateNotes = map[string]string{
	"live":     "",
	"rotating": "being moved to a new id (Rotate)",
	"expired":  "past their deadline; Redis drops the key within 30 s",
	"ended":    "tombstones of ended sessions; Redis drops them within 30 s",
	"corrupt":  "keys attrcache cannot read: 'attrcache inspect' names the problem, 'purge' clears them",
	"gone":     "deleted or expired while stats ran",
}

// writeTable writes the report for people; estimates are marked "~".
func (r *statsResult) writeTable(w io.Writer) error {
	tw := newTable(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("namespace", r.namespace+" (SCAN MATCH "+r.pattern+")")
	switch {
	case r.shape == "cluster":
		row("redis", fmt.Sprintf("cluster, %d masters", len(r.nodes)))
		for _, n := range r.nodes {
			row("  "+n.Addr, fmt.Sprintf("%s keys, %s examined", fmtCount(n.Keys), fmtCount(n.Examined)))
		}
	default:
		row("redis", r.shape+" "+r.nodes[0].Addr)
	}
	row("scanned", fmt.Sprintf("%s keys in %s", fmtCount(r.keys), r.duration.Round(time.Millisecond)))
	if r.exact {
		row("examined", fmt.Sprintf("all %s keys: the figures are exact", fmtCount(r.examined)))
	} else {
		row("examined", fmt.Sprintf("%s of %s keys, a uniform sample: figures marked ~ are estimates", fmtCount(r.examined), fmtCount(r.keys)))
	}
	row("sessions", fmtCount(r.keys)+" keys")
	for _, st := range states {
		v := r.est(r.states[st])
		if note := stateNotes[st]; note != "" {
			v += "\t" + note
		}
		row("  "+st, v)
	}
	row("attributes", r.est(r.attrs)+" stored (HLEN minus attrcache's marker and resend log: expired and corrupt records count until reclaimed)")
	row("  in live sessions", fmt.Sprintf("%s (%.1f per live session; at most %s in one key examined)", r.est(r.liveAttrs), r.avgLive, fmtCount(r.maxAttrs)))
	if r.memoryErr != nil {
		row("memory", "not measured: "+cli.OneLine(r.memoryErr.Error()))
	} else {
		mark := ""
		if !r.exact {
			mark = "~"
		}
		row("memory", fmt.Sprintf("%s%s (MEMORY USAGE: %s B per key on average, %s B at most)",
			mark, fmtBytes(r.memory), fmtCount(int64(math.Round(r.avgMemory))), fmtCount(r.maxMemory)))
	}
	var problems []string
	if r.noTTL > 0 {
		problems = append(problems, r.est(r.noTTL)+" keys without a TTL (Redis never reclaims them; attrcache always sets one)")
	}
	if r.mismatch > 0 {
		problems = append(problems, r.est(r.mismatch)+" sessions whose attribute counter differs from HLEN (something other than attrcache wrote to them)")
	}
	if c := r.states["corrupt"]; c > 0 {
		problems = append(problems, r.est(c)+" corrupt keys")
	}
	if len(problems) == 0 {
		problems = []string{"none found"}
	}
	for i, p := range problems {
		k := ""
		if i == 0 {
			k = "problems"
		}
		row(k, p)
	}
	return tw.Flush()
}

// statsJSON is stats -json's output. Counts scaled up from a sample
// (exact false) are rounded estimates.
type statsJSON struct {
	Namespace      string           `json:"namespace"`
	Pattern        string           `json:"pattern"`
	Redis          string           `json:"redis"`
	Masters        []nodeResult     `json:"masters"`
	Keys           int64            `json:"keys"`
	Examined       int64            `json:"examined"`
	Exact          bool             `json:"exact"`
	States         map[string]int64 `json:"states"`
	Attributes     int64            `json:"attributes"`
	LiveAttributes int64            `json:"live_attributes"`
	PerLive        float64          `json:"attributes_per_live_session"`
	MaxAttributes  int64            `json:"max_attributes"`
	// MemoryBytes is left out when MEMORY USAGE was refused
	// (MemoryError says why).
	MemoryBytes     *int64  `json:"memory_bytes,omitempty"`
	MemoryPerKey    float64 `json:"memory_per_key"`
	MaxMemory       int64   `json:"max_memory"`
	MemoryError     string  `json:"memory_error,omitempty"`
	NoTTL           int64   `json:"keys_without_ttl"`
	CounterMismatch int64   `json:"counter_mismatch"`
	Seconds         float64 `json:"seconds"`
}

func (r *statsResult) writeJSON(w io.Writer) error {
	round := func(v float64) int64 { return int64(math.Round(v)) }
	out := statsJSON{
		Namespace: r.namespace, Pattern: r.pattern, Redis: r.shape, Masters: r.nodes,
		Keys: r.keys, Examined: r.examined, Exact: r.exact, States: map[string]int64{},
		Attributes: round(r.attrs), LiveAttributes: round(r.liveAttrs), PerLive: math.Round(r.avgLive*100) / 100,
		MaxAttributes: r.maxAttrs, MemoryPerKey: math.Round(r.avgMemory), MaxMemory: r.maxMemory,
		NoTTL: round(r.noTTL), CounterMismatch: round(r.mismatch), Seconds: r.duration.Seconds(),
	}
	for _, st := range states {
		out.States[st] = round(r.states[st])
	}
	if r.memoryErr != nil {
		out.MemoryError = cli.OneLine(r.memoryErr.Error())
	} else {
		m := round(r.memory)
		out.MemoryBytes = &m
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// fmtCount writes n with thousands separators, for reading large counts.
func fmtCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return "-" + fmtCount(-n)
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// fmtBytes shows a byte count in binary units.
func fmtBytes(v float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", v)
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}
