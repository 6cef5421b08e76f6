package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/attrcache/attrcache/attrcache"
)

// Manager ties attrcache sessions to a cookie. It is safe for concurrent
// use; make one per cookie at start-up with New.
type Manager struct {
	store  *attrcache.Store
	cfg    Config
	maxAge int // the Max-Age of a persistent cookie: IdleTimeout in seconds, rounded up
}

// New returns a Manager for sessions kept in store, with cookies and
// timeouts as cfg says (zero fields take their defaults). It refuses,
// with an error wrapping attrcache.ErrInvalid, a Config that cannot work:
// a missing, zero or negative timeout, an idle timeout above the
// absolute one, an IdleSlack out of range, SameSite=None without Secure,
// a cookie name that is not a token or breaks its prefix's rules, a bad
// path or domain, a LoginURL that is neither a path nor an http(s) URL.
func New(store *attrcache.Store, cfg Config) (*Manager, error) {
	if store == nil {
		return nil, invalidf("store is nil")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Manager{
		store:  store,
		cfg:    cfg,
		maxAge: int((cfg.IdleTimeout + time.Second - 1) / time.Second),
	}, nil
}

// Config returns the Manager's configuration, defaults filled in.
func (m *Manager) Config() Config { return m.cfg }

// ctxKey is the context key of the request's state.
type ctxKey struct{}

// state is what the middleware knows of one request. Handlers may hand
// the context to goroutines, so it is guarded by mu.
type state struct {
	m  *Manager
	mu sync.Mutex

	id   string             // the session id: the cookie's value; never logged
	sess *attrcache.Session // its handle, made when first asked for

	looked  bool // FromContext was called: the response depends on the cookie
	held    bool // a handle was given out: the response is per-user
	cookie  bool // the response carries a Set-Cookie of ours
	fresh   bool // Login, Rotate or Logout ran: nothing left to renew
	renewed bool // the renewal was decided on, once per request
	out     bool // the response's headers have gone out
}

// Handler returns next behind the session middleware: each request's
// context holds the handle of the session its cookie names, for
// FromContext, and responses get the renewal, cookie and caching headers
// described in the package documentation. It does no I/O of its own
// except a renewal, which only requests that read or wrote the session
// and found less than IdleTimeout-IdleSlack left pay for.
func (m *Manager) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, behind := m.stateOf(r)
		if behind {
			next.ServeHTTP(w, r) // already behind this Manager
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, st))
		rw := &responseWriter{ResponseWriter: w, st: st, r: r}
		next.ServeHTTP(rw, r)
		if !rw.started {
			rw.beforeHeaders() // net/http sends the headers after we return
			return
		}
		if !m.cfg.Persist {
			st.renew(r, nil)
		}
	})
}

