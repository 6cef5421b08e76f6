// Command ratio reads `go test -bench` output of the attrcache benchmark
// suite (test/bench) and prints every target of the project with what
// the suite measured, its baseline, the ratio (or difference) that the
// target bounds, and PASS or MISS; then the figures that have no target.
//
// Usage:
//
//	go run ./test/bench/ratio [-md] [file ...]
//
// It reads standard input when no file is given. A benchmark line holds
// both sides of a comparison (attrcache's figures, and the baseline's
// with the prefix "base-"), measured side by side in one run, so each
// line gives one ratio. With several lines of a benchmark (-count, or
// several files) a row shows the median of the per-line ratios, and in
// brackets each line's in the order read (their range past four lines);
// the sides' figures are medians. The verdict
// is the median's, and says when some lines met the target and others
// did not. -md prints Markdown tables for test/bench/README.md.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Units the suite reports.
const (
	unitNs     = "ns/op"
	unitServer = "server-µs/op"
)

// how a row turns a line's figures into the figure its target bounds.
type how int

const (
	ratioOf   how = iota // ours / base, at most max
	atLeast              // ours / base, at least min (throughput)
	diffOf               // ours - base, at most max
	valueOf              // ours, at most max
	valueLess            // ours, below max (strictly)
)

// row is a row of a table: one figure of one benchmark against its
// target, with details from the same line.
type row struct {
	group, what string
	name        string // benchmark, without the -GOMAXPROCS suffix
	how         how
	ours, base  string  // units; base "" for valueOf
	limit       float64 // the target; 0: none
	stated      string  // how the target reads, when not the default
	details     []detail
}

// detail is a figure shown beside a row's.
type detail struct{ label, unit string }

// Details shared by rows.
var (
	latency     = []detail{{"median of turns", "turn-ratio"}, {"latency", unitNs}, {"baseline latency", "base-ns/op"}, {"p50", "p50-ns/op"}, {"baseline p50", "base-p50-ns/op"}}
	worst       = []detail{{"most in one call", "max-call-server-µs"}, {"longest command", "max-server-µs"}, {"in commands scripts called", "inner-µs/op"}, {"commands", "cmds/op"}, {"latency", unitNs}}
	memDetails  = []detail{{"per attribute", "extra-B/attr"}, {"overflow keys", "overflow-keys"}, {"hashtable-encoded", "hashtables"}, {"MEMORY USAGE", "keys-B/session"}, {"raw MEMORY USAGE", "raw-keys-B/session"}, {"raw without TTL", "raw-nottl-B/session"}, {"with client buffers", "used-B/session"}, {"raw with client buffers", "raw-used-B/session"}}
	satDetails  = []detail{{"server", unitServer}, {"baseline server", "base-server-µs/op"}, {"client CPU", "cli-us/op"}, {"baseline client CPU", "base-cli-us/op"}, {"server CPU", "srv-us/op"}, {"baseline server CPU", "base-srv-us/op"}}
	userDetails = []detail{{"median of turns", "turn-ratio"}, {"latency", unitNs}, {"unbound latency", "base-ns/op"}}
)

func serverPair(group, what, name string, limit float64) row {
	return row{group: group, what: what, name: name, how: ratioOf, ours: unitServer, base: "base-server-µs/op", limit: limit, details: latency}
}

func memRow(what, name string, limit float64) row {
	return row{group: "memory", what: what, name: name, how: diffOf, ours: "B/session", base: "raw-B/session", limit: limit,
		stated: fmt.Sprintf("<= raw + %.0f B", limit), details: memDetails}
}

func worstRow(what, name string) row {
	return row{group: "worst call", what: what, name: name, how: valueLess, ours: unitServer, limit: 5000, details: worst}
}

