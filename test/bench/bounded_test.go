package bench

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attrcache/attrcache/attrcache"
)

// fullAttrs and fullValueSize make a full session at the default limits:
// MaxAttributes (1,000) attributes whose names ("attr-0042", 9 bytes) and
// records (19-byte header and the value) take 524,000 bytes, just under
// MaxSessionBytes (512 KiB). A 500-byte value would cross it first.
const (
	fullAttrs     = 1000
	fullValueSize = 496
)

// fullSession starts a session of st (default limits) and fills it to
// MaxAttributes.
func (e *env) fullSession(b *testing.B, st *attrcache.Store) *session {
	b.Helper()
	sess := e.sessionOf(b, st)
	fill(b, sess, names(fullAttrs), value(fullValueSize))
	return sess
}

// BenchmarkFullSession: an add refused with ErrTooManyAttributes by a
// session holding MaxAttributes attributes of fullValueSize bytes (the
// default limits) vs an add accepted by a session holding getSessionSize
// of the same size. The limit is checked from counters in the session
// marker, so the refusal should cost no more than an accepted add. The
// small session grows by 8 attributes, then is filled again outside the
// timer.
func BenchmarkFullSession(b *testing.B) {
	e := newEnv(b)
	def := newStore(b, e.rdb)
	v := value(fullValueSize)
	b.Run("refused-add", func(b *testing.B) {
		sess := e.fullSession(b, def)
		loop(b, e.rdb, writeCmds, 0, nothing, func(int) error {
			return refused(sess.Create(ctx, "one-more", v))
		})
	})
	b.Run("accepted-add", func(b *testing.B) {
		const grow = 8
		sess := e.sessionOf(b, def)
		ns, more := names(getSessionSize), prefixed("more-", grow)
		loop(b, e.rdb, writeCmds, grow, func() {
			sess.empty(b)
			fill(b, sess, ns, v)
		}, func(i int) error {
			return sess.Create(ctx, more[i], v)
		})
	})
}

// refused returns nil for ErrTooManyAttributes, the outcome a full
// session must give, and an error for anything else.
func refused(err error) error {
	switch {
	case errors.Is(err, attrcache.ErrTooManyAttributes):
		return nil
	case err == nil:
		return errors.New("a full session accepted an add")
	}
	return err
}

// BenchmarkNoisyNeighbour: the latency of Get on one session (p99-ns/op
// is the figure) while, on another client, one goroutine loops
//
//   - quiet: nothing;
//   - refused-adds: adds to a full session (MaxAttributes attributes of
//     fullValueSize bytes), every one refused with ErrTooManyAttributes;
//   - ordinary-sets: Set on a session of getSessionSize attributes of
//     fullValueSize bytes, the control: on a 2-core machine any busy
//     neighbour takes CPU from the benchmark and from Redis, so a
//     refused add is judged against an ordinary write as well as against
//     quiet.
//
// It reports the neighbour's rate as neighbour-ops/s.
func BenchmarkNoisyNeighbour(b *testing.B) {
	e := newEnv(b)
	ns, v := names(getSessionSize), value(valueSize)
	victim := e.session(b)
	fill(b, victim, ns, v)
	other := newStore(b, e.client(b, nil))
	big := value(fullValueSize)
	full := e.fullSession(b, other)
	small := e.sessionOf(b, other)
	fill(b, small, ns, big)
	for _, c := range []struct {
		name  string
		noise func() error
	}{
		{"quiet", nil},
		{"refused-adds", func() error { return refused(full.Create(ctx, "one-more", big)) }},
		{"ordinary-sets", func() error { return small.Set(ctx, ns[0], big) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			stop := neighbour(b, c.noise)
			// No server time: the neighbour's scripts call HMGET too.
			loop(b, e.rdb, nil, 0, nothing, func(int) error {
				_, err := victim.Get(ctx, ns[getSessionSize/2])
				return err
			})
			stop()
		})
	}
}

// neighbour runs noise in a loop on its own goroutine until the returned
// stop is called; stop reports the loop's rate. A nil noise runs nothing.
func neighbour(b *testing.B, noise func() error) (stop func()) {
	b.Helper()
	if noise == nil {
		return func() {}
	}
	var (
		done  atomic.Bool
		ops   atomic.Int64
		wg    sync.WaitGroup
		fault atomic.Value
	)
	t0 := time.Now()
	wg.Go(func() {
		for !done.Load() {
			if err := noise(); err != nil {
				fault.Store(err)
				return
			}
			ops.Add(1)
		}
	})
	return func() {
		done.Store(true)
		wg.Wait()
		if err, ok := fault.Load().(error); ok {
			b.Fatalf("neighbour: %v", err)
		}
		b.ReportMetric(float64(ops.Load())/time.Since(t0).Seconds(), "neighbour-ops/s")
	}
}
