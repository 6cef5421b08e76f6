package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/attrcache/attrcache/internal/cli"
)

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
