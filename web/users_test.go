package web_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/web"
)

// usersRoutes adds the routes of the users tests:
//
//	POST /login-user?user=U    LoginUser U, with user=U
//	POST /logout-everywhere    LogoutEverywhere; the body is the count
//	GET  /sessions             how many live sessions the request's user has
func usersRoutes(a *app, mux *http.ServeMux) {
	mux.HandleFunc("POST /login-user", func(w http.ResponseWriter, r *http.Request) {
		user := r.FormValue("user")
		sess, err := a.m.LoginUser(w, r, user, attrcache.Attr{Name: "user", Value: []byte(user)})
		if err != nil {
			if errors.Is(err, attrcache.ErrTooManySessions) {
				http.Error(w, "too many sessions", http.StatusConflict)
				return
			}
			fail(w, err)
			return
		}
		if web.FromContext(r.Context()) != sess {
			http.Error(w, "FromContext does not follow LoginUser", http.StatusInternalServerError)
			return
		}
		w.Write([]byte("logged in"))
	})
	mux.HandleFunc("POST /logout-everywhere", func(w http.ResponseWriter, r *http.Request) {
		n, err := a.m.LogoutEverywhere(w, r)
		if err != nil {
			fail(w, err)
			return
		}
		if web.FromContext(r.Context()) != nil {
			http.Error(w, "FromContext still has a session after LogoutEverywhere", http.StatusInternalServerError)
			return
		}
		w.Write([]byte(strconv.Itoa(n)))
	})
	mux.HandleFunc("GET /sessions", func(w http.ResponseWriter, r *http.Request) {
		sess := web.FromContext(r.Context())
		if sess == nil {
			http.Error(w, "no session", http.StatusUnauthorized)
			return
		}
		u, ok := sess.User()
		if !ok {
			http.Error(w, "no user", http.StatusBadRequest)
			return
		}
		refs, err := u.Sessions(r.Context())
		if err != nil {
			fail(w, err)
			return
		}
		w.Write([]byte(strconv.Itoa(len(refs))))
	})
}

// browser is a client with a cookie jar of its own.
type browser struct {
	t   *testing.T
	a   *app
	c   *http.Client
	url *url.URL
}

func (a *app) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		a.t.Fatal(err)
	}
	u, err := url.Parse(a.srv.URL)
	if err != nil {
		a.t.Fatal(err)
	}
	return &browser{t: a.t, a: a, c: &http.Client{Jar: jar, Transport: a.srv.Client().Transport}, url: u}
}

// do sends a request with the jar's cookies and keeps what it sets.
func (b *browser) do(method, path string) (int, string) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.a.srv.URL+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

// id is the session id the jar holds, "" for none.
func (b *browser) id() string {
	for _, c := range b.c.Jar.Cookies(b.url) {
		if c.Name == b.a.m.Config().CookieName {
			return c.Value
		}
	}
	return ""
}

// userCfg is cfg over plain HTTP, so that a cookie jar sends the cookie
// back to httptest's server.
func userCfg() web.Config {
	c := cfg(time.Hour, time.Hour)
	c.Insecure = true
	return c
}

// Two browsers log in as one user; LogoutEverywhere from one ends both
// sessions and leaves another user's alone.
func TestLogoutEverywhere(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		a := newApp(t, b, userCfg(), usersRoutes)
		ctx := context.Background()
		phone, laptop, other := a.browser(), a.browser(), a.browser()
		for _, br := range []*browser{phone, laptop} {
			if code, body := br.do("POST", "/login-user?user=alice"); code != http.StatusOK {
				t.Fatalf("login as alice: %d %q", code, body)
			}
		}
		if code, body := other.do("POST", "/login-user?user=bob"); code != http.StatusOK {
			t.Fatalf("login as bob: %d %q", code, body)
		}
		ids := []string{phone.id(), laptop.id()}
		if ids[0] == "" || ids[1] == "" || ids[0] == ids[1] {
			t.Fatal("the browsers did not get two cookies")
		}
		for _, br := range []*browser{phone, laptop} {
			if code, body := br.do("GET", "/user"); code != http.StatusOK || body != "alice" {
				t.Fatalf("alice's browser: %d %q", code, body)
			}
		}
		if code, body := phone.do("GET", "/sessions"); body != "2" {
			t.Fatalf("alice's sessions: %d %q, want 2", code, body)
		}

		code, body := laptop.do("POST", "/logout-everywhere")
		if code != http.StatusOK || body != "2" {
			t.Fatalf("LogoutEverywhere: %d %q, want 200 and 2 sessions ended", code, body)
		}
		if laptop.id() != "" {
			t.Error("the browser that logged out everywhere kept its cookie")
		}
		for _, br := range []*browser{phone, laptop} {
			if code, _ := br.do("GET", "/user"); code != http.StatusUnauthorized {
				t.Errorf("alice's browser after LogoutEverywhere: %d, want 401", code)
			}
		}
		for _, id := range ids {
			if _, err := a.store.Session(id).TTL(ctx); !errors.Is(err, attrcache.ErrSessionNotFound) {
				t.Errorf("alice's session %s after LogoutEverywhere: %v", a.store.Session(id).ID(), err)
			}
		}
		if refs, err := a.store.User("alice").Sessions(ctx); err != nil || len(refs) != 0 {
			t.Errorf("alice's registry after LogoutEverywhere: %d sessions, %v", len(refs), err)
		}
		if code, body := other.do("GET", "/user"); code != http.StatusOK || body != "bob" {
			t.Errorf("bob's browser after alice logged out everywhere: %d %q", code, body)
		}
		if refs, err := a.store.User("bob").Sessions(ctx); err != nil || len(refs) != 1 {
			t.Errorf("bob's registry: %d sessions, %v", len(refs), err)
		}
	})
}

