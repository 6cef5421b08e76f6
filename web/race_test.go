package web_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/internal/inspect"
	"github.com/attrcache/attrcache/web"
)

// gate holds the next script call of one session-script operation, once
// armed, before it is sent: a step of a Rotate caught half-way ("commit",
// "retire", "activate" for an unbound session, "move" for a bound one;
// see attrcache/rotate.go and attrcache/lua/session.lua).
type gate struct {
	op      string
	armed   atomic.Bool
	held    chan struct{} // receives once a call is held
	release chan struct{} // closed to let it go
}

func newGate(op string) *gate {
	g := &gate{op: op, held: make(chan struct{}, 1), release: make(chan struct{})}
	g.armed.Store(true)
	return g
}

func (g *gate) DialHook(next redis.DialHook) redis.DialHook { return next }
func (g *gate) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if scriptOp(cmd, g.op) && g.armed.CompareAndSwap(true, false) {
			g.held <- struct{}{}
			<-g.release
		}
		return next(ctx, cmd)
	}
}
func (g *gate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// wait returns once the gate holds a call; the test fails if none comes.
func (g *gate) wait(t *testing.T) {
	t.Helper()
	select {
	case <-g.held:
	case <-time.After(5 * time.Second):
		t.Fatalf("no %q call came to be held", g.op)
	}
}

// hooks lets a test add a hook to a client that is already in use:
// go-redis's AddHook must not race with commands, so the app's client
// gets this one hook at start and tests set what it runs.
type hooks struct {
	mu sync.Mutex
	hs []redis.Hook
}

func (h *hooks) set(hs ...redis.Hook) {
	h.mu.Lock()
	h.hs = hs
	h.mu.Unlock()
}

func (h *hooks) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *hooks) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.mu.Lock()
		hs := h.hs
		h.mu.Unlock()
		f := next
		for i := len(hs) - 1; i >= 0; i-- {
			f = hs[i].ProcessHook(f)
		}
		return f(ctx, cmd)
	}
}
func (h *hooks) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// liveKeys returns the keys of sessions that could still be used, or
// become usable: live, rotating (frozen, and thawed on failure) or
// pending (a rotation's new id, made live by its last step).
func liveKeys(t *testing.T, rdb *redis.Client) map[string]string {
	t.Helper()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	live := map[string]string{}
	for _, key := range keys {
		info, err := inspect.Read(ctx, rdb, key, time.Now().UnixMilli())
		if err != nil {
			t.Fatal(err)
		}
		switch info.State {
		case "live", "rotating", "pending":
			live[key] = info.State
		}
	}
	return live
}

// ledger is every session id a browser was given, and the one that may
// still live.
type ledger struct {
	mu   sync.Mutex
	seen map[string]bool // id -> may live
}

func (l *ledger) saw(c *http.Cookie, mayLive bool) {
	if c == nil || c.Value == "" || c.MaxAge < 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[string]bool{}
	}
	l.seen[c.Value] = l.seen[c.Value] || mayLive
}

// check asserts that every id the ledger saw reads ErrSessionNotFound
// but those that may live, which must live; and that no session key
// other than theirs and those in before can still be used.
func (l *ledger) check(t *testing.T, a *app, raw *redis.Client, before map[string]string) {
	t.Helper()
	ctx := context.Background()
	allowed := map[string]bool{}
	for id, mayLive := range l.seen {
		sess := a.store.Session(id)
		_, err := sess.TTL(ctx)
		switch {
		case mayLive:
			allowed[sess.Key()] = true
			if err != nil {
				t.Errorf("session %s, which must live: %v", sess.ID(), err)
			}
		case !errors.Is(err, attrcache.ErrSessionNotFound):
			t.Errorf("session %s survived: TTL says %v", sess.ID(), err)
		}
	}
	for key, state := range liveKeys(t, raw) {
		if before[key] == "" && !allowed[key] {
			t.Errorf("a session key no browser holds is %s", state)
		}
	}
}

// raceApp is the app of the race tests, on conf with the extra routes: a
// client that hooks can be set on while it runs, and a raw client of the
// test's own.
func raceApp(t *testing.T, b backend, conf web.Config, extra ...func(a *app, mux *http.ServeMux)) (*app, *hooks, *redis.Client) {
	a := newApp(t, b, conf, extra...)
	h := &hooks{}
	a.rdb.AddHook(h)
	raw := b.newClient()
	t.Cleanup(func() { raw.Close() })
	return a, h, raw
}

