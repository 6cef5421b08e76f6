package test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/test/redistest"
	"github.com/attrcache/attrcache/test/suite"
)

// rotationGrace is how long the old id of a rotated session stays
// readable: attrcache's rotationGrace, which it does not export.
const rotationGrace = 10 * time.Second

// TestRotateFaults rotates sessions while a step's reply is lost (go-redis
// resends it) or the process dies after a step. Whatever happens: no
// attribute is readable under both ids past rotationGrace, none is lost
// when Rotate reported success, and the old id is dead afterwards.
func TestRotateFaults(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t)
	p := redistest.NewProxy(t, srv.Addr())
	direct := srv.Client(t)
	ns := "rot-" + randHex(4)
	observer, err := attrcache.New(direct, attrcache.WithNamespace(ns))
	must(t, err)

	cases := []struct {
		name      string
		dropAt    int
		crashFrom int
		retries   int
		wantOK    bool
	}{
		{name: "lost reply of the freeze", dropAt: 1, retries: 3, wantOK: true},
		{name: "lost reply of the read", dropAt: 2, retries: 3, wantOK: true},
		{name: "lost reply of the commit", dropAt: 3, retries: 3, wantOK: true},
		{name: "lost reply of the retire", dropAt: 4, retries: 3, wantOK: true},
		{name: "lost reply of the activation", dropAt: 5, retries: 3, wantOK: true},
		{name: "lost reply of the commit, no retries", dropAt: 3, retries: -1},
		{name: "crash after the freeze", crashFrom: 2, retries: 3},
		{name: "crash after the read", crashFrom: 3, retries: 3},
		{name: "crash after the commit", crashFrom: 4, retries: 3},
		{name: "crash after the retire", crashFrom: 5, retries: 3},
	}
	// Every case rotates first; then one wait for the grace serves them all.
	type outcome struct {
		name           string
		oldSid, newSid string
		ok             bool
	}
	var outcomes []outcome
	var last time.Time
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := testCtx(t, 60*time.Second)
			h := &stepFaults{proxy: p}
			o := srv.Options()
			o.Addr = p.Addr()
			o.MaxRetries = c.retries
			o.MinRetryBackoff, o.MaxRetryBackoff = 50*time.Millisecond, 50*time.Millisecond
			cl := redis.NewClient(o)
			t.Cleanup(func() { _ = cl.Close() })
			st, err := attrcache.New(cl, attrcache.WithNamespace(ns), attrcache.WithCipher(suite.TinkCipher(t)))
			must(t, err)
			oldSid, newSid := "old-"+randHex(8), "new-"+randHex(8)
			s, err := st.Start(ctx, oldSid, time.Hour)
			must(t, err)
			var batch []attrcache.Attr
			for i := range 20 {
				batch = append(batch, attrcache.Attr{Name: fmt.Sprintf("a%02d", i), Value: []byte(fmt.Sprint(i))})
			}
			must(t, s.CreateMany(ctx, batch))
			must(t, s.Create(ctx, "sealed", []byte("secret"), attrcache.WithEncryption()))
			must(t, cl.Ping(ctx).Err()) // the connection is open: the drop hits a step
			cl.AddHook(h)
			h.dropAt, h.crashFrom = c.dropAt, c.crashFrom

			rotated, err := s.Rotate(ctx, newSid)
			last = time.Now()
			switch {
			case c.wantOK && err != nil:
				t.Fatalf("Rotate: %v, want success", err)
			case !c.wantOK && err == nil:
				t.Fatal("Rotate succeeded, want an error")
			}
			oldNames, oldErr := observer.Session(oldSid).Names(ctx)
			newNames, newErr := observer.Session(newSid).Names(ctx)
			t.Logf("Rotate: %v\nold id: %d names (%v); new id: %d names (%v)", err, len(oldNames), oldErr, len(newNames), newErr)
			if err == nil {
				// Success: the new id holds everything, the sealed value
				// opens under it (unless the process is playing dead).
				if len(newNames) != 21 {
					t.Fatalf("the new id holds %d attributes after a successful Rotate, want 21", len(newNames))
				}
				e, err := rotated.Get(ctx, "sealed")
				if !errors.Is(err, errCrashed) {
					must(t, err)
					if string(e.Value) != "secret" {
						t.Fatal("the sealed value did not survive the rotation")
					}
				}
			}
			if newErr == nil && len(newNames) != 21 {
				t.Fatalf("the new id holds %d of 21 attributes: half-moved", len(newNames))
			}
			outcomes = append(outcomes, outcome{c.name, oldSid, newSid, err == nil})
		})
	}

	// After the grace, the old id is dead, whatever happened; the new id
	// holds everything or nothing, and everything when Rotate succeeded.
	time.Sleep(time.Until(last.Add(rotationGrace + 200*time.Millisecond)))
	ctx := testCtx(t, 30*time.Second)
	for _, o := range outcomes {
		if _, err := observer.Session(o.oldSid).Names(ctx); !errors.Is(err, attrcache.ErrSessionNotFound) {
			t.Errorf("%s: the old id after the grace: %v, want ErrSessionNotFound", o.name, err)
		}
		names, err := observer.Session(o.newSid).Names(ctx)
		switch {
		case err == nil && len(names) != 21:
			t.Errorf("%s: the new id holds %d of 21 attributes: half-moved", o.name, len(names))
		case err != nil && !errors.Is(err, attrcache.ErrSessionNotFound):
			t.Errorf("%s: %v", o.name, err)
		case err != nil && o.ok:
			t.Errorf("%s: the new id is gone after a successful Rotate", o.name)
		}
	}
}

// TestRotateCleanup: when Rotate cannot tell whether the new session was
// made, it ends both ids at once instead of waiting for the grace.
func TestRotateCleanup(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t)
	p := redistest.NewProxy(t, srv.Addr())
	o := srv.Options()
	o.Addr = p.Addr()
	o.MaxRetries = -1
	cl := redis.NewClient(o)
	t.Cleanup(func() { _ = cl.Close() })
	ns := "rot-" + randHex(4)
	st, err := attrcache.New(cl, attrcache.WithNamespace(ns))
	must(t, err)
	observer, err := attrcache.New(srv.Client(t), attrcache.WithNamespace(ns))
	must(t, err)
	ctx := testCtx(t, 30*time.Second)
	oldSid, newSid := "old-"+randHex(8), "new-"+randHex(8)
	s, err := st.Start(ctx, oldSid, time.Hour)
	must(t, err)
	must(t, s.Create(ctx, "a", []byte("1")))
	must(t, cl.Ping(ctx).Err())
	cl.AddHook(&stepFaults{proxy: p, dropAt: 3})
	_, err = s.Rotate(ctx, newSid)
	if !errors.Is(err, attrcache.ErrUnavailable) {
		t.Fatalf("Rotate with the commit's reply lost and no retries: %v, want ErrUnavailable", err)
	}
	for _, sid := range []string{oldSid, newSid} {
		if _, err := observer.Session(sid).Get(ctx, "a"); !errors.Is(err, attrcache.ErrSessionNotFound) {
			t.Fatalf("an id right after an uncertain Rotate: %v, want ErrSessionNotFound", err)
		}
	}
}
