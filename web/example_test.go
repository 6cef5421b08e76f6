package web_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/web"
)

// A web application on attrcache: login, a protected page, a privilege
// change that rotates the session id, and logout. A browser (an
// http.Client with a cookie jar) walks through it over HTTPS, since the
// cookie is Secure.
func Example() {
	mr, _ := miniredis.Run() // stands in for the application's Redis
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()

	store, err := attrcache.New(rdb)
	if err != nil {
		panic(err)
	}
	m, err := web.New(store, web.Config{
		IdleTimeout:     30 * time.Minute,
		AbsoluteTimeout: 12 * time.Hour,
	})
	if err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		// ... the password checked out ...
		sess, err := m.Login(w, r)
		if err != nil {
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		}
		err = sess.CreateMany(r.Context(), []attrcache.Attr{
			{Name: "user", Value: []byte(r.FormValue("user"))},
			{Name: "role", Value: []byte("member")},
		})
		if err != nil {
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "welcome")
	})
	mux.HandleFunc("GET /profile", func(w http.ResponseWriter, r *http.Request) {
		sess := web.FromContext(r.Context())
		if sess == nil {
			http.Error(w, "please log in", http.StatusUnauthorized)
			return
		}
		attrs, err := sess.GetMany(r.Context(), []string{"user", "role"})
		switch {
		case errors.Is(err, attrcache.ErrSessionNotFound): // logged out, expired or rotated away
			http.Error(w, "please log in", http.StatusUnauthorized)
			return
		case err != nil:
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "%s (%s)\n", attrs["user"].Value, attrs["role"].Value)
	})
	mux.HandleFunc("POST /admin", func(w http.ResponseWriter, r *http.Request) {
		// ... a second factor checked out: the privilege changes, so
		// does the session id ...
		sess, err := m.Rotate(w, r)
		if errors.Is(err, attrcache.ErrSessionNotFound) {
			http.Error(w, "please log in", http.StatusUnauthorized)
			return
		}
		if err == nil {
			err = sess.Set(r.Context(), "role", []byte("admin"))
		}
		if err != nil {
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "you are an admin now")
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := m.Logout(w, r); err != nil {
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "bye")
	})

	srv := httptest.NewTLSServer(m.Handler(mux))
	defer srv.Close()
	browser := srv.Client()
	browser.Jar, _ = cookiejar.New(nil)
	visit := func(c *http.Client, method, path string) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%s %s: %d %s\n", method, path, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	site, _ := url.Parse(srv.URL)
	cookie := func() *http.Cookie {
		for _, c := range browser.Jar.Cookies(site) {
			return c
		}
		return nil
	}

	visit(browser, "GET", "/profile")
	visit(browser, "POST", "/login?user=alice")
	visit(browser, "GET", "/profile")
	before := cookie()
	visit(browser, "POST", "/admin")
	fmt.Println("session id changed:", cookie().Value != before.Value)
	visit(browser, "GET", "/profile")

	// Someone who copied the cookie before the privilege change gets
	// nothing with it.
	thief := srv.Client()
	thief.Jar, _ = cookiejar.New(nil)
	thief.Jar.SetCookies(site, []*http.Cookie{before})
	visit(thief, "GET", "/profile")

	visit(browser, "POST", "/logout")
	visit(browser, "GET", "/profile")
	// Output:
	// GET /profile: 401 please log in
	// POST /login?user=alice: 200 welcome
	// GET /profile: 200 alice (member)
	// POST /admin: 200 you are an admin now
	// session id changed: true
	// GET /profile: 200 alice (admin)
	// GET /profile: 401 please log in
	// POST /logout: 200 bye
	// GET /profile: 401 please log in
}
