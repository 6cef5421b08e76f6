package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/web"
)

// walkWeb runs package web on an HTTPS test server (the cookie is Secure)
// and plays the browser: login, a protected page, a privilege change that
// rotates the id, logout.
func (d *demo) walkWeb(ctx context.Context) error {
	m, err := web.New(d.store, web.Config{IdleTimeout: 30 * time.Minute, AbsoluteTimeout: 12 * time.Hour, Persist: true})
	if err != nil {
		return err
	}
	srv := httptest.NewUnstartedServer(m.Handler(demoSite(m)))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	b := browser{ctx: ctx, client: srv.Client(), url: srv.URL}

	login, err := b.do("POST", "/login?user=alice", nil)
	if err != nil {
		return err
	}
	if login.status != http.StatusOK || login.cookie == nil {
		return fmt.Errorf("web login: status %d, cookie set %t", login.status, login.cookie != nil)
	}
	d.say("Web, on an HTTPS test server: POST /login answers %d and sets %q", login.status, login.setCookie)
	page, err := b.do("GET", "/profile", login.cookie)
	if err != nil {
		return err
	}
	if page.status != http.StatusOK {
		return fmt.Errorf("web profile with the login cookie: status %d", page.status)
	}
	d.say("Web: GET /profile with that cookie: %d %q, Cache-Control: %s", page.status, page.body, page.header.Get("Cache-Control"))

	sudo, err := b.do("POST", "/sudo", login.cookie)
	if err != nil {
		return err
	}
	if sudo.status != http.StatusOK || sudo.cookie == nil || sudo.cookie.Value == login.cookie.Value {
		return fmt.Errorf("web rotation: status %d, new id %t", sudo.status, sudo.cookie != nil && sudo.cookie.Value != login.cookie.Value)
	}
	old, err := b.do("GET", "/profile", login.cookie)
	if err != nil {
		return err
	}
	now, err := b.do("GET", "/profile", sudo.cookie)
	if err != nil {
		return err
	}
	if old.status != http.StatusUnauthorized || now.status != http.StatusOK {
		return fmt.Errorf("web after rotation: old cookie %d, new cookie %d", old.status, now.status)
	}
	d.say("Web: POST /sudo rotates the id and sets a new cookie; GET /profile with the old cookie: %d, with the new one: %d %q",
		old.status, now.status, now.body)

	out, err := b.do("POST", "/logout", sudo.cookie)
	if err != nil {
		return err
	}
	if out.cookie == nil || out.cookie.MaxAge >= 0 {
		return fmt.Errorf("web logout: status %d, the cookie was not expired", out.status)
	}
	replay, err := b.do("GET", "/profile", sudo.cookie)
	if err != nil {
		return err
	}
	if replay.status != http.StatusUnauthorized {
		return fmt.Errorf("web: a logged-out cookie got status %d", replay.status)
	}
	d.say("Web: POST /logout sets %q; GET /profile with the logged-out cookie: %d", out.setCookie, replay.status)
	return nil
}

// demoSite is the application behind the walk-through.
func demoSite(m *web.Manager) http.Handler {
	mux := http.NewServeMux()
	fail := func(w http.ResponseWriter, err error) {
		if errors.Is(err, attrcache.ErrSessionNotFound) {
			http.Error(w, "please log in", http.StatusUnauthorized)
			return
		}
		http.Error(w, "try again later", http.StatusServiceUnavailable)
	}
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		sess, err := m.Login(w, r)
		if err == nil {
			err = sess.SetMany(r.Context(), []attrcache.Attr{
				{Name: "user", Value: []byte(r.FormValue("user"))},
				{Name: "role", Value: []byte("member")},
			})
		}
		if err != nil {
			fail(w, err)
		}
	})
	mux.HandleFunc("GET /profile", func(w http.ResponseWriter, r *http.Request) {
		sess := web.FromContext(r.Context())
		if sess == nil {
			fail(w, attrcache.ErrSessionNotFound)
			return
		}
		m, err := sess.GetMany(r.Context(), []string{"user", "role"})
		if err != nil {
			fail(w, err)
			return
		}
		fmt.Fprintf(w, "%s (%s)", m["user"].Value, m["role"].Value)
	})
	mux.HandleFunc("POST /sudo", func(w http.ResponseWriter, r *http.Request) {
		sess, err := m.Rotate(w, r)
		if err == nil {
			err = sess.Set(r.Context(), "role", []byte("admin"))
		}
		if err != nil {
			fail(w, err)
		}
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := m.Logout(w, r); err != nil {
			fail(w, err)
		}
	})
	return mux
}

// browser sends requests with the session cookie it is given.
type browser struct {
	ctx    context.Context
	client *http.Client
	url    string
}

type page struct {
	status    int
	body      string
	header    http.Header
	cookie    *http.Cookie // the session cookie set, if any
	setCookie string       // its Set-Cookie line, the id replaced: ids are secrets
}

func (b browser) do(method, path string, cookie *http.Cookie) (page, error) {
	req, err := http.NewRequestWithContext(b.ctx, method, b.url+path, nil)
	if err != nil {
		return page{}, err
	}
	if cookie != nil {
		req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return page{}, fmt.Errorf("web %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return page{}, err
	}
	p := page{status: resp.StatusCode, body: strings.TrimSpace(string(body)), header: resp.Header}
	for _, c := range resp.Cookies() {
		if c.Name == web.DefaultHostCookieName {
			p.cookie = c
			p.setCookie = resp.Header.Get("Set-Cookie")
			if c.Value != "" {
				p.setCookie = strings.Replace(p.setCookie, c.Value, fmt.Sprintf("<%d-character id>", len(c.Value)), 1)
			}
		}
	}
	return p, nil
}
