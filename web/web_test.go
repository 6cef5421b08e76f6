package web_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/internal/inspect"
	"github.com/attrcache/attrcache/web"
)

func TestNewRefusesNonsense(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	store, err := attrcache.New(rdb)
	if err != nil {
		t.Fatal(err)
	}
	ok := cfg(30*time.Minute, 12*time.Hour)
	with := func(f func(*web.Config)) web.Config {
		c := ok
		f(&c)
		return c
	}
	for _, c := range []struct {
		name string
		cfg  web.Config
	}{
		{"no timeouts", web.Config{}},
		{"zero idle", with(func(c *web.Config) { c.IdleTimeout = 0 })},
		{"negative idle", with(func(c *web.Config) { c.IdleTimeout = -time.Second })},
		{"zero absolute", with(func(c *web.Config) { c.AbsoluteTimeout = 0 })},
		{"negative absolute", with(func(c *web.Config) { c.AbsoluteTimeout = -time.Hour })},
		{"absurd absolute", with(func(c *web.Config) { c.AbsoluteTimeout = attrcache.MaxExpiration + time.Hour })},
		{"idle above absolute", with(func(c *web.Config) { c.IdleTimeout = 13 * time.Hour })},
		{"SameSite=None, Insecure", with(func(c *web.Config) { c.SameSite = http.SameSiteNoneMode; c.Insecure = true })},
		{"SameSite default mode", with(func(c *web.Config) { c.SameSite = http.SameSiteDefaultMode })},
		{"SameSite out of range", with(func(c *web.Config) { c.SameSite = 9 })},
		{"name with a space", with(func(c *web.Config) { c.CookieName = "my session" })},
		{"name with '='", with(func(c *web.Config) { c.CookieName = "a=b" })},
		{"name with ';'", with(func(c *web.Config) { c.CookieName = "a;b" })},
		{"name not ASCII", with(func(c *web.Config) { c.CookieName = "séance" })},
		{"__Host- insecure", with(func(c *web.Config) { c.CookieName = "__Host-id"; c.Insecure = true })},
		{"__Host- with a path", with(func(c *web.Config) { c.CookieName = "__Host-id"; c.Path = "/app" })},
		{"__Host- with a domain", with(func(c *web.Config) { c.CookieName = "__host-id"; c.Domain = "example.com" })},
		{"__Secure- insecure", with(func(c *web.Config) { c.CookieName = "__Secure-id"; c.Insecure = true })},
		{"relative path", with(func(c *web.Config) { c.Path = "app" })},
		{"path with ';'", with(func(c *web.Config) { c.Path = "/a;b" })},
		{"path with a control character", with(func(c *web.Config) { c.Path = "/a\nb" })},
		{"bad domain", with(func(c *web.Config) { c.Domain = "exa mple.com" })},
		{"negative IdleSlack", with(func(c *web.Config) { c.IdleSlack = -time.Second })},
		{"IdleSlack above half the idle timeout", with(func(c *web.Config) { c.IdleSlack = 15*time.Minute + time.Millisecond })},
		{"LoginURL relative to the page", with(func(c *web.Config) { c.LoginURL = "login" })},
		{"LoginURL a query alone", with(func(c *web.Config) { c.LoginURL = "?login=1" })},
		{"LoginURL of another host, scheme-relative", with(func(c *web.Config) { c.LoginURL = "//evil.example/login" })},
		{"LoginURL with a backslash", with(func(c *web.Config) { c.LoginURL = "/\\evil.example/login" })},
		{"LoginURL with a space", with(func(c *web.Config) { c.LoginURL = "/log in" })},
		{"LoginURL with a newline", with(func(c *web.Config) { c.LoginURL = "/login\r\nSet-Cookie: x=y" })},
		{"LoginURL with DEL", with(func(c *web.Config) { c.LoginURL = "/login\x7f" })},
		{"LoginURL with a C1 control", with(func(c *web.Config) { c.LoginURL = "/login\u0085" })},
		{"LoginURL javascript:", with(func(c *web.Config) { c.LoginURL = "javascript:alert(1)" })},
		{"LoginURL ftp:", with(func(c *web.Config) { c.LoginURL = "ftp://example.com/login" })},
		{"LoginURL without a host", with(func(c *web.Config) { c.LoginURL = "https:///login" })},
		{"LoginURL opaque", with(func(c *web.Config) { c.LoginURL = "https:login" })},
		{"LoginURL with a password", with(func(c *web.Config) { c.LoginURL = "https://sso:hunter2@example.com/login" })},
		{"LoginURL not a URL", with(func(c *web.Config) { c.LoginURL = "https://example.com:port/login" })},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := web.New(store, c.cfg)
			if !errors.Is(err, attrcache.ErrInvalid) || m != nil {
				t.Fatalf("New: %v, want ErrInvalid", err)
			}
			if !strings.HasPrefix(err.Error(), "web: invalid Config: ") {
				t.Errorf("error %q does not say what is wrong where", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows a password", err)
			}
		})
	}
	if _, err := web.New(nil, ok); !errors.Is(err, attrcache.ErrInvalid) {
		t.Errorf("New(nil store): %v, want ErrInvalid", err)
	}

	m, err := web.New(store, ok)
	if err != nil {
		t.Fatal(err)
	}
	got := m.Config()
	if got.CookieName != web.DefaultHostCookieName || got.Path != "/" || got.SameSite != http.SameSiteLaxMode || got.Insecure || got.Domain != "" || got.Persist || got.IdleSlack != 3*time.Minute {
		t.Errorf("defaults: %+v", got)
	}
	for _, c := range []web.Config{
		with(func(c *web.Config) { c.CookieName = "__Host-id" }),
		with(func(c *web.Config) { c.CookieName = "__Secure-id"; c.Path = "/app"; c.Domain = "example.com" }),
		with(func(c *web.Config) { c.SameSite = http.SameSiteNoneMode }),
		with(func(c *web.Config) { c.SameSite = http.SameSiteStrictMode; c.Insecure = true }),
		with(func(c *web.Config) { c.IdleTimeout = c.AbsoluteTimeout }),
		with(func(c *web.Config) { c.IdleSlack = web.ExactIdle }),
		with(func(c *web.Config) { c.IdleSlack = time.Nanosecond }),
		with(func(c *web.Config) { c.IdleSlack = 15 * time.Minute }),
		with(func(c *web.Config) { c.LoginURL = "/login" }),
		with(func(c *web.Config) { c.LoginURL = "/login?next=%2Faccount#form" }),
		with(func(c *web.Config) { c.LoginURL = "https://sso.example.com/login" }),
		with(func(c *web.Config) { c.LoginURL = "HTTP://localhost:8080" }),
		with(func(c *web.Config) { c.LoginURL = "/connexion/é" }),
	} {
		if _, err := web.New(store, c); err != nil {
			t.Errorf("New(%+v): %v", c, err)
		}
	}
}

