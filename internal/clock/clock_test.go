package clock_test

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/attrcache/attrcache/internal/clock"
)

// local is a local clock that tests move by hand.
type local struct{ t time.Time }

func (l *local) now() time.Time { return l.t }

// server is a simulated Redis. Its clock reads base (ns since the Unix
// epoch) at the local instant t0 and runs ppm parts per million faster
// than the local clock.
type server struct {
	t0   time.Time
	base int64
	ppm  int64
}

func newServer(l *local, base time.Time, ppm int64) *server {
	return &server{t0: l.t, base: base.UnixNano(), ppm: ppm}
}

// ns is the server's clock at local instant t.
func (s *server) ns(t time.Time) int64 {
	d := int64(t.Sub(s.t0))
	return s.base + d + d*s.ppm/1_000_000
}

// ms is what TIME answers at local instant t: whole milliseconds.
func (s *server) ms(t time.Time) int64 {
	n := s.ns(t)
	if n < 0 {
		return (n - 999_999) / 1_000_000
	}
	return n / 1_000_000
}

// step moves the server's clock by d from now on.
func (s *server) step(d time.Duration) { s.base += int64(d) }

// reply sends one call to srv, named src: it takes rtt, Redis reads its
// clock frac of the way through, and the local clock ends at the reply.
func reply(c *clock.Clock, l *local, src string, srv *server, rtt time.Duration, frac float64) {
	sent := l.t
	l.t = sent.Add(rtt)
	c.Observe(src, sent, l.t, srv.ms(sent.Add(time.Duration(float64(rtt)*frac))))
}

// check fails unless every server in srvs is covered: For gives a range
// around its clock, Upper is at or past it, Lower at or before it.
func check(t *testing.T, c *clock.Clock, l *local, srvs map[string]*server) {
	t.Helper()
	up, okU := c.Upper()
	lo, okL := c.Lower()
	for name, srv := range srvs {
		truth := srv.ns(l.t)
		ms, bound, ok := c.For(name)
		if !ok || !okU || !okL {
			t.Fatalf("source %q: For ok %v, Upper ok %v, Lower ok %v", name, ok, okU, okL)
		}
		if d := time.Duration(ms*1e6 - truth); d > bound || -d > bound {
			t.Fatalf("source %q: For off by %v, bound %v", name, d, bound)
		}
		if up*1e6 < truth {
			t.Fatalf("source %q: Upper %v behind Redis's clock", name, time.Duration(truth-up*1e6))
		}
		if lo*1e6 > truth {
			t.Fatalf("source %q: Lower %v ahead of Redis's clock", name, time.Duration(lo*1e6-truth))
		}
	}
}

func TestSample(t *testing.T) {
	l := &local{t: time.Now()}
	c := clock.New(l.now)
	if _, _, ok := c.For(""); ok {
		t.Fatal("For before any sample")
	}
	if _, ok := c.Upper(); ok {
		t.Fatal("Upper before any sample")
	}
	if _, ok := c.Lower(); ok {
		t.Fatal("Lower before any sample")
	}
	if n := c.Need(""); n != clock.Required {
		t.Fatalf("Need before any sample: %v", n)
	}
	// A 4 ms round trip: Redis read 1,000,000 ms at some instant in it.
	base := l.t
	c.Observe("", base, base.Add(4*time.Millisecond), 1_000_000)
	l.t = base.Add(time.Second)
	ms, bound, ok := c.For("")
	if !ok || ms != 1_000_000+998 {
		t.Fatalf("estimate %d, want %d", ms, 1_000_000+998)
	}
	if bound < 3*time.Millisecond || bound > 4*time.Millisecond {
		t.Fatalf("bound %v, want half the round trip plus 1ms and a little drift", bound)
	}
	if up, _ := c.Upper(); up != 1_000_000+998+4 {
		t.Fatalf("Upper %d, want %d (estimate + bound, rounded up)", up, 1_000_000+998+4)
	}
	if lo, _ := c.Lower(); lo != 1_000_000+998-4 {
		t.Fatalf("Lower %d, want %d (estimate - bound, rounded down)", lo, 1_000_000+998-4)
	}
	// A worse sample that agrees is ignored; a better one is taken.
	srv := &server{t0: l.t, base: (1_000_000 + 998) * 1e6}
	reply(c, l, "", srv, 40*time.Millisecond, 0.9)
	if _, b, _ := c.For(""); b > 4*time.Millisecond {
		t.Fatalf("a worse sample replaced a better one: bound %v", b)
	}
	reply(c, l, "", srv, time.Millisecond/2, 0.5)
	if _, b, _ := c.For(""); b > 2*time.Millisecond {
		t.Fatalf("a better sample was not taken: bound %v", b)
	}
	check(t, c, l, map[string]*server{"": srv})
}

