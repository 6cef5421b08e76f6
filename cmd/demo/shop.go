package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"html/template"
	"log"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/web"
)

// The shop is the web application -serve runs and the browser test
// drives: package web in a real site, with the two defences against
// cross-site request forgery that web's documentation recommends.
//
//	GET  /login               the login form (no password: any name logs in)
//	POST /login               LoginUser, with the user's first attributes
//	GET  /account             behind RequireSession: the user, role, cart, sessions
//	POST /cart/add            one more item: an atomic Incr
//	POST /elevate             the step up: Rotate, then the admin role
//	POST /logout              Logout
//	POST /logout-everywhere   LogoutEverywhere
//
// Every POST but the login's needs a live session and the form's
// synchronizer token; every POST at all passes CrossOriginProtection.

const (
	// shopAbsoluteTimeout is how long a session lives at most after login.
	shopAbsoluteTimeout = 12 * time.Hour
	// tokenAttr names the attribute that holds the synchronizer token,
	// and the forms' field that carries it.
	tokenAttr = "csrf"
	// tokenLife is the token's own expiry, many idle timeouts long: a
	// renewal of the session neither cuts it short nor extends it, so an
	// active user's forms keep working for that long, and then the next
	// page shows a new one.
	tokenLife = time.Hour
	// maxNameBytes bounds a user name.
	maxNameBytes = 64
)

type shop struct {
	m      *web.Manager
	idle   time.Duration
	logger *log.Logger
}

// newShop returns the shop's handler for sessions in store that end idle
// after their last request. Errors no response shows go to logger; they
// name sessions by their short digest, never by id, and hold no value.
// The store needs a Cipher: the token is sealed in Redis.
func newShop(store *attrcache.Store, idle time.Duration, logger *log.Logger) (http.Handler, error) {
	m, err := web.New(store, web.Config{
		IdleTimeout:     idle,
		AbsoluteTimeout: shopAbsoluteTimeout,
		LoginURL:        "/login",
		ErrorHandler: func(r *http.Request, err error) {
			logger.Printf("%s %s: %v", r.Method, r.URL.Path, err)
		},
	})
	if err != nil {
		return nil, err
	}
	s := &shop{m: m, idle: idle, logger: logger}
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", http.RedirectHandler("/account", http.StatusSeeOther))
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.Handle("GET /account", m.RequireSession(http.HandlerFunc(s.account)))
	mux.Handle("POST /cart/add", s.form(s.addToCart))
	mux.Handle("POST /elevate", s.form(s.elevate))
	mux.Handle("POST /logout", s.form(s.logout))
	mux.Handle("POST /logout-everywhere", s.form(s.logoutEverywhere))

	// Outside the session middleware, so that a forged request never
	// reaches a session.
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
	}))
	return pageHeaders(csrf.Handler(m.Handler(mux))), nil
}

// pageHeaders adds what every page of the shop needs: a policy that runs
// no script and lets forms post to the shop only and no other site frame
// it, and a bound on what a request may send.
func pageHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		next.ServeHTTP(w, r)
	})
}

// tokenOptions are the token's: its own expiry, and sealed in Redis.
func tokenOptions() []attrcache.WriteOption {
	return []attrcache.WriteOption{attrcache.WithExpiration(tokenLife), attrcache.WithEncryption()}
}

func (s *shop) loginPage(w http.ResponseWriter, r *http.Request) {
	var p loginPage
	q := r.URL.Query()
	if q.Has("out") {
		p.Message = "You are logged out."
	}
	if n, err := strconv.Atoi(q.Get("ended")); err == nil && n >= 0 {
		p.Message = "You are logged out everywhere: " + strconv.Itoa(n) + " sessions ended."
	}
	s.render(w, http.StatusOK, "login", p)
}

func (s *shop) login(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(r.PostFormValue("user"))
	if name == "" || len(name) > maxNameBytes || !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) {
		s.render(w, http.StatusBadRequest, "login", loginPage{Message: "Give a name of 1 to 64 bytes."})
		return
	}
	// A real shop checks the password here. The session starts with its
	// first attributes in one script: never a session without its user.
	_, err := s.m.LoginUser(w, r, name,
		attrcache.Attr{Name: "user", Value: []byte(name)},
		attrcache.Attr{Name: "role", Value: []byte("member")},
		// A new session, so a new token: none survives a login.
		attrcache.Attr{Name: tokenAttr, Value: []byte(rand.Text()), Options: tokenOptions()},
	)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

func (s *shop) account(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess := web.FromContext(ctx)
	attrs, err := sess.GetMany(ctx, []string{"user", "role", "cart", tokenAttr})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p := accountPage{Cart: "0", Idle: shortDuration(s.idle), Absolute: shortDuration(shopAbsoluteTimeout)}
	if e := attrs["user"]; e != nil {
		p.User = string(e.Value)
	}
	if e := attrs["role"]; e != nil {
		p.Role = string(e.Value)
	}
	if e := attrs["cart"]; e != nil {
		p.Cart = string(e.Value)
	}
	if e := attrs[tokenAttr]; e != nil {
		p.Token = string(e.Value)
	} else if p.Token, err = newToken(ctx, sess); err != nil {
		s.fail(w, r, err)
		return
	}
	if u, ok := sess.User(); ok {
		refs, err := u.Sessions(ctx)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		p.Sessions = len(refs)
	}
	s.render(w, http.StatusOK, "account", p)
}

