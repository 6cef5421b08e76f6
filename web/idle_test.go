package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/web"
)

// alive reports whether the session of cookie ck lives, asking Redis
// directly: a request through the app would be a use, and renew it.
func (a *app) alive(ck *http.Cookie) bool {
	a.t.Helper()
	_, err := a.store.Session(ck.Value).TTL(context.Background())
	switch {
	case err == nil:
		return true
	case errors.Is(err, attrcache.ErrSessionNotFound):
		return false
	}
	a.t.Fatal(err)
	return false
}

// TestIdlePromise: with the default IdleSlack, a session ends no earlier
// than 90% of IdleTimeout after the last request that used it, and no
// later than IdleTimeout, wherever that request fell between renewals.
// With IdleTimeout 1s each session is alive 0.85s after its last use
// and gone 1.15s after it. (Renewing only past half the idle timeout,
// the session last used 200ms after login would end 800ms after that.)
func TestIdlePromise(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		const idle = time.Second
		a := newApp(t, b, cfg(idle, time.Hour))
		lastUse := []time.Duration{20 * time.Millisecond, 200 * time.Millisecond, 600 * time.Millisecond}
		cookies := make([]*http.Cookie, len(lastUse))
		for i := range cookies {
			cookies[i] = a.login(fmt.Sprint("user", i))
		}
		start := time.Now()
		type check struct {
			at    time.Duration // after start
			i     int
			alive bool
		}
		var checks []check
		for i, at := range lastUse {
			a.advanceTo(start, at)
			rep := a.do("GET", "/user", send(cookies[i]))
			a.want(rep, http.StatusOK, "last use")
			end := time.Since(start)
			t.Logf("session used %v after login: %d commands", at, rep.cmds)
			checks = append(checks, check{end + 850*time.Millisecond, i, true}, check{end + 1150*time.Millisecond, i, false})
		}
		slices.SortFunc(checks, func(x, y check) int { return int(x.at - y.at) })
		for _, c := range checks {
			a.advanceTo(start, c.at)
			late := time.Since(start) - c.at
			got := a.alive(cookies[c.i])
			switch {
			case c.alive && !got && late < 50*time.Millisecond:
				t.Errorf("the session last used %v after login ended before 0.85 s of idleness", lastUse[c.i])
			case c.alive && !got:
				t.Logf("the session last used %v after login was checked %v late; not judged", lastUse[c.i], late)
			case !c.alive && got:
				t.Errorf("the session last used %v after login outlived its idle timeout by 0.15 s", lastUse[c.i])
			}
		}
	})
}

// TestIdleSlack: a request that used its session renews it when less
// than IdleTimeout-IdleSlack may be left, and only then; with ExactIdle,
// always, and the session ends IdleTimeout after its last use. A request
// that does not touch the session sends nothing whatever the setting.
func TestIdleSlack(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		const idle = time.Second
		for _, c := range []struct {
			name         string
			slack        time.Duration
			early, later int64 // commands of a read just after login, and 300ms after it
		}{
			{"default", 0, 1, 2},
			{"400ms", 400 * time.Millisecond, 1, 1},
			{"exact", web.ExactIdle, 2, 2},
		} {
			t.Run(c.name, func(t *testing.T) {
				conf := cfg(idle, time.Hour)
				conf.IdleSlack = c.slack
				a := newApp(t, b, conf)
				ck := a.login("alice")
				start := time.Now()
				if rep := a.do("GET", "/user", send(ck)); rep.status != http.StatusOK || rep.cmds != c.early {
					t.Fatalf("read just after login: status %d, %d commands, want %d", rep.status, rep.cmds, c.early)
				}
				for _, path := range []string{"/static", "/peek"} {
					if rep := a.do("GET", path, send(ck)); rep.cmds != 0 {
						t.Fatalf("GET %s, which does not touch the session, sent %d commands", path, rep.cmds)
					}
				}
				a.advanceTo(start, 300*time.Millisecond)
				if rep := a.do("GET", "/user", send(ck)); rep.status != http.StatusOK || rep.cmds != c.later {
					t.Fatalf("read 300ms after login: status %d, %d commands, want %d", rep.status, rep.cmds, c.later)
				}
				if c.slack != web.ExactIdle {
					return
				}
				// Every request that touched the session renewed it: reads,
				// writes, repeated at once.
				for _, r := range []struct{ method, path string }{{"GET", "/user"}, {"GET", "/me"}, {"POST", "/write?name=x"}, {"GET", "/user"}} {
					if rep := a.do(r.method, r.path, send(ck)); rep.status != http.StatusOK || rep.cmds != 2 {
						t.Fatalf("%s %s: status %d, %d commands, want 2 (the call, a renewal)", r.method, r.path, rep.status, rep.cmds)
					}
				}
				last := time.Now()
				a.want(a.do("GET", "/user", send(ck)), http.StatusOK, "last use")
				a.advanceTo(last, idle-50*time.Millisecond)
				if !a.alive(ck) {
					t.Fatalf("with ExactIdle, the session ended before IdleTimeout")
				}
				a.advanceTo(last, idle+150*time.Millisecond)
				if a.alive(ck) {
					t.Fatalf("the session outlived its idle timeout")
				}
			})
		}
	})
}

// TestRenewalsPerIdlePeriod: a user at work all the time costs at most
// IdleTimeout/IdleSlack renewals per idle timeout (plus the one a
// period's edge may cut in two), and the session lives on.
func TestRenewalsPerIdlePeriod(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		const idle, period = time.Second, 1500 * time.Millisecond
		for _, slack := range []time.Duration{0, 250 * time.Millisecond} {
			t.Run(fmt.Sprint("slack=", slack), func(t *testing.T) {
				conf := cfg(idle, time.Hour)
				conf.IdleSlack = slack
				a := newApp(t, b, conf)
				ck := a.login("alice")
				start := time.Now()
				requests, renewals := 0, 0
				for time.Since(start) < period {
					a.advance(20 * time.Millisecond)
					rep := a.do("GET", "/user", send(ck))
					a.want(rep, http.StatusOK, "a user at work")
					requests++
					if rep.cmds == 2 {
						renewals++
					}
				}
				// Renewals are at least IdleSlack apart on Redis's clock,
				// less the clock estimate's error (a few milliseconds).
				s := a.m.Config().IdleSlack
				most := int(time.Since(start)/(s-5*time.Millisecond)) + 1
				t.Logf("IdleSlack %v: %d renewals in %d requests over %v (at most %d allowed)", s, renewals, requests, time.Since(start).Round(time.Millisecond), most)
				if renewals == 0 || renewals > most {
					t.Fatalf("%d renewals, want 1 to %d", renewals, most)
				}
			})
		}
	})
}
