// Command ratio reads `go test -bench` output of the attrcache benchmark
// suite (test/bench) and prints, for every pair, the attrcache figure, its
// baseline, their ratio of latency and of Redis execution time, and the
// project's targets with PASS or MISS; then the single figures (near
// cache, worst calls, memory) against theirs.
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

// Units the suite reports.
const (
	unitNs     = "ns/op"
	unitP50    = "p50-ns/op"
	unitP99    = "p99-ns/op"
	unitServer = "server-µs/op"
	unitMax    = "max-server-µs"
)

// pair is a row of the pairs table: attrcache (ours) beside a baseline
// that ran on the same server. Latency is ns/op unless unit says
// otherwise; the server ratio is of server-µs/op.
type pair struct {
	what       string
	ours, base string // benchmark names, without the -GOMAXPROCS suffix
	unit       string // the latency figure compared; default ns/op
	max        float64
	stated     string  // the latency target as the project states it
	srvMax     float64 // target of the server-time ratio; 0: none
}

// latency ratios are attrcache over baseline, so a throughput target of
// "at least x times" is a latency ratio of at most 1/x.
var pairs = []pair{
	{what: "Get vs HGET", ours: "BenchmarkGet/attrcache", base: "BenchmarkGet/raw-HGET", max: 1.05, srvMax: 2},
	{what: "Exists vs HEXISTS", ours: "BenchmarkExists/attrcache", base: "BenchmarkExists/raw-HEXISTS"},
	{what: "GetMany(10) vs one HMGET", ours: "BenchmarkGetMany/n=10/attrcache", base: "BenchmarkGetMany/n=10/raw-HMGET"},
	{what: "GetMany(10) vs 10 pipelined HGET", ours: "BenchmarkGetMany/n=10/attrcache", base: "BenchmarkGetMany/n=10/raw-pipelined-HGET"},
	{what: "GetMany(100) vs one HMGET", ours: "BenchmarkGetMany/n=100/attrcache", base: "BenchmarkGetMany/n=100/raw-HMGET", max: 1.1},
	{what: "GetMany(100) vs 100 pipelined HGET", ours: "BenchmarkGetMany/n=100/attrcache", base: "BenchmarkGetMany/n=100/raw-pipelined-HGET"},
	{what: "GetAll(10) vs HGETALL", ours: "BenchmarkGetAll/n=10/attrcache", base: "BenchmarkGetAll/n=10/raw-HGETALL"},
	{what: "GetAll(100) vs HGETALL", ours: "BenchmarkGetAll/n=100/attrcache", base: "BenchmarkGetAll/n=100/raw-HGETALL"},
	{what: "Get at saturation (64 goroutines) vs HGET", ours: "BenchmarkParallelGet/attrcache", base: "BenchmarkParallelGet/raw-HGET", max: 1 / 0.97, stated: "throughput >= 0.97x"},
	{what: "Near-cache Get hit vs HGET round trip", ours: "BenchmarkNearCache/Get-hit", base: "BenchmarkNearCache/raw-HGET", max: 0.05, stated: ">= 20x faster"},
	{what: "Near-cache Get hit vs go-redis cached HGET", ours: "BenchmarkNearCache/Get-hit", base: "BenchmarkNearCache/raw-HGET-hit"},
	{what: "Create vs HSETNX", ours: "BenchmarkCreate/attrcache", base: "BenchmarkCreate/raw-HSETNX", max: 1.15, srvMax: 3},
	{what: "Set vs HSET", ours: "BenchmarkSet/attrcache", base: "BenchmarkSet/raw-HSET", srvMax: 4},
	{what: "Set vs HSET, session written now and then", ours: "BenchmarkScriptFloor/attrcache-Set", base: "BenchmarkScriptFloor/raw-HSET", srvMax: 4},
	{what: "FCALL of TIME, HMGET, HSET only vs HSET", ours: "BenchmarkScriptFloor/floor_time_hmget_hset", base: "BenchmarkScriptFloor/raw-HSET"},
	{what: "Set vs FCALL of TIME, HMGET, HSET only", ours: "BenchmarkScriptFloor/attrcache-Set", base: "BenchmarkScriptFloor/floor_time_hmget_hset"},
	{what: "CreateMany(10) vs 10 pipelined HSETNX", ours: "BenchmarkCreateMany/n=10/attrcache", base: "BenchmarkCreateMany/n=10/raw-pipelined-HSETNX"},
	{what: "CreateMany(10) vs one 10-field HSET", ours: "BenchmarkCreateMany/n=10/attrcache", base: "BenchmarkCreateMany/n=10/raw-HSET"},
	{what: "CreateMany(100) vs 100 pipelined HSETNX", ours: "BenchmarkCreateMany/n=100/attrcache", base: "BenchmarkCreateMany/n=100/raw-pipelined-HSETNX", max: 1.0, stated: "throughput >= 1.0x", srvMax: 2},
	{what: "CreateMany(100) vs one 100-field HSET", ours: "BenchmarkCreateMany/n=100/attrcache", base: "BenchmarkCreateMany/n=100/raw-HSET", max: 1 / 0.6, stated: "throughput >= 0.6x"},
	{what: "SetMany(10) vs 10 pipelined HSET", ours: "BenchmarkSetMany/n=10/attrcache", base: "BenchmarkSetMany/n=10/raw-pipelined-HSET"},
	{what: "SetMany(10) vs one 10-field HSET", ours: "BenchmarkSetMany/n=10/attrcache", base: "BenchmarkSetMany/n=10/raw-HSET"},
	{what: "SetMany(100) vs 100 pipelined HSET", ours: "BenchmarkSetMany/n=100/attrcache", base: "BenchmarkSetMany/n=100/raw-pipelined-HSET"},
	{what: "SetMany(100) vs one 100-field HSET", ours: "BenchmarkSetMany/n=100/attrcache", base: "BenchmarkSetMany/n=100/raw-HSET"},
	{what: "Set at saturation (64 goroutines, 64 sessions) vs HSET", ours: "BenchmarkParallelSet/attrcache", base: "BenchmarkParallelSet/raw-HSET"},
	{what: "Set in session of 10 vs scs", ours: "BenchmarkSetVsScs/attrs=10/attrcache", base: "BenchmarkSetVsScs/attrs=10/scs"},
	{what: "Set in session of 100 vs scs", ours: "BenchmarkSetVsScs/attrs=100/attrcache", base: "BenchmarkSetVsScs/attrs=100/scs", max: 0.1, stated: ">= 10x faster"},
	{what: "Set in session of 1,000 vs scs", ours: "BenchmarkSetVsScs/attrs=1000/attrcache", base: "BenchmarkSetVsScs/attrs=1000/scs"},
	{what: "Create, 1,000 attrs vs 1 in session", ours: "BenchmarkCreateSessionSize/attrs=1000", base: "BenchmarkCreateSessionSize/attrs=1", max: 1.1},
	{what: "Create, EVALSHA vs FCALL", ours: "BenchmarkScriptMode/Create/evalsha", base: "BenchmarkScriptMode/Create/fcall"},
	{what: "Set, EVALSHA vs FCALL", ours: "BenchmarkScriptMode/Set/evalsha", base: "BenchmarkScriptMode/Set/fcall"},
	{what: "Refused add (full session) vs accepted add (small)", ours: "BenchmarkFullSession/refused-add", base: "BenchmarkFullSession/accepted-add", srvMax: 2},
	{what: "Get p99, neighbour looping refused adds vs quiet", ours: "BenchmarkNoisyNeighbour/refused-adds", base: "BenchmarkNoisyNeighbour/quiet", unit: unitP99, max: 2},
	{what: "Get p99, neighbour looping ordinary Sets vs quiet", ours: "BenchmarkNoisyNeighbour/ordinary-sets", base: "BenchmarkNoisyNeighbour/quiet", unit: unitP99},
	{what: "Get p99, neighbour's refused adds vs its ordinary Sets", ours: "BenchmarkNoisyNeighbour/refused-adds", base: "BenchmarkNoisyNeighbour/ordinary-sets", unit: unitP99},
	{what: "Set, resend log of 255 entries vs empty", ours: "BenchmarkResendLog/write/entries=255", base: "BenchmarkResendLog/write/entries=0"},
	{what: "Encrypted Create (Tink AES-GCM) vs plaintext", ours: "BenchmarkEncrypted/Create/tink-aes256gcm", base: "BenchmarkEncrypted/Create/plaintext", max: 1.15},
	{what: "Encrypted Create (keys.Envelope) vs plaintext", ours: "BenchmarkEncrypted/Create/keys-envelope", base: "BenchmarkEncrypted/Create/plaintext", max: 1.15},
	{what: "Encrypted CreateMany(100) (Tink) vs plaintext", ours: "BenchmarkEncrypted/CreateMany-100/tink-aes256gcm", base: "BenchmarkEncrypted/CreateMany-100/plaintext", max: 1.5},
	{what: "Encrypted CreateMany(100) (Envelope) vs plaintext", ours: "BenchmarkEncrypted/CreateMany-100/keys-envelope", base: "BenchmarkEncrypted/CreateMany-100/plaintext", max: 1.5},
}