// targets are the project's targets.
var targets = []row{
	serverPair("server time", "Create vs floor", "BenchmarkWrite/Create", 1.5),
	serverPair("server time", "Set, quiet session, vs floor", "BenchmarkWrite/Set-quiet", 1.5),
	serverPair("server time", "Set, hot session, vs floor", "BenchmarkWrite/Set-hot", 1.5),
	serverPair("server time", "Update vs floor", "BenchmarkWrite/Update", 1.5),
	serverPair("server time", "Delete vs floor", "BenchmarkWrite/Delete", 1.5),
	serverPair("server time", "SetExpiry (plain) vs floor", "BenchmarkWrite/SetExpiry", 1.5),
	serverPair("server time", "Incr vs floor", "BenchmarkWrite/Incr", 1.5),
	serverPair("server time", "CreateMany(100) vs 100 pipelined HSETNX", "BenchmarkCreateMany", 1.3),
	serverPair("server time", "Get vs HGET, ContextTimeoutEnabled", "BenchmarkGet/ctxtimeout=true", 1.3),
	serverPair("server time", "Get vs HGET, no ContextTimeoutEnabled", "BenchmarkGet/ctxtimeout=false", 1.3),
	memRow("at rest, after one CreateMany", "BenchmarkMemory/at-rest", 10*10+64),
	memRow("20 writes in a minute, right after", "BenchmarkMemory/spread/after", 10*10+128),
	memRow("20 writes in a minute, 5 s later", "BenchmarkMemory/spread/5s-later", 10*10+128),
	memRow("20 writes in a second, right after", "BenchmarkMemory/burst/after", 10*10+128),
	memRow("20 writes in a second, 5 s later", "BenchmarkMemory/burst/5s-later", 10*10+128),
	{group: "allocations", what: "Get vs HGET, ContextTimeoutEnabled", name: "BenchmarkAllocs/ctxtimeout=true", how: diffOf, ours: "get-allocs/op", base: "hget-allocs/op", limit: 2},
	{group: "allocations", what: "Get vs HGET, no ContextTimeoutEnabled", name: "BenchmarkAllocs/ctxtimeout=false", how: diffOf, ours: "get-allocs/op", base: "hget-allocs/op", limit: 2},
	{group: "allocations", what: "Set vs HSET, ContextTimeoutEnabled", name: "BenchmarkAllocs/ctxtimeout=true", how: diffOf, ours: "set-allocs/op", base: "hset-allocs/op", limit: 3},
	{group: "allocations", what: "Set vs HSET, no ContextTimeoutEnabled", name: "BenchmarkAllocs/ctxtimeout=false", how: diffOf, ours: "set-allocs/op", base: "hset-allocs/op", limit: 3},
	{group: "saturation", what: "Get vs HGET, 64 goroutines", name: "BenchmarkSaturation/ctxtimeout=false/Get", how: atLeast, ours: "ops/s", base: "base-ops/s", limit: 0.95, details: satDetails},
	{group: "saturation", what: "  same, ContextTimeoutEnabled", name: "BenchmarkSaturation/ctxtimeout=true/Get", how: atLeast, ours: "ops/s", base: "base-ops/s", limit: 0.95, details: satDetails},
	{group: "saturation", what: "Set vs HSET, 64 goroutines", name: "BenchmarkSaturation/ctxtimeout=false/Set", how: atLeast, ours: "ops/s", base: "base-ops/s", limit: 0.75, details: satDetails},
	{group: "saturation", what: "  same, ContextTimeoutEnabled", name: "BenchmarkSaturation/ctxtimeout=true/Set", how: atLeast, ours: "ops/s", base: "base-ops/s", limit: 0.75, details: satDetails},
	{group: "hot session", what: "400 goroutines on one session: ErrUnavailable", name: "BenchmarkHotSession", how: valueLess, ours: "unavailable-%", limit: 1,
		details: []detail{{"server per write", unitServer}, {"writes", "writes/s"}, {"late", "late-%"}, {"deadline", "deadline-%"}}},
	worstRow("CreateMany of a full session", "BenchmarkWorstCall/CreateMany"),
	worstRow("SetMany replacing a full session", "BenchmarkWorstCall/SetMany"),
	worstRow("UpdateMany of a full sealed session", "BenchmarkWorstCall/UpdateMany-sealed"),
	worstRow("  same, records with their own expiry (RESEAL)", "BenchmarkWorstCall/UpdateMany-sealed-expiring"),
	worstRow("SetExpiryMany of a full sealed session", "BenchmarkWorstCall/SetExpiryMany-sealed"),
	worstRow("Rotate of a full session", "BenchmarkWorstCall/Rotate"),
	worstRow("Rotate of a full session bound to a user", "BenchmarkWorstCall/Rotate-bound"),
	worstRow("DeleteMany of a full session", "BenchmarkWorstCall/DeleteMany"),
	worstRow("a write with a reclaim step", "BenchmarkWorstCall/reclaim-step"),
	{group: "users", what: "Get, bound vs unbound session", name: "BenchmarkUsers/Get", how: ratioOf, ours: unitServer, base: "base-server-µs/op", limit: 1.05, details: userDetails},
	{group: "users", what: "Set, bound vs unbound session", name: "BenchmarkUsers/Set", how: ratioOf, ours: unitServer, base: "base-server-µs/op", limit: 1.05, details: userDetails},
	{group: "users", what: "Create, bound vs unbound session", name: "BenchmarkUsers/Create", how: ratioOf, ours: unitServer, base: "base-server-µs/op", limit: 1.05, details: userDetails},
	{group: "users", what: "Start WithUser vs unbound Start", name: "BenchmarkUsers/Start", how: ratioOf, ours: unitServer, base: "base-server-µs/op", limit: 1.5, details: userDetails},
	{group: "users", what: "Sessions of a user with 10 sessions", name: "BenchmarkUsers/Sessions", how: valueLess, ours: unitServer, limit: 1000, details: worst},
	{group: "users", what: "EndSessions of a user with 10 sessions", name: "BenchmarkUsers/EndSessions", how: valueLess, ours: unitServer, limit: 1000, details: worst},
	// rueidis (issue 21): attrcache on a rueidis client against raw
	// rueidis commands on the same client.
	{group: "rueidis", what: "Get vs HGET, 64 goroutines (throughput)", name: "BenchmarkRueidis/Saturation/Get", how: atLeast, ours: "ops/s", base: "base-ops/s", limit: 0.9, details: satDetails},
	{group: "rueidis", what: "Set vs HSET, 64 goroutines (throughput)", name: "BenchmarkRueidis/Saturation/Set", how: atLeast, ours: "ops/s", base: "base-ops/s", limit: 0.75, details: satDetails},
	{group: "rueidis", what: "Get vs HGET (latency)", name: "BenchmarkRueidis/Get", how: ratioOf, ours: unitNs, base: "base-ns/op", limit: 1.05,
		details: []detail{{"p50", "p50-ns/op"}, {"baseline p50", "base-p50-ns/op"}, {"server", unitServer}, {"baseline server", "base-server-µs/op"}}},
	{group: "rueidis", what: "near-cache Get hit, p50", name: "BenchmarkRueidis/NearCache", how: valueOf, ours: "p50-ns/op", limit: 500,
		details: []detail{{"mean", unitNs}, {"HGET p50", "base-p50-ns/op"}, {"commands", "cmds/op"}}},
	{group: "rueidis", what: "near-cache hit rate, Cluster of 3 masters vs one node", name: "BenchmarkRueidisHitRate", how: atLeast, ours: "hit-%", base: "base-hit-%", limit: 1,
		details: []detail{{"Cluster", "hit-%"}, {"one node", "base-hit-%"}}},
}