// FromContext returns the handle of the request's session, put in the
// context by Manager.Handler. It does no I/O. It returns nil when the
// request came with no well-formed session cookie (none, empty, too long,
// not an id), after Logout in this request, and outside a Handler.
//
// A non-nil handle does not mean the session lives: finding out would
// cost every request a round trip. Its calls return
// attrcache.ErrSessionNotFound when the session has ended, expired or
// been rotated to a new id, so the first read is the check:
//
//	sess := web.FromContext(r.Context())
//	if sess == nil {
//		// not logged in
//	}
//	user, err := attrcache.GetJSON[User](ctx, sess, "user")
//	if errors.Is(err, attrcache.ErrSessionNotFound) {
//		// logged out, expired, or an old cookie
//	}
//
// After Login or Rotate in the same request it returns the new session.
// Calling it marks the response as depending on the cookie (Vary:
// Cookie) and, when it returns a handle, as private (Cache-Control:
// no-store unless the handler sets its own); call it before writing the
// response.
func FromContext(ctx context.Context) *attrcache.Session {
	st, _ := ctx.Value(ctxKey{}).(*state)
	if st == nil {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.looked = true
	sess := st.handle()
	if sess != nil {
		st.held = true
	}
	return sess
}

// handle returns the request's session handle, making it on first use:
// a request that never asks pays nothing for it. st.mu must be held.
func (st *state) handle() *attrcache.Session {
	if st.sess == nil && st.id != "" {
		st.sess = st.m.store.Session(st.id)
	}
	return st.sess
}

// stateOf returns the request's state when it came through this
// Manager's Handler (behind is true), and otherwise a new state read
// from the cookie: the Handler's, or one of its own for Login, Rotate and
// Logout called without the middleware.
func (m *Manager) stateOf(r *http.Request) (st *state, behind bool) {
	if st, _ := r.Context().Value(ctxKey{}).(*state); st != nil && st.m == m {
		return st, true
	}
	return &state{m: m, id: m.cookieID(r)}, false
}

// errHeadersSent refuses a cookie change after the response began.
func errHeadersSent(op string) error {
	return invalidf("%s after the response's headers were sent: the cookie cannot be set any more", op)
}

// Login starts a new session for the request, under a new id from
// attrcache.NewSessionID, with the Manager's idle and absolute timeouts
// and attrs as its first attributes, and sets its cookie; FromContext
// returns it from then on. Call it when the user has proved who they
// are. The session the request came with, if any, is ended (best effort:
// a failure goes to Config.ErrorHandler, and that session still ends on
// its timeouts): a login never keeps an id, against session fixation.
// To keep the attributes of the session the user had, use Rotate
// instead.
//
// The session and its first attributes are made in one script
// (attrcache.WithAttrs), all or nothing: the attributes are created as
// by CreateMany, so a login never leaves a session without, say, the user
// attribute that every other handler relies on.
//
// On any error nothing changes: no cookie is set, the request keeps the
// session it came with, and no new session exists in Redis. It returns
// Start's errors: attrcache.ErrInvalid for an attribute Create would
// refuse (a bad or duplicate name, a value or a batch over the Store's
// limits), attrcache.ErrNoCipher for encryption on a Store without a
// cipher, attrcache.ErrTooBig and attrcache.ErrTooManyAttributes for a
// session over its limits, and attrcache.ErrUnavailable when Redis could
// not be reached; after that last one, which may have been applied, Login
// ends the session it may have started, in the background so that the
// caller does not wait on Redis twice (best effort: otherwise it expires
// after IdleTimeout, and no cookie names it). Called
// behind Handler after the response's headers were sent, it returns an
// error wrapping attrcache.ErrInvalid without starting anything.
func (m *Manager) Login(w http.ResponseWriter, r *http.Request, attrs ...attrcache.Attr) (*attrcache.Session, error) {
	return m.login(w, r, "Login", attrcache.NewSessionID(), attrs)
}

// LoginUser is Login for a session bound to the user userID
// (attrcache.WithUser): its id comes from the user's
// attrcache.User.NewSessionID, so the session joins the user's registry
// (attrcache.User.Sessions lists it, LogoutEverywhere and
// attrcache.User.EndSessions end it) and counts against the Store's cap
// on sessions per user (attrcache.WithMaxSessions). userID is the
// application's stable id of the user, 1 to attrcache.MaxIDBytes
// bytes; it never reaches the cookie, Redis or a log in clear.
//
// Past the cap, the Store's policy decides: attrcache.EndOldest (the
// default) ends the user's oldest session to make room, and
// attrcache.RefuseNew makes LoginUser return attrcache.ErrTooManySessions
// as it is. It returns Login's errors otherwise, and on any error, as
// Login, it sets no cookie and leaves no session.
func (m *Manager) LoginUser(w http.ResponseWriter, r *http.Request, userID string, attrs ...attrcache.Attr) (*attrcache.Session, error) {
	return m.login(w, r, "LoginUser", m.store.User(userID).NewSessionID(), attrs, attrcache.WithUser(userID))
}

// login starts the session id with the Manager's timeouts and attrs,
// plus opts, sets its cookie and ends the request's previous session.
func (m *Manager) login(w http.ResponseWriter, r *http.Request, op, id string, attrs []attrcache.Attr, opts ...attrcache.StartOption) (*attrcache.Session, error) {
	st, _ := m.stateOf(r)
	if st.headersSent() {
		return nil, errHeadersSent(op)
	}
	ctx := r.Context()
	opts = append(opts, attrcache.WithMaxLifetime(m.cfg.AbsoluteTimeout))
	if len(attrs) > 0 {
		opts = append(opts, attrcache.WithAttrs(attrs...))
	}
	sess, err := m.store.Start(ctx, id, m.cfg.IdleTimeout, opts...)
	if err != nil {
		if errors.Is(err, attrcache.ErrUnavailable) || errors.Is(err, attrcache.ErrNotReplicated) {
			go m.abandon(r, id) // Redis may be down: the caller does not wait for it twice
		}
		return nil, err
	}
	old := st.replace(id, sess)
	m.setCookie(w.Header(), m.cookie(id))
	if old != nil {
		if err := old.End(ctx); err != nil && !errors.Is(err, attrcache.ErrSessionNotFound) {
			m.report(r, fmt.Errorf("web: ending session %s, replaced at login: %w", old.ID(), err))
		}
	}
	return sess, nil
}

// abandon ends the session id after a Start that failed in a way that
// may have started it anyway: its id never reaches a cookie, so nobody
// could use or end it, and a bound one would hold a place in its user's
// registry. The request may be over by then, so the End does not take
// its cancellation; the Store's call timeout bounds it.
func (m *Manager) abandon(r *http.Request, id string) {
	sess := m.store.Session(id)
	err := sess.End(context.WithoutCancel(r.Context()))
	if err != nil && !errors.Is(err, attrcache.ErrSessionNotFound) {
		m.report(r, fmt.Errorf("web: ending session %s, whose start failed: %w", sess.ID(), err))
	}
}

// Rotate moves the request's session to a new id (attrcache's
// Session.Rotate: every attribute with its value, encryption, times and
// expiry; the session's deadlines kept; the old id ended) and sets the new
// cookie; FromContext returns the new session from then on. Call it at
// every change of privilege (a step-up, a role change, a login that keeps
// the anonymous session's attributes). The new id comes from
// attrcache.Session.NewID, so a session bound to a user stays bound to
// it, in its user's registry.
//
// It returns attrcache.ErrSessionNotFound when the request has no session
// or it has ended (expired, logged out, or rotated by a concurrent
// request), and Rotate's other errors; after any error the cookie is left
// as it was. Logout always wins: when the session is ended while it
// moves (a Logout or a Login with the same cookie, User.EndSessions),
// Rotate fails with ErrSessionNotFound and sets no cookie, and the new
// id holds nothing. An error wrapping attrcache.ErrInvalid, with nothing done,
// means it was called behind Handler after the headers were sent.
func (m *Manager) Rotate(w http.ResponseWriter, r *http.Request) (*attrcache.Session, error) {
	st, _ := m.stateOf(r)
	if st.headersSent() {
		return nil, errHeadersSent("Rotate")
	}
	st.mu.Lock()
	old := st.handle()
	st.mu.Unlock()
	if old == nil {
		return nil, fmt.Errorf("web: no session to rotate: %w", attrcache.ErrSessionNotFound)
	}
	id := old.NewID() // a bound session's new id keeps its user's tag, so it stays bound
	sess, err := old.Rotate(r.Context(), id)
	if err != nil {
		return nil, err
	}
	st.replace(id, sess)
	m.setCookie(w.Header(), m.cookie(id))
	return sess, nil
}

// Logout ends the request's session and expires its cookie; FromContext
// returns nil from then on. A request without a session, or whose session
// has already ended, gets the expired cookie and no error. When End fails
// (Redis unreachable) the cookie is expired all the same and the error is
// returned: the session still ends on its timeouts. Behind Handler after
// the headers were sent, the session is ended but the cookie cannot be
// expired, and the error wraps attrcache.ErrInvalid.
func (m *Manager) Logout(w http.ResponseWriter, r *http.Request) error {
	_, err := m.logout(w, r, "Logout", func(ctx context.Context, old *attrcache.Session) (int, error) {
		if old == nil {
			return 0, nil
		}
		if err := old.End(ctx); err != nil && !errors.Is(err, attrcache.ErrSessionNotFound) {
			return 0, err
		}
		return 1, nil
	})
	return err
}

// logout drops the request's session, ends it with end, and expires the
// cookie, or says why it cannot once the headers were sent.
func (m *Manager) logout(w http.ResponseWriter, r *http.Request, op string,
	end func(context.Context, *attrcache.Session) (int, error)) (int, error) {
	st, _ := m.stateOf(r)
	sent := st.headersSent()
	n, err := end(r.Context(), st.replace("", nil))
	if sent {
		return n, errors.Join(err, errHeadersSent(op))
	}
	m.setCookie(w.Header(), m.expiredCookie())
	return n, err
}

// LogoutEverywhere ends every session of the user the request's session
// is bound to (LoginUser), this one included, on every device, expires
// the cookie, and returns how many sessions it ended; FromContext returns
// nil from then on. Offer it as "log out everywhere", and call it when an
// account's password changes.
//
// The request's session is ended first, and only a session that was
// live lets the call end the others: a cookie of a session that has
// ended, expired or never existed (a forged id carrying a user's tag)
// ends nothing else, gets the expired cookie and returns 0 and no error.
// On a session bound to no user (Login's) it ends that session alone,
// as Logout does, and returns 1. A session started, renewed or rotated
// at the same moment is either ended or was started after the call
// (attrcache.User.EndSessions is atomic); a Rotate of one of them in
// flight fails with attrcache.ErrSessionNotFound.
//
// When Redis fails, the cookie is expired all the same and the error is
// returned with the count of what was ended: the request's session
// alone, when ending the others failed (they end on their timeouts, or at
// a LogoutEverywhere from another of the user's sessions). Behind Handler
// after the headers were sent, the sessions are ended but the cookie
// cannot be expired, and the error wraps attrcache.ErrInvalid.
func (m *Manager) LogoutEverywhere(w http.ResponseWriter, r *http.Request) (int, error) {
	return m.logout(w, r, "LogoutEverywhere", m.endEverywhere)
}

// endEverywhere ends sess and, if it was live and bound to a user, every
// other session of the user, and returns how many it ended.
func (m *Manager) endEverywhere(ctx context.Context, sess *attrcache.Session) (int, error) {
	if sess == nil {
		return 0, nil
	}
	switch err := sess.End(ctx); {
	case errors.Is(err, attrcache.ErrSessionNotFound):
		return 0, nil // a dead cookie proves nothing: it ends nobody's sessions
	case err != nil:
		return 0, err
	}
	u, ok := sess.User()
	if !ok {
		return 1, nil
	}
	n, err := u.EndSessions(ctx)
	if err != nil {
		return 1, fmt.Errorf("web: the request's session %s ended, the user's others may not have: %w", sess.ID(), err)
	}
	return 1 + n, nil
}

// headersSent reports whether the response behind Handler has started.
func (st *state) headersSent() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.out
}

