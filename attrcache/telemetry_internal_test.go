package attrcache

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
)

// requireUnsetGlobals stops a test that needs the global providers as
// otel starts them: a test of this binary that installs one must do it in
// a child process (see TestGlobalProviderInstalledAfterNew).
func requireUnsetGlobals(t testing.TB) {
	t.Helper()
	if otel.GetTracerProvider() != unsetTracerProvider || otel.GetMeterProvider() != unsetMeterProvider {
		t.Fatal("a global OpenTelemetry provider is installed in this test binary; install them in a child process")
	}
}

// instrumentationOff takes the Store's telemetry out altogether, as if it
// were compiled out: the reference the no-provider path is held to.
func instrumentationOff(st *Store) {
	st.tel.tracer = nil
	st.tel.meterOn = false
}

// TestNoProviderAddsNoAllocation checks the promise that a user who
// configures no provider pays no allocation: the call bookkeeping alone
// allocates nothing, for success, answers and faults, and a whole Get
// allocates exactly as much as one with the instrumentation taken out.
func TestNoProviderAddsNoAllocation(t *testing.T) {
	requireUnsetGlobals(t)
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	st, err := New(rdb)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sess, err := st.Start(ctx, "sid-allocs", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Create(ctx, "a", []byte("v")); err != nil {
		t.Fatal(err)
	}

	notFound := &NamesError{Err: ErrNotFound, Names: []string{"a"}}
	down := unavailable(context.DeadlineExceeded)
	for _, err := range []error{nil, notFound, down} {
		n := testing.AllocsPerRun(1000, func() {
			c := call{op: opGet, name: "a"}
			cctx := sess.store.tel.begin(ctx, &c, &sess.owner)
			_ = sess.store.finish(cctx, &c, &sess.owner, err)
		})
		if n != 0 {
			t.Errorf("begin and finish of a call ending in %v allocate %v times with no provider", err, n)
		}
	}

	get := func() {
		if _, err := sess.Get(ctx, "a"); err != nil {
			t.Fatal(err)
		}
	}
	withNone := testing.AllocsPerRun(500, get)
	off, err := New(rdb)
	if err != nil {
		t.Fatal(err)
	}
	instrumentationOff(off)
	offSess := off.Session("sid-allocs")
	withOff := testing.AllocsPerRun(500, func() {
		if _, err := offSess.Get(ctx, "a"); err != nil {
			t.Fatal(err)
		}
	})
	if withNone != withOff {
		t.Errorf("Get allocates %v times with no provider, %v with the instrumentation taken out", withNone, withOff)
	} else {
		t.Logf("Get allocates %v times, with no provider as without instrumentation", withNone)
	}
}