// TestLocalClockOff runs a Clock whose local clock is minutes or hours off
// Redis's, on real time: the estimate, and expiry judged on it, follow
// Redis's clock within the bound.
func TestLocalClockOff(t *testing.T) {
	for _, skew := range []time.Duration{7 * time.Minute, -7 * time.Minute, 36 * time.Hour} {
		t.Run(skew.String(), func(t *testing.T) {
			t.Parallel()
			c := clock.New(func() time.Time { return time.Now().Add(skew) })
			// Redis is this machine's wall clock, read between sent and recv.
			sent := c.Local()
			redis := time.Now().UnixMilli()
			c.Observe("", sent, c.Local(), redis)

			before := time.Now().UnixNano()
			ms, bound, ok := c.For("")
			after := time.Now().UnixNano()
			if !ok {
				t.Fatal("no estimate after a sample")
			}
			if ms*1e6-int64(bound) > after || ms*1e6+int64(bound) < before {
				t.Fatalf("estimate off by %v, bound %v", time.Duration(ms*1e6-before), bound)
			}
			if bound > 50*time.Millisecond {
				t.Fatalf("bound %v in process", bound)
			}
			// A record that expires 300 ms from now on Redis's clock reads
			// as live now, and as absent once Redis's clock has passed it.
			exp := time.Now().UnixMilli() + 300
			if up, _ := c.Upper(); up >= exp {
				t.Fatalf("a record 300ms from expiry reads as expired: Upper %d, expiry %d", up, exp)
			}
			time.Sleep(150 * time.Millisecond)
			if up, _ := c.Upper(); up >= exp && time.Now().UnixMilli() < exp-int64(2*bound/time.Millisecond)-2 {
				t.Fatalf("expired %dms early, bound %v", exp-time.Now().UnixMilli(), bound)
			}
			time.Sleep(time.Until(time.UnixMilli(exp)))
			if up, _ := c.Upper(); up < exp {
				t.Fatalf("a record reads as live after its expiry: Upper %d, expiry %d, now %d", up, exp, time.Now().UnixMilli())
			}
		})
	}
}

// TestStep: a step of Redis's clock is taken after two samples that agree
// with each other; the first alone moves no estimate, but Upper and Lower
// cover it at once in case it is right.
func TestStep(t *testing.T) {
	for _, tc := range []struct {
		name string
		step time.Duration
	}{
		{"ahead a minute", time.Minute},
		{"back a minute", -time.Minute},
		{"ahead 2s", 2 * time.Second},
		{"back 50ms", -50 * time.Millisecond},
		{"ahead 20ms", 20 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &local{t: time.Now()}
			c := clock.New(l.now)
			srv := newServer(l, time.Unix(1_700_000_000, 0), 0)
			srvs := map[string]*server{"": srv}
			for range 5 {
				reply(c, l, "", srv, time.Millisecond, 0.3)
				l.t = l.t.Add(100 * time.Millisecond)
			}
			check(t, c, l, srvs)
			old, _, _ := c.For("")

			srv.step(tc.step)
			reply(c, l, "", srv, time.Millisecond, 0.6)
			ms, bound, _ := c.For("")
			if d := ms - old; d < 0 || d > 1 {
				t.Fatalf("one sample moved the estimate by %dms", d)
			}
			if bound < tc.step-time.Millisecond && bound < -tc.step-time.Millisecond {
				t.Fatalf("bound %v does not cover a step of %v that may be real", bound, tc.step)
			}
			check(t, c, l, srvs)
			if n := c.Need(""); n != clock.Refresh {
				t.Fatalf("Need with a step pending: %v, want refresh", n)
			}

			l.t = l.t.Add(10 * time.Millisecond)
			reply(c, l, "", srv, 2*time.Millisecond, 0.5)
			if _, bound, _ = c.For(""); bound > 3*time.Millisecond {
				t.Fatalf("after the step was taken: bound %v", bound)
			}
			check(t, c, l, srvs)
			if n := c.Need(""); n != clock.Fresh {
				t.Fatalf("Need after the step was taken: %v", n)
			}
		})
	}
}

