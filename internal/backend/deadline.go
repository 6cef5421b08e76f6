package backend

import (
	"context"
	"sync/atomic"
	"time"
)

// Deadlines hands out the shared deadlines of one backend. A bound that
// a client must see end (rueidis ends a call waiting in its pipeline when
// the context's Done channel closes, not at the Deadline it reports; the
// Store abandons a go-redis call without ContextTimeoutEnabled when it
// does) needs a real timer. context.WithDeadline arms one per call (four
// allocations, and a timer for the runtime to keep); at hundreds of
// thousands of calls a second that is a fifth of the throughput. Calls
// share one timer per step instead: their deadlines are rounded up to
// the step, which costs a call at most one step more than it asked.
type Deadlines struct {
	cur atomic.Pointer[step]
}

// DeadlineStep is how far a shared deadline may be past the one asked.
const DeadlineStep = 2 * time.Millisecond

// epoch is where every backend's steps count from: time.Since reads only
// the monotonic clock, at less than half the cost of time.Now.
var epoch = time.Now()

// step is one shared deadline: ctx ends at at.
type step struct {
	at     time.Time
	ctx    context.Context
	cancel context.CancelFunc // never called: the timer ends ctx at at
}

// stepAt returns the shared step that ends at or after epoch+since, less
// than two steps after it.
func (ds *Deadlines) stepAt(since time.Duration) *step {
	end := epoch.Add((since/DeadlineStep + 1) * DeadlineStep)
	s := ds.cur.Load()
	for s == nil || s.at.Before(end) || s.at.Sub(end) > DeadlineStep {
		ctx, cancel := context.WithDeadline(context.Background(), end)
		n := &step{at: end, ctx: ctx, cancel: cancel}
		if ds.cur.CompareAndSwap(s, n) {
			return n
		}
		cancel()
		s = ds.cur.Load()
	}
	return s
}

// Bound returns parent bounded by d: a shared step when parent can never
// be cancelled (see shared), and otherwise parent itself when it ends
// sooner or a context of its own (context.WithDeadline), so that the
// parent's end still ends the call.
func (ds *Deadlines) Bound(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if parent.Done() == nil {
		return ds.shared(parent, d, nil), noCancel
	}
	at := epoch.Add(time.Since(epoch) + d)
	if dl, ok := parent.Deadline(); ok && !dl.After(at) {
		return parent, noCancel
	}
	return context.WithDeadline(parent, at)
}

// shared returns parent bounded by d at a shared step, or parent itself
// when it ends sooner. The step's context (context.Background) or a
// stepCtx, in room when there is one, does not end with its parent: it
// is for a parent that never ends, or for a call abandon runs, which
// watches the parent itself.
func (ds *Deadlines) shared(parent context.Context, d time.Duration, room *Room) context.Context {
	since := time.Since(epoch) + d
	if dl, ok := parent.Deadline(); ok && !dl.After(epoch.Add(since)) {
		return parent
	}
	s := ds.stepAt(since)
	switch {
	case parent == context.Background():
		return s.ctx
	case room == nil:
		return &stepCtx{Context: parent, s: s}
	}
	room.step = stepCtx{Context: parent, s: s}
	return &room.step
}

// stepCtx is parent's values bounded by a shared step: its Done, Err and
// Deadline are the step's. Bound gives one only to a parent that can
// never be cancelled; a go-redis call without ContextTimeoutEnabled gets
// one whatever its parent, and abandon watches the parent's Done beside
// it.
type stepCtx struct {
	context.Context
	s *step
}

func (c *stepCtx) Deadline() (time.Time, bool) { return c.s.at, true }
func (c *stepCtx) Done() <-chan struct{}       { return c.s.ctx.Done() }
func (c *stepCtx) Err() error                  { return c.s.ctx.Err() }
