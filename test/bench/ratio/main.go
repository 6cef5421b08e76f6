// Command ratio reads `go test -bench` output of the attrcache benchmark
// suite (test/bench) and prints, for every pair, the attrcache figure, its
// baseline, their ratio and the project's target with PASS or MISS.
//
// Usage:
//
//	go run ./test/bench/ratio [-md] [file ...]
//
// It reads standard input when no file is given. With -count > 1 each
// benchmark has several samples; a pair's ratio is the median of the
// per-run ratios (the k-th sample of attrcache over the k-th of its
// baseline, which ran beside it on the same server), with their range,
// and the figures shown are medians. -md prints Markdown tables for
// test/bench/README.md.
package main

import (
	"bufio"
	"cmp"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// kind says how a check is computed.
type kind int

const (
	ratioKind kind = iota // ours/base of unit
	valueKind             // ours's unit alone
)

// check is one row of the report.
type check struct {
	what       string
	ours, base string // benchmark names, without the -GOMAXPROCS suffix
	unit       string
	kind       kind
	max        float64 // 0: no target
	stated     string  // the target as the project states it
	// Value checks show oursUnit of ours and baseUnit of base (of ours
	// when base is empty) in the attrcache and baseline columns.
	oursUnit, baseUnit string
}

// checks are the rows, in report order. Latency ratios are attrcache over
// baseline, so a throughput target of "at least x times" is a latency
// ratio of at most 1/x.
var checks = []check{
	{what: "Create vs HSETNX", ours: "BenchmarkCreate/attrcache", base: "BenchmarkCreate/raw-HSETNX", max: 1.2, stated: "latency <= 1.2x"},
	{what: "Get vs HGET", ours: "BenchmarkGet/attrcache", base: "BenchmarkGet/raw-HGET", max: 1.15, stated: "latency <= 1.15x"},
	{what: "Exists vs HEXISTS", ours: "BenchmarkExists/attrcache", base: "BenchmarkExists/raw-HEXISTS"},
	{what: "CreateMany(10) vs 10 pipelined HSETNX", ours: "BenchmarkCreateMany/n=10/attrcache", base: "BenchmarkCreateMany/n=10/raw-pipelined-HSETNX"},
	{what: "CreateMany(10) vs one 10-field HSET", ours: "BenchmarkCreateMany/n=10/attrcache", base: "BenchmarkCreateMany/n=10/raw-HSET"},
	{what: "CreateMany(100) vs 100 pipelined HSETNX", ours: "BenchmarkCreateMany/n=100/attrcache", base: "BenchmarkCreateMany/n=100/raw-pipelined-HSETNX", max: 1.0, stated: "throughput >= 1.0x"},
	{what: "CreateMany(100) vs one 100-field HSET", ours: "BenchmarkCreateMany/n=100/attrcache", base: "BenchmarkCreateMany/n=100/raw-HSET", max: 1 / 0.6, stated: "throughput >= 0.6x"},
	{what: "GetMany(10) vs 10 pipelined HGET", ours: "BenchmarkGetMany/n=10/attrcache", base: "BenchmarkGetMany/n=10/raw-pipelined-HGET"},
	{what: "GetMany(10) vs one HMGET", ours: "BenchmarkGetMany/n=10/attrcache", base: "BenchmarkGetMany/n=10/raw-HMGET"},
	{what: "GetMany(100) vs 100 pipelined HGET", ours: "BenchmarkGetMany/n=100/attrcache", base: "BenchmarkGetMany/n=100/raw-pipelined-HGET"},
	{what: "GetMany(100) vs one HMGET", ours: "BenchmarkGetMany/n=100/attrcache", base: "BenchmarkGetMany/n=100/raw-HMGET"},
	{what: "SetMany(10) vs 10 pipelined HSET", ours: "BenchmarkSetMany/n=10/attrcache", base: "BenchmarkSetMany/n=10/raw-pipelined-HSET"},
	{what: "SetMany(10) vs one 10-field HSET", ours: "BenchmarkSetMany/n=10/attrcache", base: "BenchmarkSetMany/n=10/raw-HSET"},
	{what: "SetMany(100) vs 100 pipelined HSET", ours: "BenchmarkSetMany/n=100/attrcache", base: "BenchmarkSetMany/n=100/raw-pipelined-HSET"},
	{what: "SetMany(100) vs one 100-field HSET", ours: "BenchmarkSetMany/n=100/attrcache", base: "BenchmarkSetMany/n=100/raw-HSET"},
	{what: "Set in session of 10 vs scs", ours: "BenchmarkSetVsScs/attrs=10/attrcache", base: "BenchmarkSetVsScs/attrs=10/scs"},
	{what: "Set in session of 100 vs scs", ours: "BenchmarkSetVsScs/attrs=100/attrcache", base: "BenchmarkSetVsScs/attrs=100/scs", max: 0.1, stated: ">= 10x faster"},
	{what: "Set in session of 1,000 vs scs", ours: "BenchmarkSetVsScs/attrs=1000/attrcache", base: "BenchmarkSetVsScs/attrs=1000/scs"},
	{what: "Create, 1,000 attrs vs 1 in session", ours: "BenchmarkCreateSessionSize/attrs=1000", base: "BenchmarkCreateSessionSize/attrs=1", max: 1.1, stated: "<= 1.1x"},
	{what: "Parallel Get vs HGET", ours: "BenchmarkParallelGet/attrcache", base: "BenchmarkParallelGet/raw-HGET"},
	{what: "Parallel Set vs HSET", ours: "BenchmarkParallelSet/attrcache", base: "BenchmarkParallelSet/raw-HSET"},
	{what: "Redis memory per attr beyond raw hash", ours: "BenchmarkMemory/values=32B", unit: "extra-B/attr", kind: valueKind, max: 24, stated: "<= 24 B", oursUnit: "B/attr", baseUnit: "raw-B/attr"},
	{what: "Redis memory per attr beyond raw hash, encrypted", ours: "BenchmarkMemory/values=32B-encrypted", unit: "extra-B/attr", kind: valueKind, oursUnit: "B/attr", baseUnit: "raw-B/attr"},
	{what: "  same, hash-max-listpack-value 128", ours: "BenchmarkMemory/values=32B-encrypted-listpack128", unit: "extra-B/attr", kind: valueKind, oursUnit: "B/attr", baseUnit: "raw-B/attr"},
	{what: "Encrypted Create (Tink AES-GCM) vs plaintext", ours: "BenchmarkEncrypted/Create/tink-aes256gcm", base: "BenchmarkEncrypted/Create/plaintext", max: 1.15, stated: "<= 1.15x"},
	{what: "Encrypted Create (keys.Envelope) vs plaintext", ours: "BenchmarkEncrypted/Create/keys-envelope", base: "BenchmarkEncrypted/Create/plaintext", max: 1.15, stated: "<= 1.15x"},
	{what: "Encrypted CreateMany(100) (Tink) vs plaintext", ours: "BenchmarkEncrypted/CreateMany-100/tink-aes256gcm", base: "BenchmarkEncrypted/CreateMany-100/plaintext", max: 1.5, stated: "<= 1.5x"},
	{what: "Encrypted CreateMany(100) (Envelope) vs plaintext", ours: "BenchmarkEncrypted/CreateMany-100/keys-envelope", base: "BenchmarkEncrypted/CreateMany-100/plaintext", max: 1.5, stated: "<= 1.5x"},
	{what: "Stored bytes per value beyond plaintext (Tink)", ours: "BenchmarkEncrypted/Create/tink-aes256gcm", base: "BenchmarkEncrypted/Create/plaintext", unit: "extra-B/value", kind: valueKind, max: 48, stated: "<= 48 B", oursUnit: "stored-B/value", baseUnit: "stored-B/value"},
	{what: "Stored bytes per value beyond plaintext (Envelope)", ours: "BenchmarkEncrypted/Create/keys-envelope", base: "BenchmarkEncrypted/Create/plaintext", unit: "extra-B/value", kind: valueKind, max: 48, stated: "<= 48 B", oursUnit: "stored-B/value", baseUnit: "stored-B/value"},
}

// results holds every sample of every benchmark, by name and unit, in
// the order they were printed.
type results struct {
	samples map[string]map[string][]float64
	header  []string // goos, goarch, pkg, cpu lines
}

var procSuffix = regexp.MustCompile(`-\d+$`)

// parse reads `go test -bench` output. Lines that are not benchmark
// results are ignored, except the header lines.
func parse(r io.Reader) (*results, error) {
	res := &results{samples: map[string]map[string][]float64{}}
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
		name := procSuffix.ReplaceAllString(f[0], "")
		units := res.samples[name]
		if units == nil {
			units = map[string][]float64{}
			res.samples[name] = units
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%q: value %q: %v", f[0], f[i], err)
			}
			units[f[i+1]] = append(units[f[i+1]], v)
		}
	}
	return res, sc.Err()
}