// Login sets a cookie whose attributes are the configuration's.
func TestLoginCookie(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		for _, c := range []struct {
			name     string
			cfg      web.Config
			secure   bool
			sameSite http.SameSite
			path     string
			maxAge   int
		}{
			{"defaults", cfg(30*time.Minute, time.Hour), true, http.SameSiteLaxMode, "/", 0},
			{"persistent", func() web.Config {
				c := cfg(90*time.Second, time.Hour)
				c.Persist = true
				return c
			}(), true, http.SameSiteLaxMode, "/", 90},
			{"persistent, rounded up", func() web.Config {
				c := cfg(1500*time.Millisecond, time.Hour)
				c.Persist = true
				return c
			}(), true, http.SameSiteLaxMode, "/", 2},
			{"strict, insecure, named, on a path", web.Config{
				CookieName: "id", Path: "/app", Insecure: true, SameSite: http.SameSiteStrictMode,
				IdleTimeout: time.Minute, AbsoluteTimeout: time.Hour,
			}, false, http.SameSiteStrictMode, "/app", 0},
			{"SameSite=None", func() web.Config {
				c := cfg(time.Minute, time.Hour)
				c.SameSite = http.SameSiteNoneMode
				return c
			}(), true, http.SameSiteNoneMode, "/", 0},
		} {
			t.Run(c.name, func(t *testing.T) {
				a := newApp(t, b, c.cfg)
				rep := a.do("POST", "/login?user=alice", nil)
				a.want(rep, http.StatusOK, "login")
				ck := rep.cookie
				if ck == nil {
					t.Fatalf("login set no %q cookie; Set-Cookie: %q", a.m.Config().CookieName, rep.header.Values("Set-Cookie"))
				}
				if !attrcache.ValidSessionID(ck.Value) {
					t.Errorf("cookie value of %d bytes is not a session id", len(ck.Value))
				}
				if ck.Secure != c.secure || !ck.HttpOnly || ck.SameSite != c.sameSite || ck.Path != c.path || ck.Domain != "" || ck.MaxAge != c.maxAge || !ck.Expires.IsZero() {
					t.Errorf("cookie %s: want Secure %t, HttpOnly, SameSite %v, Path %s, no Domain, MaxAge %d, no Expires",
						strings.Replace(ck.String(), ck.Value, "ID", 1), c.secure, c.sameSite, c.path, c.maxAge)
				}
				if got := rep.header.Get("Cache-Control"); got != "no-store" {
					t.Errorf("login response Cache-Control %q, want no-store", got)
				}
				if !strings.EqualFold(rep.header.Get("Vary"), "Cookie") {
					t.Errorf("login response Vary %q, want Cookie", rep.header.Get("Vary"))
				}
				a.want(a.do("GET", "/user", send(ck)), http.StatusOK, "request with the cookie")
			})
		}
	})
}