// TestStepThroughOutlier: one bogus reply between the first and second
// sample after a step neither hides the step nor is taken for it.
func TestStepThroughOutlier(t *testing.T) {
	l := &local{t: time.Now()}
	c := clock.New(l.now)
	srv := newServer(l, time.Unix(1_700_000_000, 0), 0)
	srvs := map[string]*server{"": srv}
	reply(c, l, "", srv, time.Millisecond, 0.5)
	srv.step(3 * time.Second)
	reply(c, l, "", srv, time.Millisecond, 0.5)
	check(t, c, l, srvs)
	bogus := &server{t0: srv.t0, base: srv.base - 10*int64(time.Second)}
	reply(c, l, "", bogus, time.Millisecond, 0.5)
	check(t, c, l, srvs)
	reply(c, l, "", srv, time.Millisecond, 0.5)
	check(t, c, l, srvs)
	if _, bound, _ := c.For(""); bound > 3*time.Millisecond {
		t.Fatalf("after the step was taken: bound %v", bound)
	}
}

// TestLateSampleFromBeforeAStep: a reply sent before a step but seen after
// the step was taken is an outlier like any other.
func TestLateSampleFromBeforeAStep(t *testing.T) {
	l := &local{t: time.Now()}
	c := clock.New(l.now)
	srv := newServer(l, time.Unix(1_700_000_000, 0), 0)
	srvs := map[string]*server{"": srv}
	reply(c, l, "", srv, time.Millisecond, 0.5)
	// A slow call is sent and read by Redis now...
	slowSent, slowMs := l.t, srv.ms(l.t.Add(time.Millisecond))
	// ...then Redis's clock steps back 5 s, and two fast calls see it.
	l.t = l.t.Add(2 * time.Millisecond)
	srv.step(-5 * time.Second)
	reply(c, l, "", srv, time.Millisecond, 0.5)
	reply(c, l, "", srv, time.Millisecond, 0.5)
	// The slow call's reply arrives last.
	l.t = l.t.Add(time.Millisecond)
	c.Observe("", slowSent, l.t, slowMs)
	check(t, c, l, srvs)
	if ms, _, _ := c.For(""); ms != srv.ms(l.t) && ms != srv.ms(l.t)-1 {
		t.Fatalf("a late reply from before the step moved the estimate to %d, want %d", ms, srv.ms(l.t))
	}
	// The next reply, sent after the late one came back, refutes it.
	reply(c, l, "", srv, time.Millisecond, 0.5)
	if _, bound, _ := c.For(""); bound > 3*time.Millisecond {
		t.Fatalf("a refuted outlier still widens the bound: %v", bound)
	}
	check(t, c, l, srvs)
}

// TestSources: two masters whose clocks are 2 s apart. Each has its own
// estimate, and Upper covers the faster one whichever answered last.
func TestSources(t *testing.T) {
	for _, last := range []string{"fast:6379", "slow:6379"} {
		t.Run("last "+last, func(t *testing.T) {
			l := &local{t: time.Now()}
			c := clock.New(l.now)
			base := time.Unix(1_700_000_000, 0)
			srvs := map[string]*server{
				"slow:6379": newServer(l, base, 0),
				"fast:6379": newServer(l, base.Add(2*time.Second), 0),
			}
			other := map[string]string{"fast:6379": "slow:6379", "slow:6379": "fast:6379"}[last]
			for range 3 {
				reply(c, l, other, srvs[other], time.Millisecond, 0.5)
				reply(c, l, last, srvs[last], time.Millisecond, 0.5)
			}
			check(t, c, l, srvs)
			for name, srv := range srvs {
				ms, bound, _ := c.For(name)
				if d := time.Duration(ms*1e6 - srv.ns(l.t)); bound > 3*time.Millisecond || d > bound || -d > bound {
					t.Fatalf("%s: estimate off by %v, bound %v", name, d, bound)
				}
			}
			// A record that expired 1.5 s ago on the fast master reads as
			// absent; one that expires in 10 ms there still reads as live.
			up, _ := c.Upper()
			fast := srvs["fast:6379"].ms(l.t)
			if up < fast-1500 {
				t.Fatalf("Upper %d: a record expired 1.5s ago on the fast master reads as live", up)
			}
			if up >= fast+10 {
				t.Fatalf("Upper %d is %dms past the fast master's clock", up, up-fast)
			}
			lo, _ := c.Lower()
			if slow := srvs["slow:6379"].ms(l.t); lo > slow || lo < slow-10 {
				t.Fatalf("Lower %d, slow master at %d", lo, slow)
			}
		})
	}
}

