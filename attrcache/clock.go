package attrcache

import (
	"context"
	"sync/atomic"
	"time"
)

// Expiry is judged on Redis's clock, so that every application instance
// agrees. Writes run in Redis and read its clock there; reads are plain
// commands, judged in Go against an estimate of that clock.
//
// The estimate comes from replies that carry Redis's time: every script
// returns the TIME it ran at, and a Store with no estimate yet sends one
// TIME first. A sample taken over a round trip of length r pins Redis's
// clock to within r/2 of the local instant halfway through, plus Redis's
// own millisecond truncation. The sample is carried forward on the local
// monotonic clock, so steps of the local wall clock (NTP, a VM resumed,
// a clock minutes off) do not matter; only the drift between the two
// clocks does, bounded here at 100 ppm (a minute costs 6 ms). The Store
// keeps the sample with the smallest error so far, and takes a newer one
// that disagrees with it by more than both errors (Redis's clock stepped,
// or another master of a cluster answered).
//
// The error bound is therefore under a millisecond plus half the round
// trip of the best sample; on a cluster, plus the largest disagreement
// seen between the clocks of its masters. Reads judge expiry against the upper end of
// the estimate (estimate + bound): an attribute or session is never read
// as live after its expiry; it may read as absent up to twice the bound
// before it, while a write would still see it.
type clock struct {
	now        func() time.Time // the local clock; tests inject one minutes off
	best       atomic.Pointer[clockSample]
	refreshing atomic.Bool
}

type clockSample struct {
	at    time.Time     // local instant halfway through the round trip
	redis int64         // Redis's clock at that instant, ms
	half  time.Duration // half the round trip
	skew  time.Duration // largest small disagreement seen between samples
}

const (
	clockDriftPPM = 100              // assumed worst drift between the clocks
	clockRefresh  = time.Minute      // after this, a read refreshes the sample in the background
	clockMaxAge   = 10 * time.Minute // after this, a call refreshes it before going on
)

// bound is the sample's error at local time t.
func (c *clockSample) bound(t time.Time) time.Duration {
	age := t.Sub(c.at)
	if age < 0 {
		age = -age
	}
	return c.half + c.skew + time.Millisecond + age*clockDriftPPM/1_000_000
}

// observe records that Redis's clock read redisMs at some instant between
// sent and recv (local times).
func (c *clock) observe(sent, recv time.Time, redisMs int64) {
	half := recv.Sub(sent) / 2
	if half < 0 {
		return
	}
	s := &clockSample{at: sent.Add(half), redis: redisMs, half: half}
	for {
		cur := c.best.Load()
		if cur != nil {
			b := cur.bound(s.at)
			predicted := cur.redis + s.at.Sub(cur.at).Milliseconds()
			diff := time.Duration(predicted-redisMs) * time.Millisecond
			if diff < 0 {
				diff = -diff
			}
			agrees := diff <= b+s.half+time.Millisecond
			if agrees && s.half+cur.skew+time.Millisecond >= b {
				return // the current sample is at least as good
			}
			// Disagreements under a second are clocks of different
			// masters, kept in the bound; larger ones are a clock step.
			s.skew = cur.skew
			if !agrees && diff < time.Second && diff > s.skew {
				s.skew = diff
			}
		}
		if c.best.CompareAndSwap(cur, s) {
			return
		}
	}
}

// estimate returns Redis's clock now (ms) and the error bound; ok is
// false when no sample has been taken yet.
func (c *clock) estimate() (ms int64, bound time.Duration, ok bool) {
	s := c.best.Load()
	if s == nil {
		return 0, 0, false
	}
	t := c.now()
	return s.redis + t.Sub(s.at).Milliseconds(), s.bound(t), true
}

// ensure makes sure there is a sample fresh enough, taking one with TIME
// when there is none (a Store's first call) or it is very old, and
// refreshing an old one in the background. It returns the estimate.
func (c *clock) ensure(ctx context.Context, rdb Client) (ms int64, bound time.Duration, err error) {
	s := c.best.Load()
	if s == nil || c.now().Sub(s.at) > clockMaxAge {
		if err := c.sample(ctx, rdb); err != nil {
			return 0, 0, err
		}
	} else if c.now().Sub(s.at) > clockRefresh && c.refreshing.CompareAndSwap(false, true) {
		go func() {
			defer c.refreshing.Store(false)
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = c.sample(ctx, rdb)
		}()
	}
	ms, bound, _ = c.estimate()
	return ms, bound, nil
}

// sample takes one sample with TIME.
func (c *clock) sample(ctx context.Context, rdb Client) error {
	sent := c.now()
	t, err := rdb.Time(ctx).Result()
	if err != nil {
		return unavailable(err)
	}
	c.observe(sent, c.now(), t.UnixMilli())
	return nil
}