// A Config without a CookieName gets the strongest prefix its cookie can
// carry, and Login sets the cookie under that name; a cookie under
// another of the default names is no session, and costs nothing.
func TestDefaultCookieName(t *testing.T) {
	b := miniBackend(t)
	for _, c := range []struct {
		name         string
		insecure     bool
		domain, path string
		want         string
	}{
		{"Secure, host-only, Path /", false, "", "", "__Host-session"},
		{"Secure, host-only, Path / given", false, "", "/", "__Host-session"},
		{"Secure, a Domain", false, "example.com", "", "__Secure-session"},
		{"Secure, a Path", false, "", "/app", "__Secure-session"},
		{"Insecure", true, "", "", "session"},
		{"Insecure, a Domain and a Path", true, "example.com", "/app", "session"},
	} {
		t.Run(c.name, func(t *testing.T) {
			conf := cfg(time.Hour, time.Hour)
			conf.Insecure, conf.Domain, conf.Path = c.insecure, c.domain, c.path
			a := newApp(t, b, conf)
			if got := a.m.Config().CookieName; got != c.want {
				t.Fatalf("default CookieName %q, want %q", got, c.want)
			}
			rep := a.do("POST", "/login?user=alice", nil)
			a.want(rep, http.StatusOK, "login")
			if set := rep.header.Get("Set-Cookie"); !strings.HasPrefix(set, c.want+"=") || rep.cookie == nil {
				t.Fatalf("login set a cookie named %q, want %q", strings.SplitN(set, "=", 2)[0], c.want)
			}
			a.want(a.do("GET", "/user", send(rep.cookie)), http.StatusOK, "the cookie under its name")
			for _, other := range []string{web.DefaultHostCookieName, web.DefaultSecureCookieName, web.DefaultInsecureCookieName} {
				if other == c.want {
					continue
				}
				r := a.do("GET", "/user", &http.Cookie{Name: other, Value: rep.cookie.Value})
				if r.status != http.StatusUnauthorized || r.cmds != 0 {
					t.Errorf("the id under %q: status %d, %d commands; want 401 and none", other, r.status, r.cmds)
				}
			}
		})
	}
}

// The whole flow: login, a protected page, a rotation that keeps every
// attribute and refuses the old cookie, logout that refuses the cookie.
func TestFlow(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		c := cfg(time.Hour, 2*time.Hour)
		c.Persist = true
		a := newApp(t, b, c)
		ctx := context.Background()

		a.want(a.do("GET", "/me", nil), http.StatusUnauthorized, "protected page without a cookie")
		ck := a.login("alice")
		rep := a.do("GET", "/me", send(ck))
		a.want(rep, http.StatusOK, "protected page")
		if want := "csrf=csrf-seed\nnotice=welcome\nuser=alice"; rep.body != want {
			t.Fatalf("protected page shows %q, want %q", rep.body, want)
		}
		if rep.cookie != nil {
			t.Errorf("a request with plenty of time left set a cookie")
		}

		before, err := a.store.Session(ck.Value).GetAll(ctx, attrcache.WithoutDecryption())
		if err != nil {
			t.Fatal(err)
		}
		ttlBefore, err := a.store.Session(ck.Value).TTL(ctx)
		if err != nil {
			t.Fatal(err)
		}

		rep = a.do("POST", "/sudo", send(ck))
		a.want(rep, http.StatusOK, "rotation")
		nk := rep.cookie
		if nk == nil || nk.Value == ck.Value || !attrcache.ValidSessionID(nk.Value) {
			t.Fatalf("rotation did not set a new session id")
		}
		if nk.MaxAge != 3600 || !nk.Secure || !nk.HttpOnly || nk.Path != "/" || nk.SameSite != http.SameSiteLaxMode {
			t.Errorf("rotated cookie lost its attributes: %s", strings.Replace(nk.String(), nk.Value, "ID", 1))
		}
		if rep.header.Get("Cache-Control") != "no-store" {
			t.Errorf("rotation response Cache-Control %q, want no-store", rep.header.Get("Cache-Control"))
		}

		a.want(a.do("GET", "/me", send(ck)), http.StatusUnauthorized, "old cookie after rotation")
		a.want(a.do("POST", "/write?name=x", send(ck)), http.StatusUnauthorized, "write with the old cookie after rotation")
		rep = a.do("GET", "/me", send(nk))
		a.want(rep, http.StatusOK, "new cookie after rotation")
		if want := "csrf=csrf-seed\nnotice=welcome\nrole=admin\nuser=alice"; rep.body != want {
			t.Fatalf("after rotation the page shows %q, want %q", rep.body, want)
		}

		// Every attribute kept its times, expiry and encryption; the
		// encrypted one was sealed again for the new id.
		after, err := a.store.Session(nk.Value).GetAll(ctx, attrcache.WithoutDecryption())
		if err != nil {
			t.Fatal(err)
		}
		for name, e := range before {
			n := after[name]
			switch {
			case n == nil:
				t.Errorf("%s lost in the rotation", name)
			case !n.Created.Equal(e.Created) || !n.Modified.Equal(e.Modified) || !n.Expires.Equal(e.Expires) || n.Encrypted != e.Encrypted:
				t.Errorf("%s changed in the rotation: %+v, was %+v", name, n, e)
			case e.Encrypted && string(n.Value) == string(e.Value):
				t.Errorf("%s: the same ciphertext under the new id", name)
			}
		}
		if !before["csrf"].Encrypted || before["notice"].Expires.IsZero() {
			t.Fatalf("the test's attributes are not what it means to test: %v", before)
		}
		ttlAfter, err := a.store.Session(nk.Value).TTL(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ttlAfter > ttlBefore || ttlAfter < ttlBefore-5*time.Second {
			t.Errorf("rotation changed the session's lifetime: %v left, %v before", ttlAfter, ttlBefore)
		}

		rep = a.do("POST", "/logout", send(nk))
		a.want(rep, http.StatusOK, "logout")
		if rep.cookie == nil || rep.cookie.MaxAge >= 0 || rep.cookie.Value != "" || rep.cookie.Path != "/" || !rep.cookie.Secure || !rep.cookie.HttpOnly {
			t.Fatalf("logout did not expire the cookie: %v", rep.header.Values("Set-Cookie"))
		}
		if rep.header.Get("Cache-Control") != "no-store" {
			t.Errorf("logout response Cache-Control %q, want no-store", rep.header.Get("Cache-Control"))
		}
		a.want(a.do("GET", "/me", send(nk)), http.StatusUnauthorized, "replayed cookie after logout")
		a.want(a.do("GET", "/me", send(ck)), http.StatusUnauthorized, "replayed first cookie after logout")
		a.want(a.do("POST", "/sudo", send(nk)), http.StatusUnauthorized, "rotation of a logged-out session")
		if _, err := a.store.Session(nk.Value).TTL(ctx); !errors.Is(err, attrcache.ErrSessionNotFound) {
			t.Errorf("session after logout: %v, want ErrSessionNotFound", err)
		}
		// Logging out without a session expires the cookie and is no error.
		rep = a.do("POST", "/logout", nil)
		a.want(rep, http.StatusOK, "logout without a session")
		if rep.cookie == nil || rep.cookie.MaxAge >= 0 {
			t.Errorf("logout without a session did not expire the cookie")
		}
		if n := a.errs.Load(); n != 0 {
			t.Errorf("ErrorHandler called %d times", n)
		}
	})
}

