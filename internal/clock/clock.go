package clock

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// DriftPPM is the largest drift assumed between the local monotonic
	// clock and Redis's, in parts per million.
	DriftPPM = 100

	// RefreshAge is how long after a source was last heard from Need asks
	// for a sample in the background.
	RefreshAge = time.Minute

	// MaxAge is how long after a source was last heard from it is no
	// longer known: Need asks for a sample before going on, and For,
	// Upper and Lower leave it out.
	MaxAge = 10 * time.Minute
)

const (
	// refreshClaim is how long a Refresh handed out by Need holds before
	// another caller is handed one: long enough for a TIME with its
	// timeout, short enough that a failed one is soon tried again.
	refreshClaim = int64(5 * time.Second)

	// heardStep is the resolution of a source's last-heard time. Observe
	// writes it at most once per step, so that concurrent calls do not all
	// write the same word; ages are overstated by at most this much.
	heardStep = int64(time.Second)
)

// Need says what a caller should do before a call to a source.
type Need uint8

const (
	// Fresh: the source's estimate is recent; go on.
	Fresh Need = iota
	// Refresh: go on, and sample the source in the background. Need hands
	// it to one caller per source at a time.
	Refresh
	// Required: the source is not known (never sampled, or not heard from
	// for MaxAge); sample it before going on.
	Required
)

// String returns the Need's name.
func (n Need) String() string {
	switch n {
	case Fresh:
		return "fresh"
	case Refresh:
		return "refresh"
	case Required:
		return "required"
	}
	return "Need(?)"
}

// Clock is the estimate of the clocks of the Redis servers a process talks
// to. Make it with New; it is safe for concurrent use.
type Clock struct {
	now   func() time.Time
	epoch time.Time // local instants are kept as time since this one
	mono  bool      // now is time.Now: instant reads the monotonic clock only

	mu   sync.Mutex // serialises adding sources
	srcs atomic.Pointer[sourceSet]
}

// sourceSet is the sources known; replaced, never changed, when one is
// added.
type sourceSet struct {
	byName map[string]*source
	all    []*source
}

type source struct {
	state atomic.Pointer[state] // never nil once published
	heard atomic.Int64          // local instant of the latest sample
	claim atomic.Int64          // until when a Refresh handed out holds
}

// New returns a Clock that reads the local clock with now (time.Now when
// nil). Tests inject a clock minutes off; only the differences between its
// readings matter.
func New(now func() time.Time) *Clock {
	mono := now == nil
	if mono {
		now = time.Now
	}
	c := &Clock{now: now, epoch: now(), mono: mono}
	c.srcs.Store(&sourceSet{byName: map[string]*source{}})
	return c
}

// Local returns the local clock's reading, for Observe's sent and recv.
func (c *Clock) Local() time.Time { return c.now() }

func (c *Clock) local(t time.Time) int64 { return int64(t.Sub(c.epoch)) }

// instant is the local clock's reading now, as a local instant. With
// time.Now it is time.Since(epoch), which reads the monotonic clock
// alone: about half of what time.Now costs, on every read and write.
func (c *Clock) instant() int64 {
	if c.mono {
		return int64(time.Since(c.epoch))
	}
	return c.local(c.now())
}

// Observe records a reply from source src that carried Redis's time,
// redisMs (milliseconds since the Unix epoch), read at some instant
// between the local instants sent and recv. A reply with recv before sent
// or a time out of range is ignored.
func (c *Clock) Observe(src string, sent, recv time.Time, redisMs int64) {
	rtt := recv.Sub(sent)
	if rtt < 0 || redisMs < 0 || redisMs > maxRedisMs {
		return
	}
	half := int64(rtt / 2)
	at := c.local(sent) + half
	s := sample{at: at, off: redisMs*msNs - at, half: half}
	src0 := c.srcs.Load().byName[src]
	if src0 == nil {
		var added bool
		if src0, added = c.add(src, s); added {
			return
		}
	}
	// A source silent for MaxAge starts afresh, like a new one: its old
	// sample should not veto the first one of what may be another server.
	stale := at-src0.heard.Load() > int64(MaxAge)
	src0.hear(at)
	for {
		cur := src0.state.Load()
		var next *state
		if stale {
			next = &state{best: s}
		} else if next = cur.observe(s); next == nil {
			return
		}
		if src0.state.CompareAndSwap(cur, next) {
			return
		}
	}
}