// TestOutlier: a lone reply 900 ms off changes no estimate, and once
// agreeing replies follow, the bounds are back to their usual size.
// Expiry is judged correctly throughout.
func TestOutlier(t *testing.T) {
	for _, tc := range []struct {
		name string
		off  time.Duration
	}{
		{"ahead", 900 * time.Millisecond},
		{"behind", -900 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &local{t: time.Now()}
			c := clock.New(l.now)
			rng := rand.New(rand.NewPCG(1, 2))
			srv := newServer(l, time.Unix(1_700_000_000, 0), 50)
			srvs := map[string]*server{"": srv}
			start := l.t
			var usual time.Duration
			outlierAt := start.Add(time.Second)
			sent := false
			for l.t.Before(start.Add(6 * time.Second)) {
				rtt := 200*time.Microsecond + time.Duration(rng.Int64N(int64(2*time.Millisecond)))
				if !sent && !l.t.Before(outlierAt) {
					_, usual, _ = c.For("")
					bogus := &server{t0: srv.t0, base: srv.base + int64(tc.off), ppm: srv.ppm}
					reply(c, l, "", bogus, rtt, rng.Float64())
					sent = true
					if ms, _, _ := c.For(""); abs(ms-srv.ms(l.t)) > 3 {
						t.Fatalf("a lone outlier moved the estimate by %dms", ms-srv.ms(l.t))
					}
				} else {
					reply(c, l, "", srv, rtt, rng.Float64())
				}
				check(t, c, l, srvs)
				if _, bound, _ := c.For(""); l.t.After(outlierAt.Add(50*time.Millisecond)) && bound > 3*time.Millisecond {
					t.Fatalf("%v after the outlier: bound %v, usual %v", l.t.Sub(outlierAt), bound, usual)
				}
				l.t = l.t.Add(10 * time.Millisecond)
			}
			_, bound, _ := c.For("")
			if bound > 3*time.Millisecond {
				t.Fatalf("5s after the outlier: bound %v, usual %v", bound, usual)
			}
			up, _ := c.Upper()
			if early := time.Duration(up*1e6 - srv.ns(l.t)); early > 3*time.Millisecond {
				t.Fatalf("5s after the outlier, records read as expired %v early", early)
			}
		})
	}
}

// TestOutlierAlone: an outlier that no reply follows keeps asking for
// one, and is covered meanwhile.
func TestOutlierAlone(t *testing.T) {
	l := &local{t: time.Now()}
	c := clock.New(l.now)
	srv := newServer(l, time.Unix(1_700_000_000, 0), 0)
	reply(c, l, "", srv, time.Millisecond, 0.5)
	bogus := &server{t0: srv.t0, base: srv.base + int64(900*time.Millisecond)}
	reply(c, l, "", bogus, time.Millisecond, 0.5)
	if up, _ := c.Upper(); up < bogus.ms(l.t) {
		t.Fatalf("Upper %d does not cover an outlier at %d that may be a step", up, bogus.ms(l.t))
	}
	if n := c.Need(""); n != clock.Refresh {
		t.Fatalf("Need with an outlier pending: %v, want refresh", n)
	}
	if n := c.Need(""); n != clock.Fresh {
		t.Fatalf("Need handed out a second refresh at once: %v", n)
	}
	l.t = l.t.Add(6 * time.Second)
	if n := c.Need(""); n != clock.Refresh {
		t.Fatalf("Need after the first refresh did not land: %v, want refresh", n)
	}
}

// TestNeed walks a source through its ages.
func TestNeed(t *testing.T) {
	l := &local{t: time.Now()}
	c := clock.New(l.now)
	srv := newServer(l, time.Unix(1_700_000_000, 0), 0)
	reply(c, l, "a", srv, time.Millisecond, 0.5)
	steps := []struct {
		wait time.Duration
		want []clock.Need // successive calls
	}{
		{0, []clock.Need{clock.Fresh}},
		{59 * time.Second, []clock.Need{clock.Fresh}},
		{2 * time.Second, []clock.Need{clock.Refresh, clock.Fresh, clock.Fresh}},
		{4 * time.Second, []clock.Need{clock.Fresh}},
		{2 * time.Second, []clock.Need{clock.Refresh, clock.Fresh}},
		{9 * time.Minute, []clock.Need{clock.Required, clock.Required}},
	}
	for i, st := range steps {
		l.t = l.t.Add(st.wait)
		for j, want := range st.want {
			if got := c.Need("a"); got != want {
				t.Fatalf("step %d, call %d: Need %v, want %v", i, j, got, want)
			}
		}
	}
	if n := c.Need("b"); n != clock.Required {
		t.Fatalf("Need of a source never heard: %v", n)
	}
	// Heard again, the source is known again.
	reply(c, l, "a", srv, 900*time.Millisecond, 0.5)
	if n := c.Need("a"); n != clock.Fresh {
		t.Fatalf("Need after a sample: %v", n)
	}
}

