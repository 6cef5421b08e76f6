package web_test

import (
	"crypto/rand"
	"crypto/subtle"
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
		// ... the password checked out: a new session, with its first
		// attributes in the same script ...
		_, err := m.Login(w, r,
			attrcache.Attr{Name: "user", Value: []byte(r.FormValue("user"))},
			attrcache.Attr{Name: "role", Value: []byte("member")},
		)
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

// A Login that attrcache refuses changes nothing: the handler gets the
// error, the response carries no cookie, Redis holds no new session, and
// the browser keeps the session it had. Here the Store has no Cipher and
// the login asks to seal a value.
func ExampleManager_Login() {
	mr, _ := miniredis.Run()
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	store, err := attrcache.New(rdb) // no WithCipher
	if err != nil {
		panic(err)
	}
	m, err := web.New(store, web.Config{IdleTimeout: 30 * time.Minute, AbsoluteTimeout: 12 * time.Hour})
	if err != nil {
		panic(err)
	}
	login := func(w http.ResponseWriter, r *http.Request) {
		_, err := m.Login(w, r,
			attrcache.Attr{Name: "user", Value: []byte("alice")},
			attrcache.Attr{Name: "token", Value: []byte("s3cret"), Options: []attrcache.WriteOption{attrcache.WithEncryption()}},
		)
		switch {
		case errors.Is(err, attrcache.ErrUnavailable): // Redis down or slow: worth another try
			http.Error(w, "try again later", http.StatusServiceUnavailable)
		case err != nil: // the application asked for what cannot be: log it, it names no value or id
			fmt.Println("login refused:", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
		default:
			fmt.Fprintln(w, "welcome")
		}
	}
	w := httptest.NewRecorder()
	m.Handler(http.HandlerFunc(login)).ServeHTTP(w, httptest.NewRequest("POST", "/login", nil))
	fmt.Println("status:", w.Code)
	fmt.Println("cookies set:", len(w.Result().Cookies()))
	fmt.Println("keys in Redis:", len(mr.Keys()))
	// Output:
	// login refused: attrcache: encryption requested but no cipher configured: token
	// status: 500
	// cookies set: 0
	// keys in Redis: 0
}

// Cross-site request forgery, both defences: net/http's
// CrossOriginProtection around the session middleware refuses unsafe
// requests that the browser marks as coming from another origin, and a
// synchronizer token, made at login and kept in the session, refuses
// forms without it even from browsers that mark nothing.
func Example_csrf() {
	mr, _ := miniredis.Run()
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	store, err := attrcache.New(rdb)
	if err != nil {
		panic(err)
	}
	m, err := web.New(store, web.Config{IdleTimeout: 30 * time.Minute, AbsoluteTimeout: 12 * time.Hour})
	if err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		// ... the password checked out ...
		//
		// A new session, so a new token: none survives a login. Its
		// own expiry here is the session's longest life; with a
		// shorter one, the form pages make a new token when Get says
		// attrcache.ErrNotFound. With a Cipher in the Store,
		// attrcache.WithEncryption() seals it in Redis.
		_, err := m.Login(w, r, attrcache.Attr{
			Name:    "csrf",
			Value:   []byte(rand.Text()),
			Options: []attrcache.WriteOption{attrcache.WithExpiration(12 * time.Hour)},
		})
		if err != nil {
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "welcome")
	})
	mux.Handle("GET /transfer", m.RequireSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := web.FromContext(r.Context()).Get(r.Context(), "csrf")
		if err != nil {
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		}
		// The form carries the token: a page of another origin cannot
		// read it.
		fmt.Fprintf(w, `<form method="post"><input type="hidden" name="csrf" value="%s">...</form>`, e.Value)
	})))
	mux.Handle("POST /transfer", m.RequireSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := web.FromContext(r.Context()).Get(r.Context(), "csrf")
		switch {
		case errors.Is(err, attrcache.ErrNotFound):
			http.Error(w, "no CSRF token", http.StatusForbidden)
			return
		case err != nil:
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		case subtle.ConstantTimeCompare(e.Value, []byte(r.PostFormValue("csrf"))) != 1:
			http.Error(w, "wrong CSRF token", http.StatusForbidden)
			return
		}
		fmt.Fprintln(w, "transferred")
	})))

	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
	}))
	srv := httptest.NewTLSServer(csrf.Handler(m.Handler(mux)))
	defer srv.Close()
	browser := srv.Client()
	browser.Jar, _ = cookiejar.New(nil)
	// send posts form as a browser that sends the Sec-Fetch-Site and
	// Origin headers given (an old one sends neither).
	send := func(what, path string, form url.Values, fetchSite, origin string) {
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if fetchSite != "" {
			req.Header.Set("Sec-Fetch-Site", fetchSite)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := browser.Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%s: %d %s\n", what, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	tokenOf := func(page string) string {
		_, rest, _ := strings.Cut(page, `name="csrf" value="`)
		token, _, _ := strings.Cut(rest, `"`)
		return token
	}

	send("log in", "/login", nil, "same-origin", srv.URL)
	resp, err := browser.Get(srv.URL + "/transfer")
	if err != nil {
		panic(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	token := tokenOf(string(page))

	send("the form, with its token", "/transfer", url.Values{"csrf": {token}}, "same-origin", srv.URL)
	send("a form of another site, even with the token", "/transfer", url.Values{"csrf": {token}}, "cross-site", "https://evil.example")
	send("a page of a sibling subdomain", "/transfer", nil, "same-site", "")
	send("another site, in a browser without Sec-Fetch-Site", "/transfer", nil, "", "https://evil.example")
	send("a browser that sends neither header, no token", "/transfer", nil, "", "")
	send("a browser that sends neither header, a guessed token", "/transfer", url.Values{"csrf": {rand.Text()}}, "", "")
	send("log in again", "/login", nil, "same-origin", srv.URL)
	send("the token of the session before", "/transfer", url.Values{"csrf": {token}}, "same-origin", srv.URL)
	// Output:
	// log in: 200 welcome
	// the form, with its token: 200 transferred
	// a form of another site, even with the token: 403 cross-origin request refused
	// a page of a sibling subdomain: 403 cross-origin request refused
	// another site, in a browser without Sec-Fetch-Site: 403 cross-origin request refused
	// a browser that sends neither header, no token: 403 wrong CSRF token
	// a browser that sends neither header, a guessed token: 403 wrong CSRF token
	// log in again: 200 welcome
	// the token of the session before: 403 wrong CSRF token
}

// The web quick start: a login that binds the session to its user with
// its first attributes, a page only a live session reaches, and "log out
// everywhere", behind net/http's cross-origin protection.
func Example_quickStart() {
	mr, _ := miniredis.Run()                                // README: -
	defer mr.Close()                                        // README: -
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()}) // README: rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379", ContextTimeoutEnabled: true})
	store, _ := attrcache.New(rdb, attrcache.WithMaxSessions(10, attrcache.EndOldest))
	m, _ := web.New(store, web.Config{IdleTimeout: 30 * time.Minute, AbsoluteTimeout: 12 * time.Hour})

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		user := r.FormValue("user") // ... once the password checked out ...
		_, err := m.LoginUser(w, r, user, attrcache.Attr{Name: "role", Value: []byte("member")})
		if err != nil {
			http.Error(w, "try again later", http.StatusServiceUnavailable) // no cookie was set
			return
		}
		fmt.Fprintln(w, "welcome")
	})
	mux.Handle("GET /account", m.RequireSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		role, err := web.FromContext(r.Context()).Get(r.Context(), "role")
		if err != nil {
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "role %s\n", role.Value)
	})))
	mux.HandleFunc("POST /logout-everywhere", func(w http.ResponseWriter, r *http.Request) {
		n, err := m.LogoutEverywhere(w, r)
		if err != nil {
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "%d sessions ended\n", n)
	})
	handler := http.NewCrossOriginProtection().Handler(m.Handler(mux))

	srv := httptest.NewTLSServer(handler)                     // README: http.ListenAndServeTLS(":8443", "cert.pem", "key.pem", handler)
	defer srv.Close()                                         // README: -
	laptop := &http.Client{Transport: srv.Client().Transport} // README: -
	phone := &http.Client{Transport: srv.Client().Transport}  // README: -
	laptop.Jar, _ = cookiejar.New(nil)                        // README: -
	phone.Jar, _ = cookiejar.New(nil)                         // README: -
	visit := func(c *http.Client, method, path string) {      // README: -
		req, _ := http.NewRequest(method, srv.URL+path, nil)                // README: -
		resp, _ := c.Do(req)                                                // README: -
		body, _ := io.ReadAll(resp.Body)                                    // README: -
		resp.Body.Close()                                                   // README: -
		fmt.Println(path, resp.StatusCode, strings.TrimSpace(string(body))) // README: -
	} // README: -
	visit(laptop, "GET", "/account")            // README: -
	visit(laptop, "POST", "/login?user=alice")  // README: -
	visit(phone, "POST", "/login?user=alice")   // README: -
	visit(phone, "GET", "/account")             // README: -
	visit(laptop, "POST", "/logout-everywhere") // README: -
	visit(phone, "GET", "/account")             // README: -
	// Output:
	// /account 401 Unauthorized
	// /login?user=alice 200 welcome
	// /login?user=alice 200 welcome
	// /account 200 role member
	// /logout-everywhere 200 2 sessions ended
	// /account 401 Unauthorized
}