// figures have no target: what the targets' analysis draws on.
var figures = []row{
	floorStep("FCALL of a function that returns at once", "BenchmarkFloor/floor_return"),
	floorStep("EVALSHA of a script that returns at once", "BenchmarkFloor/evalsha_return"),
	floorStep("FCALL that calls TIME", "BenchmarkFloor/floor_time"),
	floorStep("FCALL that calls TIME, HMGET", "BenchmarkFloor/floor_time_hmget"),
	floorStep("the floor: TIME, HMGET, HSET", "BenchmarkFloor/floor"),
	{group: "latency", what: "Set, quiet session, vs floor", name: "BenchmarkWrite/Set-quiet", how: ratioOf, ours: unitNs, base: "base-ns/op"},
	{group: "latency", what: "Get vs HGET, ContextTimeoutEnabled", name: "BenchmarkGet/ctxtimeout=true", how: ratioOf, ours: unitNs, base: "base-ns/op", details: []detail{{"p50", "p50-ns/op"}, {"baseline p50", "base-p50-ns/op"}}},
	{group: "latency", what: "Get vs HGET, no ContextTimeoutEnabled", name: "BenchmarkGet/ctxtimeout=false", how: ratioOf, ours: unitNs, base: "base-ns/op", details: []detail{{"p50", "p50-ns/op"}, {"baseline p50", "base-p50-ns/op"}}},
	{group: "latency", what: "CreateMany(100) vs 100 pipelined HSETNX", name: "BenchmarkCreateMany", how: ratioOf, ours: unitNs, base: "base-ns/op"},
	{group: "memory", what: "20 writes in a minute, 10 s later", name: "BenchmarkMemory/spread/10s-later", how: diffOf, ours: "B/session", base: "raw-B/session", details: memDetails},
	{group: "memory", what: "20 writes in a second, 10 s later", name: "BenchmarkMemory/burst/10s-later", how: diffOf, ours: "B/session", base: "raw-B/session", details: memDetails},
	{group: "script mode", what: "Set by EVALSHA vs by FCALL (server time)", name: "BenchmarkScriptMode", how: ratioOf, ours: unitServer, base: "base-server-µs/op", details: latency},
	{group: "encryption", what: "sealed Create (Tink) vs in clear (server time)", name: "BenchmarkEncrypted/tink-aes256gcm", how: ratioOf, ours: unitServer, base: "base-server-µs/op", details: latency},
	{group: "encryption", what: "sealed Create (Tink) vs in clear (latency)", name: "BenchmarkEncrypted/tink-aes256gcm", how: ratioOf, ours: unitNs, base: "base-ns/op"},
	{group: "encryption", what: "sealed Create (keys.Envelope) vs in clear (latency)", name: "BenchmarkEncrypted/keys-envelope", how: ratioOf, ours: unitNs, base: "base-ns/op",
		details: []detail{{"server", unitServer}, {"in clear server", "base-server-µs/op"}}},
	{group: "near cache", what: "Get hit vs HGET round trip (latency)", name: "BenchmarkNearCache", how: ratioOf, ours: unitNs, base: "base-ns/op",
		details: []detail{{"p50", "p50-ns/op"}, {"HGET p50", "base-p50-ns/op"}, {"hit rate", "hit-%"}, {"server", unitServer}}},
	scsRow("10"), scsRow("100"), scsRow("1000"),
	{group: "rueidis", what: "Get vs HGET (server time)", name: "BenchmarkRueidis/Get", how: ratioOf, ours: unitServer, base: "base-server-µs/op", details: latency},
	{group: "rueidis", what: "near-cache Get hit vs HGET round trip (latency)", name: "BenchmarkRueidis/NearCache", how: ratioOf, ours: unitNs, base: "base-ns/op",
		details: []detail{{"p50", "p50-ns/op"}, {"HGET p50", "base-p50-ns/op"}, {"commands", "cmds/op"}}},
}