func (r *results) get(name, unit string) []float64 { return r.samples[name][unit] }

// shown is the median of a figure shown beside a value check, or NaN.
func (r *results) shown(name, unit string) float64 {
	xs := r.get(name, unit)
	if unit == "" || len(xs) == 0 {
		return math.NaN()
	}
	return median(xs)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// row is a computed check.
type row struct {
	check
	ours, base       float64 // medians
	ratio, low, high float64 // value checks: ratio is the value
	ok               bool    // the figures exist
	p50              float64 // ratio of median per-op latencies, NaN if unknown
	cpu              float64 // ratio of client+server CPU per op, NaN if unknown
}

func (r *results) compute(c check) row {
	if c.unit == "" {
		c.unit = "ns/op"
	}
	out := row{check: c, p50: math.NaN(), cpu: math.NaN()}
	ours := r.get(c.ours, c.unit)
	if len(ours) == 0 {
		return out
	}
	out.ours = median(ours)
	if c.kind == valueKind {
		out.ratio, out.low, out.high, out.ok = out.ours, slices.Min(ours), slices.Max(ours), true
		out.ours, out.base = r.shown(c.ours, c.oursUnit), r.shown(cmp.Or(c.base, c.ours), c.baseUnit)
		return out
	}
	base := r.get(c.base, c.unit)
	if len(base) == 0 {
		return out
	}
	out.base = median(base)
	out.ratio, out.low, out.high = pairRatio(ours, base)
	out.ok = true
	if c.unit == "ns/op" {
		out.cpu, _, _ = pairRatio(r.cpu(c.ours), r.cpu(c.base))
		out.p50, _, _ = pairRatio(r.get(c.ours, "p50-ns/op"), r.get(c.base, "p50-ns/op"))
	}
	return out
}

// pairRatio returns the median, lowest and highest of the per-run ratios
// ours[k]/base[k] when the samples pair up (the k-th samples ran side by
// side), otherwise the ratio of the medians; NaN without data.
func pairRatio(ours, base []float64) (med, low, high float64) {
	if len(ours) == 0 || len(base) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	if len(ours) != len(base) {
		r := median(ours) / median(base)
		return r, r, r
	}
	rs := make([]float64, len(ours))
	for i := range ours {
		rs[i] = ours[i] / base[i]
	}
	return median(rs), slices.Min(rs), slices.Max(rs)
}

// cpu returns the client+server CPU per op of every sample of name.
func (r *results) cpu(name string) []float64 {
	cli, srv := r.get(name, "cli-us/op"), r.get(name, "srv-us/op")
	if len(cli) == 0 || len(cli) != len(srv) {
		return nil
	}
	out := make([]float64, len(cli))
	for i := range cli {
		out[i] = cli[i] + srv[i]
	}
	return out
}

func (w row) verdict() string {
	switch {
	case !w.ok:
		return "no data"
	case w.max == 0:
		return ""
	case w.ratio <= w.max:
		return "PASS"
	}
	return "MISS"
}

func (w row) figure(v float64) string {
	switch {
	case math.IsNaN(v):
		return ""
	case w.unit == "ns/op":
		return fmtNs(v)
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " B"
}

func fmtNs(ns float64) string {
	switch {
	case ns >= 1e6:
		return strconv.FormatFloat(ns/1e6, 'f', 2, 64) + "ms"
	case ns >= 1e3:
		return strconv.FormatFloat(ns/1e3, 'f', 1, 64) + "µs"
	}
	return strconv.FormatFloat(ns, 'f', 0, 64) + "ns"
}

func (w row) cells() []string {
	if !w.ok {
		return []string{w.what, "-", "-", "-", w.target(), w.verdict(), "", ""}
	}
	if w.kind == valueKind {
		return []string{w.what, w.figure(w.ours), w.figure(w.base), w.figure(w.ratio) + spread(w, 1), w.target(), w.verdict(), "", ""}
	}
	return []string{w.what, w.figure(w.ours), w.figure(w.base), strconv.FormatFloat(w.ratio, 'f', 2, 64) + "x" + spread(w, 2), w.target(), w.verdict(), times(w.p50), times(w.cpu)}
}

func times(r float64) string {
	if math.IsNaN(r) {
		return ""
	}
	return strconv.FormatFloat(r, 'f', 2, 64) + "x"
}

func spread(w row, prec int) string {
	if w.low == w.high {
		return ""
	}
	return " (" + strconv.FormatFloat(w.low, 'f', prec, 64) + "–" + strconv.FormatFloat(w.high, 'f', prec, 64) + ")"
}

func (w row) target() string {
	if w.max == 0 {
		return ""
	}
	if w.kind == valueKind {
		return "<= " + strconv.FormatFloat(w.max, 'f', 0, 64) + " B"
	}
	t := "<= " + strconv.FormatFloat(w.max, 'f', 2, 64) + "x"
	if strings.Contains(w.stated, "throughput") || strings.Contains(w.stated, "faster") {
		t += " (" + w.stated + ")"
	}
	return t
}

// allocCells are the allocation and CPU figures of a latency check's pair.
func (r *results) allocCells(c check) []string {
	if c.kind != ratioKind {
		return nil
	}
	f := func(name, unit string) string {
		xs := r.get(name, unit)
		if len(xs) == 0 {
			return "-"
		}
		return strconv.FormatFloat(median(xs), 'f', 0, 64)
	}
	g := func(name, unit string) string {
		xs := r.get(name, unit)
		if len(xs) == 0 {
			return "-"
		}
		return strconv.FormatFloat(median(xs), 'f', 1, 64)
	}
	return []string{c.what, f(c.ours, "allocs/op"), f(c.base, "allocs/op"), f(c.ours, "B/op"), f(c.base, "B/op"),
		g(c.ours, "cli-us/op"), g(c.ours, "srv-us/op"), g(c.base, "cli-us/op"), g(c.base, "srv-us/op")}
}

type table struct {
	head []string
	rows [][]string
}

func (t table) print(w io.Writer, md bool) {
	if md {
		fmt.Fprintln(w, "| "+strings.Join(t.head, " | ")+" |")
		fmt.Fprintln(w, strings.Repeat("|---", len(t.head))+"|")
		for _, r := range t.rows {
			fmt.Fprintln(w, "| "+strings.Join(r, " | ")+" |")
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.head, "\t"))
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
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
	if len(res.samples) == 0 {
		return fmt.Errorf("no benchmark results in the input")
	}
	report(w, res, md)
	return nil
}

func report(w io.Writer, res *results, md bool) {
	for _, h := range res.header {
		fmt.Fprintln(w, h)
	}
	ratios := table{head: []string{"pair", "attrcache", "baseline", "ratio or value (range)", "target", "result", "p50 ratio", "CPU ratio"}}
	allocs := table{head: []string{"pair", "attrcache allocs/op", "baseline allocs/op", "attrcache B/op", "baseline B/op",
		"attrcache client CPU µs/op", "attrcache server CPU µs/op", "baseline client CPU µs/op", "baseline server CPU µs/op"}}
	var pass, miss, missing int
	for _, c := range checks {
		r := res.compute(c)
		ratios.rows = append(ratios.rows, r.cells())
		switch r.verdict() {
		case "PASS":
			pass++
		case "MISS":
			miss++
		case "no data":
			missing++
		}
		if a := res.allocCells(c); a != nil {
			allocs.rows = append(allocs.rows, a)
		}
	}
	fmt.Fprintln(w)
	ratios.print(w, md)
	fmt.Fprintf(w, "\ntargets: %d PASS, %d MISS", pass, miss)
	if missing > 0 {
		fmt.Fprintf(w, ", %d rows without data", missing)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	allocs.print(w, md)
}