// Login ends the session the request came with: an id is never carried
// across a login.
func TestLoginEndsPreviousSession(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		a := newApp(t, b, cfg(time.Hour, time.Hour))
		first := a.login("alice")
		rep := a.do("POST", "/login?user=bob", send(first))
		a.want(rep, http.StatusOK, "second login")
		if rep.cookie == nil || rep.cookie.Value == first.Value {
			t.Fatal("the second login kept the session id")
		}
		a.want(a.do("GET", "/me", send(first)), http.StatusUnauthorized, "first cookie after a second login")
		if rep := a.do("GET", "/user", send(rep.cookie)); rep.body != "bob" {
			t.Errorf("second session: %d %q", rep.status, rep.body)
		}
	})
}

// An idle session ends after its idle timeout; a session in use ends
// after its absolute timeout, however often it was renewed.
func TestTimeouts(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		t.Run("idle", func(t *testing.T) {
			a := newApp(t, b, cfg(300*time.Millisecond, time.Hour))
			ck := a.login("alice")
			a.want(a.do("GET", "/user", send(ck)), http.StatusOK, "fresh session")
			a.advance(350 * time.Millisecond)
			a.want(a.do("GET", "/user", send(ck)), http.StatusUnauthorized, "after the idle timeout")
		})
		t.Run("absolute", func(t *testing.T) {
			const idle, absolute = 400 * time.Millisecond, 1200 * time.Millisecond
			a := newApp(t, b, cfg(idle, absolute))
			// The session starts between t0 and t1; its absolute deadline
			// is between t0+absolute and t1+absolute.
			t0 := time.Now()
			ck := a.login("alice")
			t1 := time.Now()
			var lastOK time.Duration
			renewals := 0
			for {
				a.advance(50 * time.Millisecond)
				begin := time.Now()
				rep := a.do("GET", "/user", send(ck))
				end := time.Now()
				if rep.status == http.StatusOK {
					if begin.Sub(t1) > absolute {
						t.Fatalf("a request that began %v after login succeeded, past the absolute timeout %v", begin.Sub(t1), absolute)
					}
					lastOK = begin.Sub(t1)
					if rep.cmds == 2 {
						renewals++
					}
					continue
				}
				a.want(rep, http.StatusUnauthorized, "session past its end")
				// Reads judge expiry at the latest Redis's clock may read
				// (attrcache.Store.Now plus its bound), so a session may
				// read as ended up to the bound early, never late.
				_, bound, _ := a.store.Now()
				if end.Sub(t0) < absolute-bound {
					t.Fatalf("a session in use ended %v after login, before its absolute timeout %v less the clock's bound %v", end.Sub(t0), absolute, bound)
				}
				break
			}
			if lastOK < 2*idle || renewals < 2 {
				t.Fatalf("last success %v after login, after %d renewals: the renewals did not carry the session past its idle timeout %v", lastOK, renewals, idle)
			}
			a.want(a.do("GET", "/user", send(ck)), http.StatusUnauthorized, "after the absolute timeout")
		})
	})
}

