package web_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/web"
)

// private is a handler behind RequireSession: it answers "private", or
// "private: USER" when asked to read the user attribute, and counts its
// calls.
type private struct{ calls atomic.Int64 }

func (p *private) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.calls.Add(1)
	sess := web.FromContext(r.Context())
	if sess == nil {
		http.Error(w, "RequireSession let a request without a session through", http.StatusInternalServerError)
		return
	}
	if r.FormValue("read") == "" {
		w.Write([]byte("private"))
		return
	}
	e, err := sess.Get(r.Context(), "user")
	if err != nil {
		fail(w, err)
		return
	}
	w.Write([]byte("private: " + string(e.Value)))
}

// guarded is an app with /private behind RequireSession.
func guarded(t *testing.T, b backend, conf web.Config) (*app, *private) {
	p := &private{}
	a := newApp(t, b, conf, func(a *app, mux *http.ServeMux) {
		mux.Handle("/private", a.m.RequireSession(p))
	})
	return a, p
}

// noLeak fails when a reply shows the session id anywhere.
func noLeak(t *testing.T, rep reply, id string) {
	t.Helper()
	if strings.Contains(rep.body, id) {
		t.Errorf("the response body holds the session id")
	}
	for name, vals := range rep.header {
		for _, v := range vals {
			if strings.Contains(v, id) {
				t.Errorf("response header %s holds the session id", name)
			}
		}
	}
}

// A live session goes through, in one read; the handler gets its
// handle and pays only for its own reads.
func TestRequireSessionLive(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		a, p := guarded(t, b, cfg(time.Hour, time.Hour))
		ck := a.login("alice")
		for _, method := range []string{"GET", "HEAD", "POST"} {
			rep := a.do(method, "/private", send(ck))
			a.want(rep, http.StatusOK, method+" with a live session")
			if rep.cmds != 1 {
				t.Errorf("%s: %d commands, want 1 (the check)", method, rep.cmds)
			}
			if rep.header.Get("Cache-Control") != "no-store" || rep.header.Get("Vary") != "Cookie" {
				t.Errorf("%s: Cache-Control %q, Vary %q; want no-store and Cookie", method, rep.header.Get("Cache-Control"), rep.header.Get("Vary"))
			}
		}
		rep := a.do("GET", "/private?read=1", send(ck))
		if rep.status != http.StatusOK || rep.body != "private: alice" || rep.cmds != 2 {
			t.Errorf("handler that reads: %d %q, %d commands; want 200, its user, 2 (the check, the read)", rep.status, rep.body, rep.cmds)
		}
		if p.calls.Load() != 4 {
			t.Errorf("handler called %d times, want 4", p.calls.Load())
		}
	})
}