// replace makes sess (nil after a logout) the request's session and
// returns the one it replaces.
func (st *state) replace(id string, sess *attrcache.Session) *attrcache.Session {
	st.mu.Lock()
	defer st.mu.Unlock()
	old := st.handle()
	st.id, st.sess = id, sess
	st.fresh, st.cookie, st.held = true, true, true
	return old
}

// renew renews the request's session, once per request, when the
// request used it and it may have less than IdleTimeout-IdleSlack left
// (see due). With w it also refreshes
// a persistent cookie in w's headers, which must not have been sent; w is
// nil after the response began, when only a session cookie may be
// renewed. The Handler calls it.
func (st *state) renew(r *http.Request, w http.ResponseWriter) {
	m := st.m
	st.mu.Lock()
	sess, id := st.sess, st.id // no handle made: the handler never asked, so it read nothing
	if sess == nil || st.fresh || st.renewed {
		st.mu.Unlock()
		return
	}
	exp, ok := sess.Expiry() // known only when this request's handle had a reply
	if !ok || !m.due(exp) {
		st.mu.Unlock()
		return
	}
	// At the absolute deadline a renewal cannot extend the session.
	if most, ok := sess.MaxExpiry(); ok && !exp.Before(most) {
		st.mu.Unlock()
		return
	}
	st.renewed = true
	st.mu.Unlock()

	_, err := sess.Renew(r.Context(), m.cfg.IdleTimeout)
	switch {
	case err == nil:
		if w != nil && m.cfg.Persist {
			st.mu.Lock()
			st.cookie = true
			st.mu.Unlock()
			m.setCookie(w.Header(), m.cookie(id))
		}
	case errors.Is(err, attrcache.ErrSessionNotFound), errors.Is(err, context.Canceled):
		// Ended or rotated meanwhile, or the client went away: nothing to
		// renew, nobody to tell.
	default:
		m.report(r, fmt.Errorf("web: renewing session %s: %w", sess.ID(), err))
	}
}

// due reports whether a session whose last reply gave deadline exp must
// be renewed now for it to live IdleTimeout-IdleSlack more. Both times
// are on Redis's clock; the Store's estimate of it is taken at its
// latest (now plus the bound on its error), so that a session is never
// left with less than promised because the estimate ran slow. An
// unknown clock, which a handle with a deadline should not meet, renews.
func (m *Manager) due(exp time.Time) bool {
	if m.cfg.IdleSlack == ExactIdle {
		return true
	}
	now, bound, ok := m.store.Now()
	return !ok || exp.Sub(now.Add(bound)) < m.cfg.IdleTimeout-m.cfg.IdleSlack
}

func (m *Manager) report(r *http.Request, err error) {
	if h := m.cfg.ErrorHandler; h != nil {
		h(r, err)
	}
}
