package test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/test/redistest"
)

// Timeouts as go-redis v9.23 handles them, checked below:
//
//   - A context already done: the call returns ctx.Err() before sending
//     anything (context.Canceled or context.DeadlineExceeded).
//   - A context deadline while the reply is awaited: only with
//     ContextTimeoutEnabled: true does the deadline become the socket's
//     read deadline; the call then returns context.DeadlineExceeded
//     itself (errors.Is holds) and is not retried. Without it the socket
//     deadline is ReadTimeout alone and the call outlives its context.
//   - A context cancelled (no deadline) while the reply is awaited is not
//     noticed: the call waits for the reply or ReadTimeout.
//   - ReadTimeout passing is an i/o timeout, which go-redis retries: the
//     script is sent again on a new connection, and attrcache's call
//     token makes that harmless. When every attempt times out the caller
//     gets the i/o timeout (errors.Is(err, os.ErrDeadlineExceeded)).
//
// Whatever the error, a write is one script: the server ran all of it or
// none of it, possibly after the caller gave up.

const (
	slowDelay    = 1200 * time.Millisecond // proxy delay, above every deadline
	callDeadline = 300 * time.Millisecond
	batchSize    = 100
)

type timeoutRig struct {
	proxy  *redistest.Proxy
	direct *redis.Client
	ns     string
}

func newTimeoutRig(t *testing.T) *timeoutRig {
	t.Helper()
	srv := redistest.StartServer(t)
	r := &timeoutRig{proxy: redistest.NewProxy(t, srv.Addr()), direct: srv.Client(t), ns: "t-" + randHex(4)}
	// Load the scripts, so the calls under test are one EVALSHA each and
	// not a NOSCRIPT reply followed by EVAL.
	ctx := testCtx(t, 10*time.Second)
	s, err := newStore(t, r.direct).Start(ctx, "warm-up", time.Minute)
	must(t, err)
	must(t, s.CreateMany(ctx, batch("w")))
	return r
}