// A request renews its session only when what it read showed less than
// IdleTimeout-IdleSlack left: one extra command then, none otherwise.
// A persistent cookie is sent again with the renewal.
func TestRenewal(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		for _, persist := range []bool{false, true} {
			t.Run(fmt.Sprintf("persist=%t", persist), func(t *testing.T) {
				const idle = time.Second
				c := cfg(idle, time.Hour)
				c.Persist = persist
				a := newApp(t, b, c)
				ck := a.login("alice")
				start := time.Now() // the session started before this
				rep := a.do("GET", "/user", send(ck))
				a.want(rep, http.StatusOK, "early request")
				if rep.cmds != 1 || rep.cookie != nil {
					t.Fatalf("a request just after login sent %d commands and cookie %t; want 1 and none", rep.cmds, rep.cookie != nil)
				}
				a.advanceTo(start, idle/2+100*time.Millisecond)
				rep = a.do("GET", "/static", send(ck))
				if rep.cmds != 0 || rep.cookie != nil {
					t.Fatalf("a request that does not touch the session sent %d commands", rep.cmds)
				}
				rep = a.do("GET", "/user", send(ck))
				a.want(rep, http.StatusOK, "late request")
				if rep.cmds != 2 {
					t.Fatalf("a request with less than IdleTimeout-IdleSlack left sent %d commands, want 2 (read, renew)", rep.cmds)
				}
				if persist != (rep.cookie != nil) {
					t.Fatalf("renewal with Persist %t: cookie sent %t", persist, rep.cookie != nil)
				}
				if persist && (rep.cookie.Value != ck.Value || rep.cookie.MaxAge != 1 || rep.header.Get("Cache-Control") != "no-store") {
					t.Fatalf("refreshed cookie: same id %t, MaxAge %d, Cache-Control %q",
						rep.cookie.Value == ck.Value, rep.cookie.MaxAge, rep.header.Get("Cache-Control"))
				}
				rep = a.do("GET", "/user", send(ck))
				if rep.cmds != 1 || rep.cookie != nil {
					t.Fatalf("the request after a renewal sent %d commands, cookie %t", rep.cmds, rep.cookie != nil)
				}
				// Past the deadline the session had before the renewal.
				a.advanceTo(start, idle+100*time.Millisecond)
				a.want(a.do("GET", "/user", send(ck)), http.StatusOK, "a renewed session past its first deadline")
			})
		}
	})
}

// A handler that reads its session only after it began its body gets the
// renewal after it returns: without a cookie for a session cookie, not at
// all for a persistent one, whose Max-Age could not be refreshed.
func TestLateRenewal(t *testing.T) {
	b := miniBackend(t)
	for _, persist := range []bool{false, true} {
		t.Run(fmt.Sprintf("persist=%t", persist), func(t *testing.T) {
			const idle = time.Second
			c := cfg(idle, time.Hour)
			c.Persist = persist
			a := newApp(t, b, c)
			ck := a.login("alice")
			a.advance(idle/2 + 100*time.Millisecond)
			rep := a.do("GET", "/body-first", send(ck))
			a.want(rep, http.StatusOK, "late read")
			want := int64(2)
			if persist {
				want = 1
			}
			if rep.cmds != want || rep.cookie != nil || rep.body != "the body first" {
				t.Fatalf("late read with Persist %t: %d commands (want %d), cookie %t, body %q", persist, rep.cmds, want, rep.cookie != nil, rep.body)
			}
		})
	}
}

// A renewal that fails is told to the ErrorHandler, naming the session by
// its digest, never its id; the response is the handler's.
func TestRenewalFailureReported(t *testing.T) {
	const idle = time.Second
	a := newApp(t, miniBackend(t), cfg(idle, time.Hour))
	ck := a.login("alice")
	var on atomic.Bool
	a.rdb.AddHook(failScripts(&on))
	on.Store(true)
	a.advance(idle/2 + 100*time.Millisecond)
	rep := a.do("GET", "/user", send(ck))
	a.want(rep, http.StatusOK, "a read whose renewal fails")
	if a.errs.Load() != 1 {
		t.Fatalf("ErrorHandler called %d times, want once", a.errs.Load())
	}
	err, _ := a.lastErr.Load().(error)
	if !errors.Is(err, attrcache.ErrUnavailable) || !strings.Contains(err.Error(), "renewing session "+a.store.Session(ck.Value).ID()) {
		t.Errorf("ErrorHandler got %v, want ErrUnavailable naming the session's digest", err)
	}
	if strings.Contains(err.Error(), ck.Value) {
		t.Errorf("the error holds the session id")
	}
}