// TestForget: a source not heard from for MaxAge stops counting; heard
// again, it starts afresh.
func TestForget(t *testing.T) {
	l := &local{t: time.Now()}
	c := clock.New(l.now)
	base := time.Unix(1_700_000_000, 0)
	a := newServer(l, base, 0)
	b := newServer(l, base.Add(2*time.Second), 0)
	reply(c, l, "b", b, time.Millisecond, 0.5)
	for range 10 {
		reply(c, l, "a", a, time.Millisecond, 0.5)
		if up, _ := c.Upper(); up < b.ms(l.t) {
			t.Fatalf("Upper left out a source heard from %v ago", l.t.Sub(a.t0))
		}
		l.t = l.t.Add(time.Minute)
	}
	l.t = l.t.Add(time.Minute)
	reply(c, l, "a", a, time.Millisecond, 0.5)
	if up, _ := c.Upper(); up > a.ms(l.t)+3 {
		t.Fatalf("a source not heard from for 11 min still counts: Upper %dms past the other", up-a.ms(l.t))
	}
	if _, _, ok := c.For("b"); ok {
		t.Fatal("For of a source not heard from for 11 min")
	}
	if n := c.Need("b"); n != clock.Required {
		t.Fatalf("Need of a source not heard from for 11 min: %v", n)
	}
	// Another server answers at b's address, its clock 3 s behind: its
	// first sample is taken, as a new source's is.
	b2 := newServer(l, base.Add(-3*time.Second), 0)
	reply(c, l, "b", b2, time.Millisecond, 0.5)
	check(t, c, l, map[string]*server{"a": a, "b": b2})
	if _, bound, _ := c.For("b"); bound > 3*time.Millisecond {
		t.Fatalf("the old sample of a forgotten source still counts: bound %v", bound)
	}
}

// TestDrift: a sample is carried forward with 100 ppm allowed for drift;
// servers drifting up to that much stay covered.
func TestDrift(t *testing.T) {
	for _, ppm := range []int64{-100, -30, 0, 30, 100} {
		t.Run(strconv.FormatInt(ppm, 10)+"ppm", func(t *testing.T) {
			l := &local{t: time.Now()}
			c := clock.New(l.now)
			srv := newServer(l, time.Unix(1_700_000_000, 0), ppm)
			srvs := map[string]*server{"": srv}
			reply(c, l, "", srv, 2*time.Millisecond, 0.5)
			best := l.t
			// Slow replies keep the source known but are worse than the
			// first sample carried forward: it stays the best.
			for range 9 {
				l.t = l.t.Add(time.Minute)
				reply(c, l, "", srv, time.Second, 0.5)
				check(t, c, l, srvs)
			}
			_, bound, _ := c.For("")
			allow := 2*time.Millisecond + l.t.Sub(best)/10_000
			if bound < allow || bound > allow+time.Millisecond {
				t.Fatalf("bound %v after %v, want about %v", bound, l.t.Sub(best), allow)
			}
		})
	}
}

// TestIgnored: replies that cannot be right change nothing.
func TestIgnored(t *testing.T) {
	l := &local{t: time.Now()}
	c := clock.New(l.now)
	c.Observe("", l.t, l.t.Add(-time.Millisecond), 1_700_000_000_000)
	c.Observe("", l.t, l.t.Add(time.Millisecond), -1)
	c.Observe("", l.t, l.t.Add(time.Millisecond), 1<<62)
	if _, _, ok := c.For(""); ok {
		t.Fatal("an estimate from replies that cannot be right")
	}
}