func floorStep(what, name string) row {
	return row{group: "floor", what: what + " vs HSET", name: name, how: ratioOf, ours: unitServer, base: "base-server-µs/op"}
}

func scsRow(n string) row {
	return row{group: "scs", what: "Set vs scs Load, Put, Commit, session of " + n + " (latency)", name: "BenchmarkSetVsScs/attrs=" + n,
		how: ratioOf, ours: unitNs, base: "base-ns/op", details: []detail{{"server", unitServer}, {"scs server", "base-server-µs/op"}}}
}

// results holds every line of every benchmark: its figures by unit.
type results struct {
	lines  map[string][]map[string]float64
	header []string // goos, goarch, cpu lines
}

var procSuffix = regexp.MustCompile(`-\d+$`)

// parse reads `go test -bench` output. Lines that are not benchmark
// results are ignored, except the header lines.
func parse(r io.Reader) (*results, error) {
	res := &results{lines: map[string][]map[string]float64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, h := range []string{"goos:", "goarch:", "cpu:"} {
			if strings.HasPrefix(line, h) && !slices.Contains(res.header, line) {
				res.header = append(res.header, line)
			}
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue
		}
		units := map[string]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%q: value %q: %v", f[0], f[i], err)
			}
			units[f[i+1]] = v
		}
		name := procSuffix.ReplaceAllString(f[0], "")
		res.lines[name] = append(res.lines[name], units)
	}
	return res, sc.Err()
}