// A Logout that answered 200 while a Rotate of its session was caught
// between two steps ends the session for good: the Rotate fails, and
// neither the old id nor the new one reads.
func TestLogoutDuringRotate(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		for _, op := range []string{"commit", "retire", "activate"} {
			t.Run(op, func(t *testing.T) {
				a, h, raw := raceApp(t, b, cfg(time.Hour, time.Hour))
				before := liveKeys(t, raw)
				var l ledger
				ck := a.login("alice")
				l.saw(ck, false)

				var out reply
				rot := rotateAround(t, a, h, op, ck, func() { out = a.do("POST", "/logout", send(ck)) })
				a.want(out, http.StatusOK, "logout during the rotation")
				l.saw(rot.cookie, false)
				if rot.status == http.StatusOK || rot.cookie != nil {
					t.Errorf("Rotate, its %s held across a logout: %d %q, cookie set %t; want it refused", op, rot.status, rot.body, rot.cookie != nil)
				}
				l.check(t, a, raw, before)
			})
		}
	})
}

// A Login with the same cookie while a Rotate is caught between two
// steps ends the old session, and so the rotation: only the Login's new
// session lives.
func TestLoginDuringRotate(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		for _, op := range []string{"commit", "retire", "activate"} {
			t.Run(op, func(t *testing.T) {
				a, h, raw := raceApp(t, b, cfg(time.Hour, time.Hour))
				before := liveKeys(t, raw)
				var l ledger
				ck := a.login("alice")
				l.saw(ck, false)

				var in reply
				rot := rotateAround(t, a, h, op, ck, func() { in = a.do("POST", "/login?user=bob", send(ck)) })
				a.want(in, http.StatusOK, "login during the rotation")
				l.saw(in.cookie, true)
				l.saw(rot.cookie, false)
				if rot.status == http.StatusOK || rot.cookie != nil {
					t.Errorf("Rotate, its %s held across a login: %d %q, cookie set %t; want it refused", op, rot.status, rot.body, rot.cookie != nil)
				}
				if rep := a.do("GET", "/user", send(in.cookie)); rep.status != http.StatusOK || rep.body != "bob" {
					t.Errorf("the login's session: %d %q", rep.status, rep.body)
				}
				l.check(t, a, raw, before)
			})
		}
	})
}

// rotateAround starts a Rotate of ck's session (POST /sudo), holds it
// before its op step, runs during, lets it go on, and returns its reply.
func rotateAround(t *testing.T, a *app, h *hooks, op string, ck *http.Cookie, during func()) reply {
	t.Helper()
	g := newGate(op)
	h.set(g)
	rotated := make(chan reply, 1)
	go func() {
		rep, err := a.try("POST", "/sudo", send(ck))
		if err != nil {
			t.Error(err)
		}
		rotated <- rep
	}()
	g.wait(t)
	during()
	close(g.release)
	rot := <-rotated
	h.set()
	return rot
}

// raceRounds is how many times TestRotateLogoutRace races a Rotate with
// a Logout.
const raceRounds = 300

// Rotate and Logout of one session, sent at once, raceRounds times: a
// Logout that answered 200 leaves no session behind, whichever came
// first.
func TestRotateLogoutRace(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		a, _, raw := raceApp(t, b, cfg(time.Hour, time.Hour))
		spread := rotateTime(t, a)
		before := liveKeys(t, raw)
		var l ledger
		outcomes := map[int]int{} // Rotate's status -> rounds
		for range raceRounds {
			ck := a.login("alice")
			l.saw(ck, false)
			var (
				wg       sync.WaitGroup
				go1      = make(chan struct{})
				rot, out reply
				rerr     error
				oerr     error
			)
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-go1
				rot, rerr = a.try("POST", "/sudo", send(ck))
			}()
			go func() {
				defer wg.Done()
				<-go1
				// A Rotate is several commands and a Logout one: a
				// delay of up to a Rotate's time lets the Logout land on
				// each of its steps.
				time.Sleep(time.Duration(rand.Int64N(int64(spread))))
				out, oerr = a.try("POST", "/logout", send(ck))
			}()
			close(go1)
			wg.Wait()
			if rerr != nil || oerr != nil {
				t.Fatal(rerr, oerr)
			}
			a.want(out, http.StatusOK, "logout racing a rotation")
			l.saw(rot.cookie, false)
			outcomes[rot.status]++
			if rot.status != http.StatusOK && rot.status != http.StatusUnauthorized {
				t.Errorf("Rotate racing a logout: %d %q", rot.status, rot.body)
			}
		}
		l.check(t, a, raw, before)
		t.Logf("%d rounds, Logout sent up to %v after Rotate; Rotate answered %v", raceRounds, spread, outcomes)
	})
}

// rotateTime is how long a Rotate through the Manager takes here: the
// median of a few.
func rotateTime(t *testing.T, a *app) time.Duration {
	t.Helper()
	var ds []time.Duration
	for range 9 {
		ck := a.login("carol")
		r := httptest.NewRequest("POST", "/", nil)
		r.AddCookie(send(ck))
		start := time.Now()
		if _, err := a.m.Rotate(httptest.NewRecorder(), r); err != nil {
			t.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}
