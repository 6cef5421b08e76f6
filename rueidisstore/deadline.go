package rueidisstore

import (
	"context"
	"sync/atomic"
	"time"
)

// rueidis ends a call that waits in its pipeline when the context's Done
// channel closes, not at the Deadline it reports, so a bound needs a real
// timer. context.WithDeadline arms one per call (four allocations, and a
// timer for the runtime to keep); at hundreds of thousands of calls a
// second that is a fifth of the throughput. Calls whose parent can never
// be cancelled share one timer per step instead: their deadlines are
// rounded up to the step, which costs a call at most one step more than
// it asked.
const deadlineStep = 2 * time.Millisecond

// deadlines hands out the shared deadlines of one backend.
type deadlines struct {
	cur atomic.Pointer[step]
}

// epoch is where every backend's steps count from: time.Since reads only
// the monotonic clock, at less than half the cost of time.Now.
var epoch = time.Now()

// step is one shared deadline: ctx ends at at.
type step struct {
	at     time.Time
	ctx    context.Context
	cancel context.CancelFunc // never called: the timer ends ctx at at
}

func noCancel() {}

// bound returns parent bounded by d.
func (ds *deadlines) bound(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	since := time.Since(epoch) + d
	at := epoch.Add(since)
	if dl, ok := parent.Deadline(); ok && !dl.After(at) {
		return parent, noCancel
	}
	if parent.Done() != nil {
		return context.WithDeadline(parent, at)
	}
	end := epoch.Add((since/deadlineStep + 1) * deadlineStep)
	s := ds.cur.Load()
	for s == nil || s.at.Before(end) || s.at.Sub(end) > deadlineStep {
		ctx, cancel := context.WithDeadline(context.Background(), end)
		n := &step{at: end, ctx: ctx, cancel: cancel}
		if ds.cur.CompareAndSwap(s, n) {
			s = n
			break
		}
		cancel()
		s = ds.cur.Load()
	}
	if parent == context.Background() {
		return s.ctx, noCancel
	}
	return &stepCtx{Context: parent, s: s}, noCancel
}

// stepCtx is a parent that is never cancelled (its values are kept)
// bounded by a shared step.
type stepCtx struct {
	context.Context
	s *step
}

func (c *stepCtx) Deadline() (time.Time, bool) { return c.s.at, true }
func (c *stepCtx) Done() <-chan struct{}       { return c.s.ctx.Done() }
func (c *stepCtx) Err() error                  { return c.s.ctx.Err() }