// newToken gives the session a new token, when the one of its login has
// outlived its hour.
func newToken(ctx context.Context, sess *attrcache.Session) (string, error) {
	v := rand.Text()
	err := sess.Create(ctx, tokenAttr, []byte(v), tokenOptions()...)
	if errors.Is(err, attrcache.ErrExists) {
		// Another page of the session made one first: use it.
		e, err := sess.Get(ctx, tokenAttr)
		if err != nil {
			return "", err
		}
		return string(e.Value), nil
	}
	return v, err
}

// form guards the handler of a form: the session must live
// (RequireSession) and the form must carry the session's token, compared
// in constant time. A page of another origin cannot read the token, so
// cannot forge the form, whatever the browser.
func (s *shop) form(h http.HandlerFunc) http.Handler {
	return s.m.RequireSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		e, err := web.FromContext(ctx).Get(ctx, tokenAttr)
		switch {
		case errors.Is(err, attrcache.ErrNotFound):
			http.Error(w, "this form has expired: reload the page", http.StatusForbidden)
		case err != nil:
			s.fail(w, r, err)
		case subtle.ConstantTimeCompare(e.Value, []byte(r.PostFormValue(tokenAttr))) != 1:
			http.Error(w, "wrong form token", http.StatusForbidden)
		default:
			h(w, r)
		}
	}))
}

func (s *shop) addToCart(w http.ResponseWriter, r *http.Request) {
	// Incr is atomic in Redis: clicks from several tabs at once all count.
	if _, err := web.FromContext(r.Context()).Incr(r.Context(), "cart", 1); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

func (s *shop) elevate(w http.ResponseWriter, r *http.Request) {
	// A real shop asks for the password or a second factor again here.
	// A change of privilege moves the session to a new id first, so that
	// an id taken before it gets nothing. The token moves with the rest
	// (Rotate keeps every attribute), so the user's other tabs keep
	// working; Set a new one here to refuse forms shown before.
	sess, err := s.m.Rotate(w, r)
	if err == nil {
		err = sess.Set(r.Context(), "role", []byte("admin"))
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

func (s *shop) logout(w http.ResponseWriter, r *http.Request) {
	if err := s.m.Logout(w, r); err != nil {
		// The cookie is expired all the same.
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/login?out", http.StatusSeeOther)
}

func (s *shop) logoutEverywhere(w http.ResponseWriter, r *http.Request) {
	n, err := s.m.LogoutEverywhere(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/login?ended="+strconv.Itoa(n), http.StatusSeeOther)
}

// fail answers a request whose call to attrcache failed. A session that
// has ended sends the user to log in again; an outage never looks like a
// logout.
func (s *shop) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, attrcache.ErrSessionNotFound) {
		s.render(w, http.StatusUnauthorized, "login", loginPage{Message: "Your session has ended: log in again."})
		return
	}
	// attrcache's errors name attributes and sessions' short digests,
	// never a value or an id.
	s.logger.Printf("%s %s: %v", r.Method, r.URL.Path, err)
	if errors.Is(err, attrcache.ErrUnavailable) {
		http.Error(w, "Redis did not answer: try again later", http.StatusServiceUnavailable)
		return
	}
	http.Error(w, "internal error", http.StatusInternalServerError)
}

// render writes a page whole, or an error if it could not be made.
func (s *shop) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		s.logger.Printf("page %s: %v", name, err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

type loginPage struct {
	Message string
}

type accountPage struct {
	User, Role, Cart string
	// Sessions counts the user's live sessions, this one included.
	Sessions       int
	Token          string
	Idle, Absolute string
}

// shortDuration is d as time.Duration.String says it, without the zero
// units it ends with: 12h, 5m, 1m30s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

var pages = template.Must(template.New("").Parse(`
{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{.}} · attrcache demo shop</title></head><body>{{end}}

{{define "token"}}<input type="hidden" name="csrf" value="{{.}}">{{end}}

{{define "login"}}{{template "head" "Log in"}}
<h1>attrcache demo shop</h1>
{{with .Message}}<p id="message">{{.}}</p>{{end}}
<form method="post" action="/login">
<label>Name <input id="name" name="user" required maxlength="64" autocomplete="username" autofocus></label>
<button id="login" type="submit">Log in</button>
</form>
<p>Any name logs in: the demo checks no password. Log in under one name
in two browsers to see "log out everywhere" end both.</p>
</body></html>{{end}}

{{define "account"}}{{template "head" "Your account"}}
<h1>Hello, <span id="user">{{.User}}</span></h1>
<p>Role: <span id="role">{{.Role}}</span>.
Cart: <span id="cart">{{.Cart}}</span> items.
Sessions open under your name: <span id="sessions">{{.Sessions}}</span>.</p>
<form id="add-form" method="post" action="/cart/add">{{template "token" .Token}}
<button id="add" type="submit">Add to cart</button></form>
<form id="elevate-form" method="post" action="/elevate">{{template "token" .Token}}
<button id="elevate" type="submit">Elevate to admin</button> (a new session id, then the admin role)</form>
<form id="logout-form" method="post" action="/logout">{{template "token" .Token}}
<button id="logout" type="submit">Log out</button></form>
<form id="logout-everywhere-form" method="post" action="/logout-everywhere">{{template "token" .Token}}
<button id="logout-everywhere" type="submit">Log out everywhere</button></form>
<p>This session ends {{.Idle}} after your last request, and {{.Absolute}} after
you logged in at the latest.</p>
</body></html>{{end}}
`))