// Garbage, overlong and empty cookies are no session: no error page, and
// not a single Redis command.
func TestBadCookies(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		a := newApp(t, b, cfg(time.Hour, time.Hour))
		good := a.login("alice")
		id, name := good.Value, good.Name
		// The last character of an id carries 4 bits and 2 bits of padding,
		// which NewSessionID leaves zero: 'B' (1) sets one.
		flip := []byte(id)
		flip[len(flip)-1] = 'B'
		for _, c := range []struct {
			name   string
			header string // the raw Cookie header; empty: none
		}{
			{"no cookie", ""},
			{"empty", name + "="},
			{"garbage", name + "=" + "not a session id, not at all"},
			{"quotes", name + `="` + id + `"x`},
			{"short", name + "=" + id[:42]},
			{"one too long", name + "=" + id + "A"},
			{"overlong", name + "=" + strings.Repeat("A", 8000)},
			{"outside the alphabet", name + "=" + strings.Repeat("*", 43)},
			{"standard base64", name + "=" + strings.Repeat("+/", 21) + "A"},
			{"padding bits set", name + "=" + string(flip)},
			{"other name", name + "x=" + id},
		} {
			t.Run(c.name, func(t *testing.T) {
				for _, path := range []string{"/me", "/user", "/peek"} {
					req, _ := http.NewRequest("GET", a.srv.URL+path, nil)
					if c.header != "" {
						req.Header.Set("Cookie", c.header)
					}
					before := a.cmds.n.Load()
					resp, err := a.srv.Client().Do(req)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					want := http.StatusUnauthorized // the app's "no session" page
					if path == "/peek" {
						want = http.StatusOK
					}
					if resp.StatusCode != want {
						t.Errorf("%s: status %d, want %d", path, resp.StatusCode, want)
					}
					if n := a.cmds.n.Load() - before; n != 0 {
						t.Errorf("%s: %d Redis commands for a request without a valid cookie", path, n)
					}
				}
			})
		}
		// A valid id among bad cookies of the same name is found.
		req, _ := http.NewRequest("GET", a.srv.URL+"/user", nil)
		req.Header.Set("Cookie", name+"=garbage; "+name+"="+id)
		resp, err := a.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("a valid cookie after a bad one of the same name: status %d", resp.StatusCode)
		}
	})
}

// The costs the middleware promises, counted: nothing for a request that
// does not touch the session, one command for one read.
func TestCommandsPerRequest(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		a := newApp(t, b, cfg(time.Hour, time.Hour))
		ck := a.login("alice")
		for _, c := range []struct {
			path   string
			cookie *http.Cookie
			want   int64
		}{
			{"/static", nil, 0},
			{"/static", send(ck), 0},
			{"/peek", send(ck), 0},
			{"/user", send(ck), 1},
			{"/me", send(ck), 1},
		} {
			for range 3 {
				rep := a.do("GET", c.path, c.cookie)
				if rep.status != http.StatusOK || rep.cmds != c.want {
					t.Errorf("GET %s with cookie %t: status %d, %d Redis commands, want 200 and %d", c.path, c.cookie != nil, rep.status, rep.cmds, c.want)
				}
			}
		}
	})
}

// Responses get the caching headers their use of the session calls for.
func TestCachingHeaders(t *testing.T) {
	a := newApp(t, miniBackend(t), cfg(time.Hour, time.Hour), func(a *app, mux *http.ServeMux) {
		mux.HandleFunc("/own-cache-control", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "private, max-age=60")
			w.Header().Set("Vary", "Accept-Encoding, cookie")
			_, _ = web.FromContext(r.Context()).Get(r.Context(), "user")
			w.Write([]byte("ok"))
		})
		mux.HandleFunc("/login-public", func(w http.ResponseWriter, r *http.Request) {
			if _, err := a.m.Login(w, r); err != nil {
				fail(w, err)
				return
			}
			w.Header().Set("Cache-Control", "public, max-age=600")
		})
		mux.HandleFunc("/flush", func(w http.ResponseWriter, r *http.Request) {
			_, _ = web.FromContext(r.Context()).Get(r.Context(), "user")
			http.NewResponseController(w).Flush()
			w.Header().Set("X-Late", "1") // too late: the headers are out
		})
	})
	ck := a.login("alice")
	for _, c := range []struct {
		path, method string
		cookie       *http.Cookie
		cache, vary  string
	}{
		{"/static", "GET", nil, "", ""},
		{"/static", "GET", send(ck), "", ""},
		{"/peek", "GET", nil, "", "Cookie"},
		{"/peek", "GET", send(ck), "no-store", "Cookie"},
		{"/own-cache-control", "GET", send(ck), "private, max-age=60", "Accept-Encoding, cookie"},
		{"/login-public", "POST", nil, "no-store", "Cookie"},
		{"/flush", "GET", send(ck), "no-store", "Cookie"},
	} {
		rep := a.do(c.method, c.path, c.cookie)
		if rep.status != http.StatusOK {
			t.Errorf("%s: status %d", c.path, rep.status)
		}
		if got := rep.header.Get("Cache-Control"); got != c.cache {
			t.Errorf("%s with cookie %t: Cache-Control %q, want %q", c.path, c.cookie != nil, got, c.cache)
		}
		if got := strings.Join(rep.header.Values("Vary"), ", "); got != c.vary {
			t.Errorf("%s with cookie %t: Vary %q, want %q", c.path, c.cookie != nil, got, c.vary)
		}
		if rep.header.Get("X-Late") != "" {
			t.Errorf("%s: a header set after the flush was sent", c.path)
		}
	}
}