// single is a row of the figures table: one figure of one benchmark,
// with details from the same benchmark (or from base, when set).
type single struct {
	what    string
	name    string // benchmark
	unit    string
	max     float64 // target: at most; 0: none
	stated  string  // how the target reads; default "<= max"
	details []detail
}

// detail is a figure shown beside a single's value.
type detail struct {
	label, unit string
	name        string // benchmark; default the single's
}

var singles = []single{
	{what: "Near-cache Get hit, p50", name: "BenchmarkNearCache/Get-hit", unit: unitP50, max: 2000,
		details: []detail{{"hit rate", "hit-%", ""}, {"raw HGET p50", unitP50, "BenchmarkNearCache/raw-HGET"}, {"go-redis cached HGET p50", unitP50, "BenchmarkNearCache/raw-HGET-hit"}}},
	{what: "Near-cache memory per session, read with Get", name: "BenchmarkNearCacheMemory/Get", unit: "B/session",
		details: []detail{{"entries/session", "entries/session", ""}, {"per entry", "B/entry", ""}, {"hit rate", "hit-%", ""}}},
	{what: "Near-cache memory per session, read with GetAll", name: "BenchmarkNearCacheMemory/GetAll", unit: "B/session",
		details: []detail{{"entries/session", "entries/session", ""}, {"per entry", "B/entry", ""}, {"hit rate", "hit-%", ""}}},
	{what: "Script floor: FCALL returning at once", name: "BenchmarkScriptFloor/floor_return", unit: unitServer, details: floorDetails},
	{what: "Script floor: EVALSHA returning at once", name: "BenchmarkScriptFloor/evalsha_return", unit: unitServer, details: floorDetails},
	{what: "Script floor: FCALL of TIME", name: "BenchmarkScriptFloor/floor_time", unit: unitServer, details: floorDetails},
	{what: "Script floor: FCALL of TIME, HMGET", name: "BenchmarkScriptFloor/floor_time_hmget", unit: unitServer, details: floorDetails},
	{what: "Script floor: FCALL of TIME, HMGET, HSET", name: "BenchmarkScriptFloor/floor_time_hmget_hset", unit: unitServer, details: floorDetails},
	{what: "Set (write.lua), session written now and then", name: "BenchmarkScriptFloor/attrcache-Set", unit: unitServer, details: floorDetails},
	{what: "Hot session: Sets from 64 goroutines refused as unsure", name: "BenchmarkHotSession", unit: "unavailable-%",
		details: []detail{{"calls", "ops/s", ""}, {"server", unitServer, ""}}},
	{what: "Worst call: CreateMany of 1,000 (512 KiB)", name: "BenchmarkWorstCall/CreateMany-1000", unit: unitServer, max: 5000, details: worstDetails},
	{what: "Worst call: SetMany of 1,000 (512 KiB)", name: "BenchmarkWorstCall/SetMany-1000", unit: unitServer, max: 5000, details: worstDetails},
	{what: "Worst call: DeleteMany of 1,000 (512 KiB session)", name: "BenchmarkWorstCall/DeleteMany-1000", unit: unitServer, max: 5000, details: worstDetails},
	{what: "Worst call: write with a reclaim step (1,000 expired records)", name: "BenchmarkWorstCall/reclaim-step", unit: unitServer, max: 5000, details: worstDetails},
	{what: "Worst call: Rotate of a full session (4 calls, total)", name: "BenchmarkWorstCall/Rotate", unit: unitServer, max: 5000, details: worstDetails},
	{what: "Worst call: End of a full session", name: "BenchmarkWorstCall/End", unit: unitServer, max: 5000, details: worstDetails},
	{what: "Worst call: GetAll of a full session (HGETALL)", name: "BenchmarkWorstCall/GetAll", unit: unitServer, max: 5000, details: worstDetails},
	{what: "Redis memory per attr beyond raw hash", name: "BenchmarkMemory/values=32B", unit: "extra-B/attr", max: 24,
		details: []detail{{"attrcache", "B/attr", ""}, {"raw", "raw-B/attr", ""}}},
	{what: "Redis memory per attr beyond raw hash, encrypted", name: "BenchmarkMemory/values=32B-encrypted", unit: "extra-B/attr",
		details: []detail{{"attrcache", "B/attr", ""}, {"raw", "raw-B/attr", ""}, {"attrcache is a", "hashtable", ""}}},
	{what: "  same, hash-max-listpack-value 128", name: "BenchmarkMemory/values=32B-encrypted-listpack128", unit: "extra-B/attr",
		details: []detail{{"attrcache", "B/attr", ""}, {"raw", "raw-B/attr", ""}, {"attrcache is a", "hashtable", ""}}},
	{what: "Resend log, 1 entry: memory per session", name: "BenchmarkResendLog/memory/entries=1", unit: "log-B/session", details: logDetails},
	{what: "Resend log, 5 entries", name: "BenchmarkResendLog/memory/entries=5", unit: "log-B/session", details: logDetails},
	{what: "Resend log, 6 entries", name: "BenchmarkResendLog/memory/entries=6", unit: "log-B/session", details: logDetails},
	{what: "Resend log, 50 entries", name: "BenchmarkResendLog/memory/entries=50", unit: "log-B/session", details: logDetails},
	{what: "Resend log, 256 entries", name: "BenchmarkResendLog/memory/entries=256", unit: "log-B/session", details: logDetails},
	{what: "Stored bytes per value beyond plaintext (Tink)", name: "BenchmarkEncrypted/Create/tink-aes256gcm", unit: "extra-B/value", max: 48,
		details: []detail{{"stored", "stored-B/value", ""}}},
	{what: "Stored bytes per value beyond plaintext (Envelope)", name: "BenchmarkEncrypted/Create/keys-envelope", unit: "extra-B/value", max: 48,
		details: []detail{{"stored", "stored-B/value", ""}}},
}