// A cookie that names no live session ends nobody's sessions, even when
// it carries a user's tag: 0, and the user's sessions live on.
func TestLogoutEverywhereDeadCookie(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		a := newApp(t, b, userCfg(), usersRoutes)
		alice := a.browser()
		alice.do("POST", "/login-user?user=alice")
		id := alice.id()
		forged := attrcache.NewSessionID() + id[strings.IndexByte(id, '.'):]

		old := a.browser()
		old.do("POST", "/login-user?user=alice")
		stale := old.id()
		old.do("POST", "/logout")

		for what, value := range map[string]string{"a forged id with alice's tag": forged, "a logged-out session": stale} {
			rep := a.do("POST", "/logout-everywhere", &http.Cookie{Name: a.m.Config().CookieName, Value: value})
			if rep.status != http.StatusOK || rep.body != "0" {
				t.Errorf("LogoutEverywhere with %s: %d %q, want 0", what, rep.status, rep.body)
			}
			if rep.cookie == nil || rep.cookie.MaxAge >= 0 {
				t.Errorf("LogoutEverywhere with %s kept the cookie", what)
			}
			if code, body := alice.do("GET", "/user"); code != http.StatusOK || body != "alice" {
				t.Fatalf("alice after LogoutEverywhere with %s: %d %q", what, code, body)
			}
		}
	})
}

// On a session bound to no user, LogoutEverywhere is Logout: that session
// alone ends.
func TestLogoutEverywhereUnbound(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		a := newApp(t, b, userCfg(), usersRoutes)
		first, second := a.login("alice"), a.login("alice")
		rep := a.do("POST", "/logout-everywhere", send(first))
		if rep.status != http.StatusOK || rep.body != "1" {
			t.Fatalf("LogoutEverywhere, unbound: %d %q, want 1", rep.status, rep.body)
		}
		a.want(a.do("GET", "/user", send(first)), http.StatusUnauthorized, "the session that logged out")
		a.want(a.do("GET", "/user", send(second)), http.StatusOK, "another unbound session")
		rep = a.do("POST", "/logout-everywhere", nil)
		if rep.status != http.StatusOK || rep.body != "0" {
			t.Fatalf("LogoutEverywhere without a session: %d %q, want 0", rep.status, rep.body)
		}
	})
}

// The Store's cap on sessions holds for LoginUser: RefuseNew makes the
// login fail with ErrTooManySessions, leaving no cookie and no key;
// EndOldest ends the first browser's session.
func TestLoginUserMaxSessions(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		t.Run("refuse", func(t *testing.T) {
			var got error
			a := newStoreApp(t, b, []attrcache.Option{attrcache.WithMaxSessions(2, attrcache.RefuseNew)}, userCfg(), usersRoutes,
				func(a *app, mux *http.ServeMux) {
					mux.HandleFunc("POST /login-user-err", func(w http.ResponseWriter, r *http.Request) {
						_, got = a.m.LoginUser(w, r, "alice")
					})
				})
			raw := b.newClient()
			defer raw.Close()
			one, two := a.browser(), a.browser()
			one.do("POST", "/login-user?user=alice")
			two.do("POST", "/login-user?user=alice")
			before := keySet(t, raw)
			rep := a.do("POST", "/login-user-err", nil)
			if got != attrcache.ErrTooManySessions {
				t.Errorf("third LoginUser: %v, want ErrTooManySessions as is", got)
			}
			if len(rep.header.Values("Set-Cookie")) != 0 {
				t.Error("a refused LoginUser set a cookie")
			}
			if after := keySet(t, raw); !slices.Equal(before, after) {
				t.Errorf("a refused LoginUser changed the keys: %d before, %d after", len(before), len(after))
			}
			for _, br := range []*browser{one, two} {
				if code, body := br.do("GET", "/user"); code != http.StatusOK || body != "alice" {
					t.Errorf("a session under the cap: %d %q", code, body)
				}
			}
		})
		t.Run("end oldest", func(t *testing.T) {
			a := newStoreApp(t, b, []attrcache.Option{attrcache.WithMaxSessions(2, attrcache.EndOldest)}, userCfg(), usersRoutes)
			brs := []*browser{a.browser(), a.browser(), a.browser()}
			for _, br := range brs {
				if code, body := br.do("POST", "/login-user?user=alice"); code != http.StatusOK {
					t.Fatalf("LoginUser: %d %q", code, body)
				}
				time.Sleep(2 * time.Millisecond) // distinct start times
			}
			want := []int{http.StatusUnauthorized, http.StatusOK, http.StatusOK}
			for i, br := range brs {
				if code, _ := br.do("GET", "/user"); code != want[i] {
					t.Errorf("browser %d after a third login past a cap of 2: %d, want %d", i, code, want[i])
				}
			}
		})
	})
}