// TestRandom runs many sources with drifting clocks, steps and lone bogus
// replies, in random order, and checks after every reply that each
// source is covered.
func TestRandom(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		l := &local{t: time.Now().Add(time.Duration(rng.Int64N(int64(48*time.Hour))) - 24*time.Hour)}
		c := clock.New(l.now)
		srvs := map[string]*server{}
		names := []string{"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"}
		for _, n := range names {
			off := time.Duration(rng.Int64N(int64(10*time.Second))) - 5*time.Second
			srvs[n] = newServer(l, time.Unix(1_700_000_000, 0).Add(off), rng.Int64N(201)-100)
		}
		// A source's first reply is trusted as it is; there is nothing
		// to check it against.
		lastBogus := map[string]bool{names[0]: true, names[1]: true, names[2]: true}
		for range 3000 {
			name := names[rng.IntN(len(names))]
			srv := srvs[name]
			l.t = l.t.Add(time.Duration(rng.Int64N(int64(200 * time.Millisecond))))
			rtt := 100*time.Microsecond + time.Duration(rng.ExpFloat64()*float64(time.Millisecond))
			switch r := rng.IntN(100); {
			case r < 2:
				// Redis's clock steps, by more than the bounds.
				d := 50*time.Millisecond + time.Duration(rng.Int64N(int64(5*time.Second)))
				if rng.IntN(2) == 0 {
					d = -d
				}
				srv.step(d)
				lastBogus[name] = false
				reply(c, l, name, srv, rtt, rng.Float64())
			case r < 5 && !lastBogus[name]:
				d := 50*time.Millisecond + time.Duration(rng.Int64N(int64(time.Hour)))
				if rng.IntN(2) == 0 {
					d = -d
				}
				bogus := &server{t0: srv.t0, base: srv.base + int64(d), ppm: srv.ppm}
				lastBogus[name] = true
				reply(c, l, name, bogus, rtt, rng.Float64())
			default:
				lastBogus[name] = false
				reply(c, l, name, srv, rtt, rng.Float64())
			}
			known := map[string]*server{}
			for n, s := range srvs {
				if _, _, ok := c.For(n); ok {
					known[n] = s
				}
			}
			check(t, c, l, known)
		}
	}
}

// TestConcurrent observes and queries from many goroutines at once, on
// real time, against three servers up to 2 s apart; run it with -race.
// Upper must never fall behind a server's clock.
func TestConcurrent(t *testing.T) {
	c := clock.New(nil)
	offs := map[string]time.Duration{"": 0, "a:1": 2 * time.Second, "b:1": -time.Second}
	redisMs := func(src string) int64 { return time.Now().Add(offs[src]).UnixMilli() }
	for src := range offs {
		sent := c.Local()
		c.Observe(src, sent, c.Local(), redisMs(src))
	}
	var wg sync.WaitGroup
	deadline := time.Now().Add(300 * time.Millisecond)
	errs := make(chan string, 16)
	for g := range 8 {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				src := []string{"", "a:1", "b:1"}[(g+i)%3]
				sent := c.Local()
				ms := redisMs(src)
				if i%97 == 0 {
					ms += 900 // a bogus reply now and then
				}
				c.Observe(src, sent, c.Local(), ms)

				truth := time.Now().Add(2 * time.Second).UnixNano()
				up, ok := c.Upper()
				if !ok || up*1e6 < truth {
					errs <- "Upper behind the fastest server"
					return
				}
				truth = time.Now().Add(offs[src]).UnixNano()
				if ms, bound, ok := c.For(src); !ok || ms*1e6+int64(bound) < truth {
					errs <- "For behind its server"
					return
				}
				c.Need(src)
				c.Lower()
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestAllocs: the hot path allocates nothing when a sample is no better.
func TestAllocs(t *testing.T) {
	l := &local{t: time.Now()}
	c := clock.New(l.now)
	srv := newServer(l, time.Unix(1_700_000_000, 0), 0)
	for _, src := range []string{"", "a:1", "b:1"} {
		reply(c, l, src, srv, 100*time.Microsecond, 0.5)
	}
	sent := l.t
	recv := sent.Add(2 * time.Millisecond)
	ms := srv.ms(sent.Add(time.Millisecond))
	for name, f := range map[string]func(){
		"Observe": func() { c.Observe("a:1", sent, recv, ms) },
		"For":     func() { c.For("a:1") },
		"Upper":   func() { c.Upper() },
		"Lower":   func() { c.Lower() },
		"Need":    func() { c.Need("a:1") },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocations per call", name, n)
		}
	}
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