// values returns a unit's figure on every line of a benchmark that has
// it.
func (r *results) values(name, unit string) []float64 {
	var out []float64
	for _, l := range r.lines[name] {
		if v, ok := l[unit]; ok {
			out = append(out, v)
		}
	}
	return out
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// measured is a row's figure on every line, and the sides' figures.
type measured struct {
	ours, base float64   // medians
	per        []float64 // the judged figure, line by line
}

func (r *results) measure(w row) measured {
	var m measured
	var ours, base []float64
	for _, l := range r.lines[w.name] {
		o, ok := l[w.ours]
		if !ok {
			continue
		}
		ours = append(ours, o)
		var b float64
		if w.base != "" {
			if b, ok = l[w.base]; !ok {
				continue
			}
			base = append(base, b)
		}
		switch w.how {
		case ratioOf, atLeast:
			if b != 0 {
				m.per = append(m.per, o/b)
			}
		case diffOf:
			m.per = append(m.per, o-b)
		default:
			m.per = append(m.per, o)
		}
	}
	m.ours, m.base = median(ours), median(base)
	return m
}

// verdict is "" without a target, "no data", "PASS" or "MISS".
func verdict(w row, v float64) string {
	switch {
	case w.limit == 0:
		return ""
	case math.IsNaN(v):
		return "no data"
	case w.how == atLeast && v >= w.limit,
		w.how == valueLess && v < w.limit,
		(w.how == ratioOf || w.how == diffOf || w.how == valueOf) && v <= w.limit:
		return "PASS"
	}
	return "MISS"
}

func main() {
	md := flag.Bool("md", false, "print Markdown tables")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: ratio [-md] [go-test-bench-output ...]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(os.Stdout, flag.Args(), *md); err != nil {
		fmt.Fprintln(os.Stderr, "ratio:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, files []string, md bool) error {
	var in io.Reader = os.Stdin
	if len(files) > 0 {
		var rs []io.Reader
		for _, name := range files {
			f, err := os.Open(name)
			if err != nil {
				return err
			}
			defer f.Close()
			rs = append(rs, f)
		}
		in = io.MultiReader(rs...)
	}
	res, err := parse(in)
	if err != nil {
		return err
	}
	if len(res.lines) == 0 {
		return fmt.Errorf("no benchmark results in the input")
	}
	report(w, res, md)
	return nil
}

func report(w io.Writer, res *results, md bool) {
	for _, h := range res.header {
		fmt.Fprintln(w, h)
	}
	var t, none tally
	head := []string{"", "what", "attrcache", "baseline", "measured (range)", "target", "result", "details"}
	tt := table{head: head}
	for _, row := range targets {
		tt.rows = append(tt.rows, res.cells(row, &t))
	}
	ft := table{head: head}
	for _, row := range figures {
		ft.rows = append(ft.rows, res.cells(row, &none))
	}
	fmt.Fprintln(w)
	tt.print(w, md)
	fmt.Fprintf(w, "\ntargets: %d PASS, %d MISS", t.pass, t.miss)
	if t.missing > 0 {
		fmt.Fprintf(w, ", %d without data", t.missing)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	ft.print(w, md)
}