// A refused LoginUser (a sealed value without a cipher) leaves no
// session, no registry entry and no cookie.
func TestLoginUserRefusedLeavesNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		var got error
		a := newStoreApp(t, b, nil, userCfg(), func(a *app, mux *http.ServeMux) {
			mux.HandleFunc("POST /sealed", func(w http.ResponseWriter, r *http.Request) {
				_, got = a.m.LoginUser(w, r, "alice", attrcache.Attr{Name: "token", Value: []byte("t"), Options: []attrcache.WriteOption{attrcache.WithEncryption()}})
			})
			mux.HandleFunc("POST /nobody", func(w http.ResponseWriter, r *http.Request) {
				_, got = a.m.LoginUser(w, r, "", attrcache.Attr{Name: "user", Value: []byte("x")})
			})
		})
		raw := b.newClient()
		defer raw.Close()
		for path, want := range map[string]error{"/sealed": attrcache.ErrNoCipher, "/nobody": attrcache.ErrInvalid} {
			before := keySet(t, raw)
			rep := a.do("POST", path, nil)
			if !errors.Is(got, want) {
				t.Errorf("%s: %v, want %v", path, got, want)
			}
			if len(rep.header.Values("Set-Cookie")) != 0 {
				t.Errorf("%s set a cookie", path)
			}
			if after := keySet(t, raw); !slices.Equal(before, after) {
				t.Errorf("%s changed the keys: %d before, %d after", path, len(before), len(after))
			}
		}
		if refs, err := a.store.User("alice").Sessions(context.Background()); err != nil || len(refs) != 0 {
			t.Errorf("alice's registry: %d sessions, %v", len(refs), err)
		}
	})
}

// Rotate keeps a bound session bound: the new id carries the user's tag,
// the registry lists it in place of the old one, and LogoutEverywhere
// ends it.
func TestRotateBound(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		a := newApp(t, b, userCfg(), usersRoutes)
		ctx := context.Background()
		br := a.browser()
		br.do("POST", "/login-user?user=alice")
		old := br.id()
		if code, body := br.do("POST", "/sudo"); code != http.StatusOK {
			t.Fatalf("rotate: %d %q", code, body)
		}
		nid := br.id()
		if nid == old || !strings.HasSuffix(nid, old[strings.IndexByte(old, '.'):]) {
			t.Fatal("the rotated id does not carry the user's tag")
		}
		if u, ok := a.store.Session(nid).User(); !ok || u.Key() != a.store.User("alice").Key() {
			t.Fatal("the rotated session is not alice's")
		}
		refs, err := a.store.User("alice").Sessions(ctx)
		if err != nil || len(refs) != 1 || refs[0].Session.Key() != a.store.Session(nid).Key() {
			t.Fatalf("alice's registry after the rotation: %d sessions, %v", len(refs), err)
		}
		if code, body := br.do("POST", "/logout-everywhere"); body != "1" {
			t.Fatalf("LogoutEverywhere after the rotation: %d %q, want 1", code, body)
		}
		if _, err := a.store.Session(nid).TTL(ctx); !errors.Is(err, attrcache.ErrSessionNotFound) {
			t.Errorf("rotated session after LogoutEverywhere: %v", err)
		}
	})
}

// A Logout or LogoutEverywhere while a bound session's Rotate is held at
// its one script ("move") ends the session for good.
func TestLogoutDuringBoundRotate(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		for _, path := range []string{"/logout", "/logout-everywhere"} {
			t.Run(path, func(t *testing.T) {
				a, h, raw := raceApp(t, b, userCfg(), usersRoutes)
				before := liveKeys(t, raw)
				var l ledger
				other := a.browser()
				other.do("POST", "/login-user?user=alice")
				l.saw(&http.Cookie{Value: other.id()}, path == "/logout")
				rep := a.do("POST", "/login-user?user=alice", nil)
				ck := rep.cookie
				l.saw(ck, false)

				var out reply
				rot := rotateAround(t, a, h, "move", ck, func() { out = a.do("POST", path, send(ck)) })
				a.want(out, http.StatusOK, path+" during the rotation")
				l.saw(rot.cookie, false)
				if rot.status == http.StatusOK || rot.cookie != nil {
					t.Errorf("Rotate, held across %s: %d %q; want it refused", path, rot.status, rot.body)
				}
				l.check(t, a, raw, before)
			})
		}
	})
}