var (
	floorDetails = []detail{{"raw HSET", unitServer, "BenchmarkScriptFloor/raw-HSET"}, {"latency", unitNs, ""}}
	worstDetails = []detail{{"longest single call", unitMax, ""}, {"latency", unitNs, ""}}
	logDetails   = []detail{{"session", "B/session", ""}, {"same fields without the log", "nolog-B/session", ""},
		{"session is a", "hashtable", ""}, {"without the log a", "nolog-hashtable", ""}}
)

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

// med is the median of a figure, NaN without data.
func (r *results) med(name, unit string) float64 {
	xs := r.get(name, unit)
	if len(xs) == 0 {
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

// ratio is a computed ratio of two benchmarks' figures.
type ratio struct {
	ours, base     float64 // medians
	mid, low, high float64 // median and range of the per-run ratios
	ok             bool
}

func (r *results) ratio(ours, base, unit string) ratio {
	o, b := r.get(ours, unit), r.get(base, unit)
	out := ratio{ours: math.NaN(), base: math.NaN(), mid: math.NaN()}
	if len(o) == 0 || len(b) == 0 {
		return out
	}
	out.ours, out.base = median(o), median(b)
	out.mid, out.low, out.high = pairRatio(o, b)
	out.ok = !math.IsNaN(out.mid) && !math.IsInf(out.mid, 0)
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

// verdict is "" without a target, "no data", "PASS" or "MISS".
func verdict(ok bool, v, max float64) string {
	switch {
	case max == 0:
		return ""
	case !ok:
		return "no data"
	case v <= max:
		return "PASS"
	}
	return "MISS"
}

// figure formats a value of unit.
func figure(v float64, unit string) string {
	switch {
	case math.IsNaN(v):
		return ""
	case strings.HasSuffix(unit, "ns/op"):
		return fmtNs(v)
	case strings.Contains(unit, "µs"):
		return fmtNs(v * 1e3)
	case unit == "ops/s":
		return strconv.FormatFloat(v, 'f', 0, 64) + "/s"
	case strings.HasSuffix(unit, "-%"):
		return strconv.FormatFloat(v, 'f', 1, 64) + "%"
	case strings.HasSuffix(unit, "hashtable"):
		if v >= 0.5 {
			return "hashtable"
		}
		return "listpack"
	case strings.HasPrefix(unit, "B/") || strings.Contains(unit, "-B/"):
		return fmtBytes(v)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func fmtNs(ns float64) string {
	switch {
	case ns == 0:
		return "0"
	case ns >= 1e6:
		return strconv.FormatFloat(ns/1e6, 'f', 2, 64) + " ms"
	case ns >= 1e4:
		return strconv.FormatFloat(ns/1e3, 'f', 0, 64) + " µs"
	case ns >= 1e3:
		return strconv.FormatFloat(ns/1e3, 'f', 1, 64) + " µs"
	case ns >= 10:
		return strconv.FormatFloat(ns, 'f', 0, 64) + " ns"
	}
	return strconv.FormatFloat(ns, 'f', 1, 64) + " ns"
}

func fmtBytes(b float64) string {
	switch {
	case b >= 10*1024:
		return strconv.FormatFloat(b/1024, 'f', 1, 64) + " KiB"
	case b >= 1000:
		return strconv.FormatFloat(b, 'f', 0, 64) + " B"
	}
	return strconv.FormatFloat(b, 'f', 1, 64) + " B"
}

func times(r float64) string {
	if math.IsNaN(r) {
		return ""
	}
	return strconv.FormatFloat(r, 'f', 2, 64) + "x"
}

func spread(low, high float64, format func(float64) string) string {
	if low == high || math.IsNaN(low) {
		return ""
	}
	return " (" + format(low) + "–" + format(high) + ")"
}

func num(prec int) func(float64) string {
	return func(v float64) string { return strconv.FormatFloat(v, 'f', prec, 64) }
}

func ratioTarget(max float64, stated string) string {
	if max == 0 {
		return ""
	}
	t := "<= " + strconv.FormatFloat(max, 'f', 2, 64) + "x"
	if stated != "" {
		t += " (" + stated + ")"
	}
	return t
}

// tally counts the verdicts.
type tally struct{ pass, miss, missing int }

func (t *tally) add(v string) {
	switch v {
	case "PASS":
		t.pass++
	case "MISS":
		t.miss++
	case "no data":
		t.missing++
	}
}

// pairCells computes a pairs row.
func (r *results) pairCells(p pair, t *tally) []string {
	unit := cmp.Or(p.unit, unitNs)
	lat := r.ratio(p.ours, p.base, unit)
	srv := r.ratio(p.ours, p.base, unitServer)
	lv, sv := verdict(lat.ok, lat.mid, p.max), verdict(srv.ok, srv.mid, p.srvMax)
	t.add(lv)
	t.add(sv)
	what := p.what
	if !lat.ok {
		return []string{what, "-", "-", "-", ratioTarget(p.max, p.stated), lv, "", "", "", "", ratioTarget(p.srvMax, ""), sv}
	}
	p50 := ""
	if unit == unitNs {
		m, _, _ := pairRatio(r.get(p.ours, unitP50), r.get(p.base, unitP50))
		p50 = times(m)
	}
	cells := []string{what, figure(lat.ours, unit), figure(lat.base, unit),
		times(lat.mid) + spread(lat.low, lat.high, num(2)), ratioTarget(p.max, p.stated), lv, p50}
	if !srv.ok {
		return append(cells, figure(srv.ours, unitServer), figure(srv.base, unitServer), "", ratioTarget(p.srvMax, ""), sv)
	}
	return append(cells, figure(srv.ours, unitServer), figure(srv.base, unitServer),
		times(srv.mid)+spread(srv.low, srv.high, num(2)), ratioTarget(p.srvMax, ""), sv)
}

// singleCells computes a figures row.
func (r *results) singleCells(s single, t *tally) []string {
	xs := r.get(s.name, s.unit)
	ok := len(xs) > 0
	v := math.NaN()
	if ok {
		v = median(xs)
	}
	res := verdict(ok, v, s.max)
	t.add(res)
	target := ""
	if s.max != 0 {
		target = cmp.Or(s.stated, "<= "+figure(s.max, s.unit))
	}
	if !ok {
		return []string{s.what, "-", "", target, res}
	}
	value := figure(v, s.unit)
	if !strings.HasSuffix(s.unit, "hashtable") {
		value += spread(slices.Min(xs), slices.Max(xs), func(x float64) string { return figure(x, s.unit) })
	}
	var ds []string
	for _, d := range s.details {
		x := r.med(cmp.Or(d.name, s.name), d.unit)
		if math.IsNaN(x) {
			continue
		}
		ds = append(ds, d.label+" "+figure(x, d.unit))
	}
	return []string{s.what, value, strings.Join(ds, "; "), target, res}
}

// allocCells are the allocation and CPU figures of a pair.
func (r *results) allocCells(p pair) []string {
	f := func(name, unit string, prec int) string {
		x := r.med(name, unit)
		if math.IsNaN(x) {
			return "-"
		}
		return strconv.FormatFloat(x, 'f', prec, 64)
	}
	cpu, _, _ := pairRatio(r.cpu(p.ours), r.cpu(p.base))
	return []string{p.what, f(p.ours, "allocs/op", 0), f(p.base, "allocs/op", 0), f(p.ours, "B/op", 0), f(p.base, "B/op", 0),
		f(p.ours, "cli-us/op", 1), f(p.ours, "srv-us/op", 1), f(p.base, "cli-us/op", 1), f(p.base, "srv-us/op", 1), times(cpu)}
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
	var t tally
	ratios := table{head: []string{"pair", "attrcache", "baseline", "latency ratio (range)", "target", "result", "p50 ratio",
		"attrcache server", "baseline server", "server ratio (range)", "target", "result"}}
	allocs := table{head: []string{"pair", "attrcache allocs/op", "baseline allocs/op", "attrcache B/op", "baseline B/op",
		"attrcache client CPU µs/op", "attrcache server CPU µs/op", "baseline client CPU µs/op", "baseline server CPU µs/op", "CPU ratio"}}
	for _, p := range pairs {
		ratios.rows = append(ratios.rows, res.pairCells(p, &t))
		if p.unit == "" {
			allocs.rows = append(allocs.rows, res.allocCells(p))
		}
	}
	figures := table{head: []string{"figure", "value (range)", "details", "target", "result"}}
	for _, s := range singles {
		figures.rows = append(figures.rows, res.singleCells(s, &t))
	}
	fmt.Fprintln(w)
	ratios.print(w, md)
	fmt.Fprintln(w)
	figures.print(w, md)
	fmt.Fprintf(w, "\ntargets: %d PASS, %d MISS", t.pass, t.miss)
	if t.missing > 0 {
		fmt.Fprintf(w, ", %d without data", t.missing)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	allocs.print(w, md)
}