// Without a live session, whatever the reason, the handler is not
// called, the answer is a bare 401, the cookie is left alone, and
// nothing in the response names the session.
func TestRequireSessionRefused(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		const idle = 300 * time.Millisecond
		a, p := guarded(t, b, cfg(idle, time.Hour))
		ended := a.login("alice")
		a.want(a.do("POST", "/logout", send(ended)), http.StatusOK, "logout")
		rotated := a.login("bob")
		a.want(a.do("POST", "/sudo", send(rotated)), http.StatusOK, "rotation")
		expired := a.login("carol")
		a.advance(idle + 50*time.Millisecond)
		garbage := &http.Cookie{Name: ended.Name, Value: "not a session id"}
		for _, c := range []struct {
			name   string
			cookie *http.Cookie
			cmds   int64
		}{
			{"no cookie", nil, 0},
			{"malformed cookie", garbage, 0},
			{"logged out", send(ended), 1},
			{"rotated away", send(rotated), 1},
			{"expired", send(expired), 1},
		} {
			for _, method := range []string{"GET", "HEAD", "POST"} {
				rep := a.do(method, "/private", c.cookie)
				if rep.status != http.StatusUnauthorized || rep.cmds != c.cmds {
					t.Errorf("%s, %s: status %d, %d commands; want 401 and %d", c.name, method, rep.status, rep.cmds, c.cmds)
				}
				if method != "HEAD" && rep.body != "Unauthorized" {
					t.Errorf("%s, %s: body %q, want Unauthorized", c.name, method, rep.body)
				}
				if ct := rep.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
					t.Errorf("%s, %s: Content-Type %q", c.name, method, ct)
				}
				if rep.header.Get("Cache-Control") != "no-store" || rep.header.Get("Vary") != "Cookie" {
					t.Errorf("%s, %s: Cache-Control %q, Vary %q; want no-store and Cookie", c.name, method, rep.header.Get("Cache-Control"), rep.header.Get("Vary"))
				}
				if rep.header.Get("Set-Cookie") != "" {
					t.Errorf("%s, %s: the refusal set a cookie", c.name, method)
				}
				if c.cookie != nil {
					noLeak(t, rep, c.cookie.Value)
				}
			}
		}
		if n := p.calls.Load(); n != 0 {
			t.Errorf("the handler was called %d times", n)
		}
		if n := a.errs.Load(); n != 0 {
			t.Errorf("ErrorHandler called %d times for sessions that are simply gone", n)
		}
	})
}

// With a LoginURL, a GET or HEAD without a live session is sent to it
// with 303; other methods still get 401, and live sessions go through.
func TestRequireSessionLoginURL(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		conf := cfg(time.Hour, time.Hour)
		conf.LoginURL = "/login?from=private"
		a, p := guarded(t, b, conf)
		ck := a.login("alice")
		gone := a.login("bob")
		a.want(a.do("POST", "/logout", send(gone)), http.StatusOK, "logout")
		for _, c := range []struct {
			method string
			cookie *http.Cookie
			status int
		}{
			{"GET", nil, http.StatusSeeOther},
			{"HEAD", nil, http.StatusSeeOther},
			{"GET", send(gone), http.StatusSeeOther},
			{"POST", nil, http.StatusUnauthorized},
			{"PUT", send(gone), http.StatusUnauthorized},
			{"DELETE", nil, http.StatusUnauthorized},
			{"GET", send(ck), http.StatusOK},
			{"POST", send(ck), http.StatusOK},
		} {
			rep := a.do(c.method, "/private", c.cookie)
			if rep.status != c.status {
				t.Errorf("%s with cookie %t: status %d, want %d", c.method, c.cookie != nil, rep.status, c.status)
			}
			loc := rep.header.Get("Location")
			if (c.status == http.StatusSeeOther) != (loc == conf.LoginURL) {
				t.Errorf("%s with cookie %t: Location %q", c.method, c.cookie != nil, loc)
			}
			if c.status != http.StatusOK && rep.header.Get("Cache-Control") != "no-store" {
				t.Errorf("%s with cookie %t: Cache-Control %q", c.method, c.cookie != nil, rep.header.Get("Cache-Control"))
			}
			if c.cookie != nil {
				noLeak(t, rep, c.cookie.Value)
			}
		}
		if n := p.calls.Load(); n != 2 {
			t.Errorf("the handler was called %d times, want 2", n)
		}
	})
}

