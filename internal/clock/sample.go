package clock

import "time"

// Times inside the package are int64 nanoseconds: local instants since the
// Clock's epoch (on the monotonic clock), and Redis's clock since the Unix
// epoch. Plain integers keep a source's state small and comparable.

const (
	msNs       = int64(time.Millisecond)
	truncation = msNs                   // Redis's clock is read in whole ms
	driftDiv   = 1_000_000 / DriftPPM   // age / driftDiv is the drift allowance
	maxCands   = 2                      // candidates kept per source
	maxRedisMs = int64(9_000_000) * 1e6 // beyond this, ns overflow int64 (year 2255)
)

// sample is one reply that carried Redis's time.
type sample struct {
	at   int64 // local instant halfway through the round trip
	off  int64 // Redis's clock minus the local clock at that instant
	half int64 // half the round trip
}

// err is the sample's error bound at local instant t.
func (s sample) err(t int64) int64 {
	return s.half + truncation + abs(t-s.at)/driftDiv
}

// span is the range Redis's clock is in at local instant t, by s.
func (s sample) span(t int64) (lo, hi int64) {
	est, e := t+s.off, s.err(t)
	return est - e, est + e
}

// agree says whether the ranges a and b allow overlap. Both estimates move
// with the local clock, so their distance is fixed; the sum of the bounds
// is smallest, and the test strictest, between the two samples.
func agree(a, b sample) bool {
	t := max(a.at, b.at)
	return abs(a.off-b.off) <= a.err(t)+b.err(t)
}

// better says whether a's bound is smaller than b's. Both grow at the
// same rate after the later sample, so one instant decides for all.
func better(a, b sample) bool {
	t := max(a.at, b.at)
	return a.err(t) < b.err(t)
}

// after says whether a was sent after b was received.
func after(a, b sample) bool {
	return a.at-a.half >= b.at+b.half
}

// state is what a source knows. It is never changed once published: a
// change publishes a new one.
type state struct {
	best  sample
	cands [maxCands]sample // samples that disagree with best, oldest first
	n     int              // cands in use; the rest are zero
}

// observe returns the state after sample s, or nil when s changes
// nothing (the common case: it agrees and is no better). It allocates only
// when it returns a new state.
func (st *state) observe(s sample) *state {
	if st == nil {
		return &state{best: s}
	}
	if agree(st.best, s) {
		b := st.best
		if better(s, b) {
			b = s
		} else if st.n == 0 {
			return nil
		}
		next := state{best: b}
		for _, c := range st.cands[:st.n] {
			refuted := after(s, c) && !agree(s, c)
			if !refuted && !agree(b, c) {
				next.cands[next.n] = c
				next.n++
			}
		}
		if next == *st {
			return nil
		}
		p := next
		return &p
	}
	for _, c := range st.cands[:st.n] {
		if agree(c, s) {
			// Two samples agree with each other and not with best:
			// Redis's clock stepped (or this is another server).
			if better(s, c) {
				c = s
			}
			return &state{best: c}
		}
	}
	// A lone disagreeing sample: held, not trusted. The newest two are
	// kept; a third disagreeing with all the rest pushes out the oldest.
	p := &state{best: st.best}
	keep := st.cands[:st.n]
	if len(keep) == maxCands {
		keep = keep[1:]
	}
	p.n = copy(p.cands[:], keep)
	p.cands[p.n] = s
	p.n++
	return p
}

// span is the range Redis's clock is in at local instant t: best's, widened
// to cover the candidates, any of which may be right.
func (st *state) span(t int64) (lo, hi int64) {
	lo, hi = st.best.span(t)
	for _, c := range st.cands[:st.n] {
		l, h := c.span(t)
		lo, hi = min(lo, l), max(hi, h)
	}
	return lo, hi
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// floorDiv and ceilDiv divide by d > 0, rounding down and up.
func floorDiv(x, d int64) int64 {
	q := x / d
	if x%d != 0 && x < 0 {
		q--
	}
	return q
}

func ceilDiv(x, d int64) int64 {
	q := x / d
	if x%d != 0 && x > 0 {
		q++
	}
	return q
}