// Login, Rotate and Logout after the response began cannot set their
// cookie: they say so, and Login and Rotate do nothing.
func TestCookieChangeAfterHeaders(t *testing.T) {
	var loginErr, rotateErr, logoutErr error
	a := newApp(t, miniBackend(t), cfg(time.Hour, time.Hour), func(a *app, mux *http.ServeMux) {
		mux.HandleFunc("/late", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("started\n"))
			_, loginErr = a.m.Login(w, r)
			_, rotateErr = a.m.Rotate(w, r)
			logoutErr = a.m.Logout(w, r)
		})
	})
	ck := a.login("alice")
	before := a.cmds.n.Load()
	rep := a.do("GET", "/late", send(ck))
	for name, err := range map[string]error{"Login": loginErr, "Rotate": rotateErr, "Logout": logoutErr} {
		if !errors.Is(err, attrcache.ErrInvalid) || !strings.Contains(err.Error(), "headers were sent") {
			t.Errorf("%s after the body began: %v, want ErrInvalid saying why", name, err)
		}
	}
	if rep.cookie != nil {
		t.Errorf("a cookie was set after the body began")
	}
	if n := a.cmds.n.Load() - before; n != 1 {
		t.Errorf("refused calls sent %d commands; only Logout's End should reach Redis", n)
	}
	// Logout still ended the session on the server.
	if _, err := a.store.Session(ck.Value).TTL(context.Background()); !errors.Is(err, attrcache.ErrSessionNotFound) {
		t.Errorf("session after a late Logout: %v, want ErrSessionNotFound", err)
	}
}

// Login, Rotate and Logout work without the middleware, from the cookie.
func TestWithoutHandler(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	store, err := attrcache.New(rdb)
	if err != nil {
		t.Fatal(err)
	}
	m, err := web.New(store, cfg(time.Hour, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	call := func(f func(w http.ResponseWriter, r *http.Request), cookie *http.Cookie) *http.Cookie {
		r := httptest.NewRequest("POST", "/", nil)
		if cookie != nil {
			r.AddCookie(send(cookie))
		}
		w := httptest.NewRecorder()
		f(w, r)
		for _, c := range w.Result().Cookies() {
			return c
		}
		t.Fatal("no cookie set")
		return nil
	}
	var sess *attrcache.Session
	ck := call(func(w http.ResponseWriter, r *http.Request) {
		if sess, err = m.Login(w, r); err != nil {
			t.Fatal(err)
		}
		if web.FromContext(r.Context()) != nil {
			t.Error("FromContext outside a Handler returned a session")
		}
	}, nil)
	ctx := context.Background()
	if err := sess.Set(ctx, "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	nk := call(func(w http.ResponseWriter, r *http.Request) {
		if _, err := m.Rotate(w, r); err != nil {
			t.Fatal(err)
		}
	}, ck)
	if e, err := store.Session(nk.Value).Get(ctx, "a"); err != nil || string(e.Value) != "1" {
		t.Fatalf("rotated without the middleware: %v", err)
	}
	if _, err := store.Session(ck.Value).Get(ctx, "a"); !errors.Is(err, attrcache.ErrSessionNotFound) {
		t.Fatalf("old id after rotation: %v", err)
	}
	gone := call(func(w http.ResponseWriter, r *http.Request) {
		if err := m.Logout(w, r); err != nil {
			t.Fatal(err)
		}
	}, nk)
	if gone.MaxAge >= 0 {
		t.Errorf("logout without the middleware kept the cookie")
	}
	if _, err := store.Session(nk.Value).Get(ctx, "a"); !errors.Is(err, attrcache.ErrSessionNotFound) {
		t.Fatalf("after logout: %v", err)
	}
	r := httptest.NewRequest("POST", "/", nil)
	if _, err := m.Rotate(httptest.NewRecorder(), r); !errors.Is(err, attrcache.ErrSessionNotFound) {
		t.Errorf("Rotate without a session: %v, want ErrSessionNotFound", err)
	}
}

// Requests with the same cookie while one of them rotates: each one
// either works on the old session before the rotation took it, or is
// refused with ErrSessionNotFound; every write that was reported done is
// in the new session, and none that was refused is.
func TestConcurrentRotate(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		a := newApp(t, b, cfg(time.Hour, time.Hour))
		ck := a.login("alice")
		const writers = 8
		var (
			mu      sync.Mutex
			done    = map[string]bool{} // attribute -> write reported done
			reads   = map[int]int{}     // status -> count
			rotated = make(chan struct{})
			started sync.WaitGroup
			wg      sync.WaitGroup
		)
		started.Add(writers)
		for g := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				first := true
				defer func() {
					if first {
						started.Done()
					}
				}()
				after := 0
				for j := 0; after < 3; j++ {
					name := fmt.Sprintf("w%d-%d", g, j)
					rep, err := a.try("POST", "/write?name="+name, send(ck))
					if err != nil {
						t.Error(err)
						return
					}
					read, err := a.try("GET", "/user", send(ck))
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					switch rep.status {
					case http.StatusOK:
						done[name] = true
					case http.StatusUnauthorized:
						done[name] = false
					default:
						t.Errorf("write with the old cookie during a rotation: %d %q", rep.status, rep.body)
					}
					reads[read.status]++
					mu.Unlock()
					if read.status == http.StatusOK && read.body != "alice" {
						t.Errorf("read during a rotation: %q", read.body)
					}
					if first {
						first = false
						started.Done()
					}
					select {
					case <-rotated:
						after++
					default:
					}
				}
			}()
		}
		started.Wait()
		rep := a.do("POST", "/sudo", send(ck))
		close(rotated)
		wg.Wait()
		a.want(rep, http.StatusOK, "rotation")
		nk := rep.cookie

		all, err := a.store.Session(nk.Value).GetAll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var ok, refused int
		for name, wrote := range done {
			_, moved := all[name]
			switch {
			case wrote && !moved:
				t.Errorf("%s was reported written, and is not in the rotated session", name)
			case !wrote && moved:
				t.Errorf("%s was refused, and is in the rotated session", name)
			}
			if wrote {
				ok++
			} else {
				refused++
			}
		}
		if ok < writers || refused < writers {
			t.Fatalf("%d writes done and %d refused: the test did not race the rotation", ok, refused)
		}
		for status := range reads {
			if status != http.StatusOK && status != http.StatusUnauthorized {
				t.Errorf("reads during the rotation answered %d", status)
			}
		}
		info, err := inspect.Read(context.Background(), a.rdb, a.store.Session(ck.Value).Key(), time.Now().UnixMilli())
		if err != nil {
			t.Fatal(err)
		}
		if info.State != "ended" && info.State != "none" {
			t.Errorf("old id after the rotation: %s", info.State)
		}
		t.Logf("%d writes before the rotation, %d refused after; reads: %v", ok, refused, reads)
		a.want(a.do("POST", "/write?name=after", send(nk)), http.StatusOK, "write with the new cookie")
	})
}