// When Redis cannot say whether the session lives, the answer is 503,
// never a redirect to log in; the ErrorHandler hears of it, and neither
// it nor the response holds the session id.
func TestRequireSessionUnavailable(t *testing.T) {
	for _, loginURL := range []string{"", "https://sso.example.com/login"} {
		conf := cfg(time.Hour, time.Hour)
		conf.LoginURL = loginURL
		a, p := guarded(t, miniBackend(t), conf)
		ck := a.login("alice")
		var on atomic.Bool
		a.rdb.AddHook(failReads(&on))
		on.Store(true)
		for _, method := range []string{"GET", "POST"} {
			rep := a.do(method, "/private", send(ck))
			if rep.status != http.StatusServiceUnavailable || rep.body != "Service Unavailable" || rep.header.Get("Location") != "" {
				t.Errorf("LoginURL %q, %s with Redis down: %d %q, Location %q; want 503", loginURL, method, rep.status, rep.body, rep.header.Get("Location"))
			}
			noLeak(t, rep, ck.Value)
		}
		if n := p.calls.Load(); n != 0 {
			t.Errorf("the handler was called %d times with Redis down", n)
		}
		if n := a.errs.Load(); n != 2 {
			t.Fatalf("ErrorHandler called %d times, want 2", n)
		}
		err, _ := a.lastErr.Load().(error)
		if !errors.Is(err, attrcache.ErrUnavailable) || !strings.Contains(err.Error(), "checking session "+a.store.Session(ck.Value).ID()) {
			t.Errorf("ErrorHandler got %v, want ErrUnavailable naming the session's digest", err)
		}
		if strings.Contains(err.Error(), ck.Value) {
			t.Errorf("the error holds the session id")
		}
		// Redis back: the same cookie goes through.
		on.Store(false)
		a.want(a.do("GET", "/private", send(ck)), http.StatusOK, "Redis back")
	}
}

// RequireSession works on a mux that is not behind the middleware, and
// behind it adds only its one read.
func TestRequireSessionWithoutHandler(t *testing.T) {
	a, _ := guarded(t, miniBackend(t), cfg(time.Hour, time.Hour))
	p := &private{}
	bare := httptest.NewServer(a.m.RequireSession(p))
	t.Cleanup(bare.Close)
	ck := a.login("alice")
	get := func(cookie *http.Cookie) (int, string, int64) {
		req, _ := http.NewRequest("GET", bare.URL+"/?read=1", nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		before := a.cmds.n.Load()
		resp, err := bare.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), a.cmds.n.Load() - before
	}
	if status, body, cmds := get(send(ck)); status != http.StatusOK || body != "private: alice" || cmds != 2 {
		t.Errorf("without Handler, a live session: %d %q, %d commands; want 200, its user, 2", status, body, cmds)
	}
	if status, _, cmds := get(nil); status != http.StatusUnauthorized || cmds != 0 {
		t.Errorf("without Handler, no cookie: %d, %d commands; want 401 and none", status, cmds)
	}
	// Behind Handler (the app's mux), RequireSession inside another
	// RequireSession checks once per layer, and no Handler runs twice.
	twice := httptest.NewServer(a.m.Handler(a.m.RequireSession(a.m.RequireSession(p))))
	t.Cleanup(twice.Close)
	before := a.cmds.n.Load()
	req, _ := http.NewRequest("GET", twice.URL, nil)
	req.AddCookie(send(ck))
	resp, err := twice.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := a.cmds.n.Load() - before; resp.StatusCode != http.StatusOK || n != 2 || len(resp.Header.Values("Vary")) != 1 {
		t.Errorf("nested: %d, %d commands, Vary %q; want 200, one read per check, one Vary", resp.StatusCode, n, resp.Header.Values("Vary"))
	}
}

// The check is a use of the session: a guarded page whose handler reads
// nothing still keeps the session alive, renewing it when due.
func TestRequireSessionRenews(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		const idle = time.Second
		a, _ := guarded(t, b, cfg(idle, time.Hour))
		ck := a.login("alice")
		start := time.Now()
		a.advanceTo(start, 300*time.Millisecond)
		if rep := a.do("GET", "/private", send(ck)); rep.status != http.StatusOK || rep.cmds != 2 {
			t.Fatalf("guarded page 300ms after login: %d, %d commands; want 200, the check and a renewal", rep.status, rep.cmds)
		}
		a.advanceTo(start, idle+100*time.Millisecond)
		a.want(a.do("GET", "/private", send(ck)), http.StatusOK, "a session kept alive by guarded pages, past its first deadline")
	})
}
