package bench

import (
	"slices"
	"testing"
	"time"
)

// calls is how many calls each side of a comparison makes, and chunk how
// many it makes in a row before the other side takes its turn.
const (
	calls = 2500
	chunk = 250
)

// side is one side of a comparison: attrcache, or the baseline it is
// judged against.
type side struct {
	cmds []string // the commands it sends, whose server time counts
	// op makes the i-th call, i in [0, n]; every call may work on state
	// of its own, prepared before the comparison starts. Call n warms
	// the side up and is not measured.
	op func(i int) error
}

// compare measures ours and base side by side on one server: after one
// untimed call of each (functions loaded, connections warm, the Store's
// clock sampled) it clears Redis's command statistics, then runs n calls
// of each, in turns of chunk calls, the side that goes first alternating,
// so that slow changes in the machine's load fall on both.
//
// It reports, for ours, ns/op, p50-ns/op and p99-ns/op (latency of one
// call: mean, median, 99th percentile), server-µs/op and cmds/op (Redis's
// execution time of the side's commands per call, and how many it
// sent), and the same for base with the prefix "base-". turn-ratio is
// the median over the turns of ours' server time in a turn over base's
// in the same turn: a burst of other work that falls on a few turns
// moves the totals, and their ratio, much more than it.
//
// The benchmark's b.N is not used: a case is a fixed number of calls,
// and its figures are per call. Run the suite with -benchtime 1x.
func compare(b *testing.B, e *env, n int, ours, base side) {
	b.Helper()
	for _, s := range []side{ours, base} {
		if err := s.op(n); err != nil {
			b.Fatalf("warm-up: %v", err)
		}
	}
	resetStats(b, e.rdb)
	sides := [2]struct {
		side
		m   *cmdMeter
		lat latencies
	}{{side: ours, m: newCmdMeter(e.rdb, ours.cmds)}, {side: base, m: newCmdMeter(e.rdb, base.cmds)}}
	b.ResetTimer()
	for turn, first := 0, 0; turn*chunk < n; turn, first = turn+1, 1-first {
		lo, hi := turn*chunk, min((turn+1)*chunk, n)
		for k := range 2 {
			s := &sides[(first+k)%2]
			s.m.start()
			for i := lo; i < hi; i++ {
				t0 := time.Now()
				err := s.op(i)
				s.lat = append(s.lat, time.Since(t0))
				if err != nil {
					b.Fatalf("call %d: %v", i, err)
				}
			}
			s.m.stop()
		}
	}
	b.StopTimer()
	for k, prefix := range []string{"", "base-"} {
		sides[k].lat.report(b, prefix)
		sides[k].m.report(b, prefix, n)
	}
	var turns []float64
	for k, ours := range sides[0].m.segments {
		if base := sides[1].m.segments[k]; base > 0 {
			turns = append(turns, float64(ours)/float64(base))
		}
	}
	if len(turns) > 0 {
		slices.Sort(turns)
		b.ReportMetric(turns[len(turns)/2], "turn-ratio")
	}
}

// timed measures n calls one at a time with the slow log (see slowMeter):
// prep(i) runs untimed before the i-th call, op(i) is the call. Call n
// warms up and is not measured. It reports the slowMeter's figures and
// ns/op, p50-ns/op and p99-ns/op.
func timed(b *testing.B, e *env, n int, cmds []string, prep func(i int), op func(i int) error) {
	b.Helper()
	prep(n)
	if err := op(n); err != nil {
		b.Fatalf("warm-up: %v", err)
	}
	m := newSlowMeter(b, e, cmds)
	var lat latencies
	b.ResetTimer()
	for i := range n {
		b.StopTimer()
		prep(i)
		m.before(b)
		b.StartTimer()
		t0 := time.Now()
		err := op(i)
		lat = append(lat, time.Since(t0))
		b.StopTimer()
		if err != nil {
			b.Fatalf("call %d: %v", i, err)
		}
		m.after(b)
		b.StartTimer()
	}
	b.StopTimer()
	lat.report(b, "")
	m.report(b)
}