// Session ids: unique over a million draws, 43 characters of base64url,
// 32 random bytes.
func TestSessionIDs(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 10_000
	}
	var alphabet [256]bool
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		alphabet[c] = true
	}
	// Every id is checked with ValidSessionID, the first ones byte by
	// byte too, so that the check does not rest on attrcache alone (the
	// race detector makes checking all of them that way slow).
	seen := make(map[string]struct{}, n)
	for i := range n {
		id := attrcache.NewSessionID()
		if len(id) != 43 || !attrcache.ValidSessionID(id) {
			t.Fatalf("NewSessionID made an id of %d bytes that ValidSessionID refuses", len(id))
		}
		if i < 10_000 {
			for j := 0; j < len(id); j++ {
				if !alphabet[id[j]] {
					t.Fatalf("id with a byte %q outside base64url", id[j])
				}
			}
			if b, err := base64.RawURLEncoding.DecodeString(id); err != nil || len(b) != 32 {
				t.Fatalf("id decodes to %d bytes (%v), want 32", len(b), err)
			}
		}
		if _, dup := seen[id]; dup {
			t.Fatalf("duplicate id after %d draws", i)
		}
		seen[id] = struct{}{}
	}
}

// TestRenewalOnRedisClock: the renewal is judged on Redis's clock as the
// Store estimates it, so a Manager that never saw a login (another
// instance) renews exactly like the one that made the session.
func TestRenewalOnRedisClock(t *testing.T) {
	b := miniBackend(t)
	const idle = time.Second
	a := newApp(t, b, cfg(idle, time.Hour))
	other := newApp(t, b, cfg(idle, time.Hour))
	ck := a.login("alice")
	if rep := other.do("GET", "/user", send(ck)); rep.status != http.StatusOK || rep.cmds != 1 {
		t.Fatalf("another instance, fresh session: status %d, %d commands, want one read and no renewal", rep.status, rep.cmds)
	}
	start := time.Now()
	other.advanceTo(start, idle/2+100*time.Millisecond)
	if rep := other.do("GET", "/user", send(ck)); rep.status != http.StatusOK || rep.cmds != 2 {
		t.Fatalf("another instance, past IdleSlack: status %d, %d commands, want a read and a renewal", rep.status, rep.cmds)
	}
	other.advanceTo(start, idle+100*time.Millisecond)
	other.want(other.do("GET", "/user", send(ck)), http.StatusOK, "renewed session past its first deadline")
}

// TestNoRenewalAtAbsoluteDeadline: once the session's deadline is its
// absolute one, requests stop trying to renew it, since Renew could not
// extend it.
func TestNoRenewalAtAbsoluteDeadline(t *testing.T) {
	b := miniBackend(t)
	a := newApp(t, b, cfg(time.Second, 1200*time.Millisecond))
	ck := a.login("alice")
	start := time.Now()
	a.advanceTo(start, 700*time.Millisecond)
	if rep := a.do("GET", "/user", send(ck)); rep.status != http.StatusOK || rep.cmds != 2 {
		t.Fatalf("past IdleSlack: status %d, %d commands, want a read and a renewal (up to the absolute deadline)", rep.status, rep.cmds)
	}
	a.advanceTo(start, 900*time.Millisecond)
	if rep := a.do("GET", "/user", send(ck)); rep.status != http.StatusOK || rep.cmds != 1 {
		t.Fatalf("at the absolute deadline: status %d, %d commands, want the read alone", rep.status, rep.cmds)
	}
	a.advanceTo(start, 1300*time.Millisecond)
	if rep := a.do("GET", "/user", send(ck)); rep.status != http.StatusUnauthorized {
		t.Fatalf("past the absolute deadline: status %d", rep.status)
	}
}