// add returns source src, adding it with s as its first sample if it is
// new (then added is true). It also drops the sources not known any more.
func (c *Clock) add(src string, s sample) (_ *source, added bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.srcs.Load()
	if so := old.byName[src]; so != nil {
		return so, false
	}
	so := &source{}
	so.state.Store(&state{best: s})
	so.heard.Store(s.at)
	now := c.instant()
	set := &sourceSet{byName: make(map[string]*source, len(old.all)+1)}
	for name, o := range old.byName {
		if o.known(now) {
			set.byName[name] = o
			set.all = append(set.all, o)
		}
	}
	set.byName[strings.Clone(src)] = so
	set.all = append(set.all, so)
	c.srcs.Store(set)
	return so, true
}

// hear notes a sample at local instant at.
func (s *source) hear(at int64) {
	for {
		h := s.heard.Load()
		if at-h < heardStep || s.heard.CompareAndSwap(h, at) {
			return
		}
	}
}

// known says whether the source was heard from within MaxAge of now.
func (s *source) known(now int64) bool {
	return abs(now-s.heard.Load()) <= int64(MaxAge)
}

// For returns source src's clock now, in ms since the Unix epoch, and the
// bound on its error: Redis's clock is within [ms-bound, ms+bound] (round
// outward when converting the bound to ms). The bound covers pending
// candidates too (see the package doc). ok is false when src is not known.
func (c *Clock) For(src string) (ms int64, bound time.Duration, ok bool) {
	s := c.srcs.Load().byName[src]
	if s == nil {
		return 0, 0, false
	}
	now := c.instant()
	if !s.known(now) {
		return 0, 0, false
	}
	st := s.state.Load()
	ms = floorDiv(now+st.best.off, msNs)
	lo, hi := st.span(now)
	mid := ms * msNs
	return ms, time.Duration(max(hi-mid, mid-lo)), true
}

// Upper returns the latest time any known source's clock may read now, in
// ms since the Unix epoch, rounded up: a record whose expiry is at or
// before it may have expired on its server, and must read as absent. ok is
// false when no source is known.
func (c *Clock) Upper() (ms int64, ok bool) {
	return c.upperAt(c.instant())
}

// UpperNeed is Upper, and Need for src, on one reading of the local
// clock: what a read asks before it goes.
func (c *Clock) UpperNeed(src string) (ms int64, ok bool, need Need) {
	now := c.instant()
	ms, ok = c.upperAt(now)
	return ms, ok, c.needAt(src, now)
}

func (c *Clock) upperAt(now int64) (ms int64, ok bool) {
	var hi int64
	for _, s := range c.srcs.Load().all {
		if !s.known(now) {
			continue
		}
		_, h := s.state.Load().span(now)
		if !ok || h > hi {
			hi, ok = h, true
		}
	}
	if !ok {
		return 0, false
	}
	return ceilDiv(hi, msNs), true
}

// Lower returns the earliest time any known source's clock may read now,
// in ms since the Unix epoch, rounded down: no known source's clock has
// passed it yet. ok is false when no source is known.
func (c *Clock) Lower() (ms int64, ok bool) {
	now := c.instant()
	var lo int64
	for _, s := range c.srcs.Load().all {
		if !s.known(now) {
			continue
		}
		l, _ := s.state.Load().span(now)
		if !ok || l < lo {
			lo, ok = l, true
		}
	}
	if !ok {
		return 0, false
	}
	return floorDiv(lo, msNs), true
}

// Need says what to do before a call to source src: sample it first
// (Required), sample it in the background (Refresh), or nothing (Fresh).
// See the package doc.
func (c *Clock) Need(src string) Need {
	return c.needAt(src, c.instant())
}

func (c *Clock) needAt(src string, now int64) Need {
	s := c.srcs.Load().byName[src]
	if s == nil {
		return Required
	}
	age := abs(now - s.heard.Load())
	if age > int64(MaxAge) {
		return Required
	}
	if age <= int64(RefreshAge) && s.state.Load().n == 0 {
		return Fresh
	}
	until := s.claim.Load()
	if d := until - now; d > 0 && d <= refreshClaim {
		return Fresh // handed out already
	}
	if !s.claim.CompareAndSwap(until, now+refreshClaim) {
		return Fresh
	}
	return Refresh
}