// store returns a store on a new client through the proxy; tune changes
// the client's options first.
func (r *timeoutRig) store(t *testing.T, tune func(o *redis.Options)) (*attrcache.Store, *redis.Client) {
	t.Helper()
	o := &redis.Options{Addr: r.proxy.Addr(), ContextTimeoutEnabled: true}
	if tune != nil {
		tune(o)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	st, err := attrcache.New(c, attrcache.WithNamespace(r.ns))
	must(t, err)
	return st, c
}

// batch is a CreateMany of batchSize attributes named prefix-NNN.
func batch(prefix string) []attrcache.Attr {
	out := make([]attrcache.Attr, batchSize)
	for i := range out {
		out[i] = attrcache.Attr{Name: fmt.Sprintf("%s-%03d", prefix, i), Value: []byte(strings.Repeat("v", 100))}
	}
	return out
}

// settle gives a request the proxy was still delaying time to reach the
// server, then closes every connection and waits until they are gone: the
// server will not see anything more of the call under test.
func (r *timeoutRig) settle(t *testing.T) {
	t.Helper()
	time.Sleep(slowDelay + 200*time.Millisecond)
	r.proxy.CloseAll()
	for i := 0; r.proxy.OpenConnections() > 0; i++ {
		if i > 500 {
			t.Fatal("proxy connections did not close within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// batchState reads the session with the raw reader and reports whether
// the batch named prefix is there: all of it, written once by one call
// (one modification time: one script run), or none of it. Anything in
// between fails the test.
func (r *timeoutRig) batchState(ctx context.Context, t *testing.T, key, prefix string) bool {
	t.Helper()
	rs, err := readRaw(ctx, r.direct, key)
	must(t, err)
	n, runs := 0, map[int64]bool{}
	for name, rec := range rs.attrs {
		if strings.HasPrefix(name, prefix+"-") {
			n++
			runs[rec.modified] = true
		}
	}
	switch {
	case n == 0:
		return false
	case n == batchSize && len(runs) == 1:
		return true
	}
	t.Fatalf("batch %s half-written: %d of %d attributes, from %d script runs", prefix, n, batchSize, len(runs))
	return false
}

// timed runs call and fails the test when it does not return within
// bound: a liveness bound, not a speed expectation.
func timed(t *testing.T, bound time.Duration, call func() error) (error, time.Duration) {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		return err, time.Since(start)
	case <-time.After(bound + 10*time.Second):
		t.Fatalf("call still running %v after it started", bound+10*time.Second)
	}
	return nil, 0
}

func TestTimeoutCancelledBeforeCall(t *testing.T) {
	t.Parallel()
	r := newTimeoutRig(t)
	st, _ := r.store(t, nil)
	ctx := testCtx(t, 20*time.Second)
	s, err := st.Start(ctx, "cancelled-"+randHex(8), time.Hour)
	must(t, err)
	before, err := readRaw(ctx, r.direct, s.Key())
	must(t, err)

	done, cancel := context.WithCancel(ctx)
	cancel()
	expired, cancel2 := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel2()
	for _, c := range []struct {
		ctx  context.Context
		want error
	}{{done, context.Canceled}, {expired, context.DeadlineExceeded}} {
		calls := map[string]error{
			"Create":     s.Create(c.ctx, "a", []byte("1")),
			"CreateMany": s.CreateMany(c.ctx, batch("b")),
			"Set":        s.Set(c.ctx, "a", []byte("1")),
			"Delete":     s.Delete(c.ctx, "x"),
			"End":        s.End(c.ctx),
			"Start":      func() error { _, err := st.Start(c.ctx, "cancelled-"+randHex(8), time.Hour); return err }(),
			"Get":        func() error { _, err := s.Get(c.ctx, "a"); return err }(),
		}
		for name, err := range calls {
			if !errors.Is(err, c.want) {
				t.Errorf("%s with a done context: %v, want %v", name, err, c.want)
			}
		}
	}
	after, err := readRaw(ctx, r.direct, s.Key())
	must(t, err)
	if len(after.attrs) != len(before.attrs) || after.marker != before.marker {
		t.Fatalf("calls with a done context changed the session")
	}
}

// TestTimeoutSlowServer puts a delay larger than the call's deadline on
// the replies, then on the requests. The call returns
// context.DeadlineExceeded promptly; go-redis does not resend it; and the
// batch is, once the delay has played out, all there or all absent.
func TestTimeoutSlowServer(t *testing.T) {
	t.Parallel()
	r := newTimeoutRig(t)
	st, c := r.store(t, nil)
	ctx := testCtx(t, 60*time.Second)

	for _, dir := range []string{"reply", "request"} {
		t.Run(dir, func(t *testing.T) {
			s, err := st.Start(ctx, "slow-"+dir+"-"+randHex(8), time.Hour)
			must(t, err)
			must(t, c.Ping(ctx).Err())
			calls0 := scriptCalls(ctx, t, r.direct)
			if dir == "reply" {
				r.proxy.SetDelay(slowDelay)
			} else {
				r.proxy.SetRequestDelay(slowDelay)
			}
			err, took := timed(t, callDeadline+time.Second, func() error {
				cctx, cancel := context.WithTimeout(ctx, callDeadline)
				defer cancel()
				return s.CreateMany(cctx, batch("b"))
			})
			r.proxy.SetDelay(0)
			r.proxy.SetRequestDelay(0)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("CreateMany past its deadline on a slow %s: %v, want context.DeadlineExceeded", dir, err)
			}
			if took > callDeadline+time.Second {
				t.Errorf("CreateMany with a %v deadline returned after %v", callDeadline, took)
			}
			r.settle(t)
			there := r.batchState(ctx, t, s.Key(), "b")
			if n := scriptCalls(ctx, t, r.direct) - calls0; n > 1 {
				t.Errorf("the server ran the script %d times: a context deadline must not be retried", n)
			}
			t.Logf("slow %s: CreateMany returned %q after %v; the batch is there afterwards: %v", dir, short(err), took.Round(time.Millisecond), there)
			// Calls work again, and agree with what the server holds.
			err = s.CreateMany(ctx, batch("b"))
			if there && !errors.Is(err, attrcache.ErrExists) || !there && err != nil {
				t.Fatalf("CreateMany again after the timeout: %v (batch there: %v)", err, there)
			}
		})
	}
}

// TestTimeoutCancelMidCall cancels a call's context (no deadline) while
// its reply is delayed. go-redis v9.23 turns only deadlines into socket
// deadlines, so the call is not interrupted: it returns when the reply
// arrives. Whatever it returns, it returns, and the batch is whole.
func TestTimeoutCancelMidCall(t *testing.T) {
	t.Parallel()
	r := newTimeoutRig(t)
	st, c := r.store(t, nil)
	ctx := testCtx(t, 30*time.Second)
	s, err := st.Start(ctx, "cancel-mid-"+randHex(8), time.Hour)
	must(t, err)
	must(t, c.Ping(ctx).Err())
	r.proxy.SetDelay(slowDelay)
	err, took := timed(t, slowDelay+time.Second, func() error {
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(callDeadline, cancel)
		return s.CreateMany(cctx, batch("b"))
	})
	r.proxy.SetDelay(0)
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("CreateMany cancelled mid-call: %v, want success or context.Canceled", err)
	}
	if took > slowDelay+time.Second {
		t.Errorf("CreateMany cancelled mid-call returned after %v", took)
	}
	r.settle(t)
	there := r.batchState(ctx, t, s.Key(), "b")
	if err == nil && !there {
		t.Fatal("CreateMany reported success but the batch is absent")
	}
	t.Logf("cancelled after %v with the reply %v late: CreateMany returned %q after %v; batch there: %v",
		callDeadline, slowDelay, short(err), took.Round(time.Millisecond), there)
}

// TestTimeoutWithoutContextTimeout shows why callers should set
// ContextTimeoutEnabled: without it a deadline shorter than the server's
// delay does not end the call; ReadTimeout does.
func TestTimeoutWithoutContextTimeout(t *testing.T) {
	t.Parallel()
	r := newTimeoutRig(t)
	st, c := r.store(t, func(o *redis.Options) { o.ContextTimeoutEnabled = false })
	ctx := testCtx(t, 30*time.Second)
	s, err := st.Start(ctx, "no-ctx-timeout-"+randHex(8), time.Hour)
	must(t, err)
	must(t, c.Ping(ctx).Err())
	r.proxy.SetDelay(slowDelay)
	err, took := timed(t, slowDelay+time.Second, func() error {
		cctx, cancel := context.WithTimeout(ctx, callDeadline)
		defer cancel()
		return s.CreateMany(cctx, batch("b"))
	})
	r.proxy.SetDelay(0)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("CreateMany: %v", err)
	}
	r.settle(t)
	there := r.batchState(ctx, t, s.Key(), "b")
	t.Logf("ContextTimeoutEnabled false, deadline %v, reply %v late: CreateMany returned %q after %v; batch there: %v",
		callDeadline, slowDelay, short(err), took.Round(time.Millisecond), there)
}

// TestTimeoutReadTimeoutResends sets ReadTimeout below the delay of the
// first reply, and no context deadline: the read times out, go-redis
// resends the script on a new connection (a timeout is retried), and that
// one is answered. The server ran the script twice; the caller sees one
// successful call and the batch is there once, written by the first run.
func TestTimeoutReadTimeoutResends(t *testing.T) {
	t.Parallel()
	r := newTimeoutRig(t)
	const readTimeout, backoff = 300 * time.Millisecond, 200 * time.Millisecond
	st, c := r.store(t, func(o *redis.Options) {
		o.ReadTimeout = readTimeout
		o.MaxRetries = 1
		o.MinRetryBackoff, o.MaxRetryBackoff = backoff, backoff
	})
	ctx := testCtx(t, 30*time.Second)
	s, err := st.Start(ctx, "read-timeout-"+randHex(8), time.Hour)
	must(t, err)
	must(t, c.Ping(ctx).Err())
	calls0 := scriptCalls(ctx, t, r.direct)
	r.proxy.SetDelay(slowDelay)
	// Only the first reply is late: the delay is gone before the resend.
	time.AfterFunc(readTimeout+backoff/2, func() { r.proxy.SetDelay(0) })
	err, took := timed(t, readTimeout+backoff+time.Second, func() error { return s.CreateMany(ctx, batch("b")) })
	if err != nil {
		t.Fatalf("CreateMany whose first reply came after ReadTimeout: %v, want success from the resend", err)
	}
	r.settle(t)
	if n := scriptCalls(ctx, t, r.direct) - calls0; n != 2 {
		t.Errorf("the server ran the script %d times, want 2 (a read timeout is retried)", n)
	}
	if !r.batchState(ctx, t, s.Key(), "b") {
		t.Fatal("the batch is absent after a successful CreateMany")
	}
	t.Logf("ReadTimeout %v, first reply %v late: CreateMany resent and returned %q after %v; the batch is there once",
		readTimeout, slowDelay, short(err), took.Round(time.Millisecond))
}
