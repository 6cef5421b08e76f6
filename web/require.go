package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/attrcache/attrcache/attrcache"
)

// RequireSession returns next behind a check that the request has a live
// session, for pages and endpoints only a logged-in user may reach.
//
// A request whose session lives goes on to next, where FromContext
// returns that session's handle without I/O. The check is one plain read
// of the session's marker (attrcache.Session.TTL, one HMGET), and none at
// all for a request without a well-formed cookie. It is a use of the
// session: it counts for the idle timeout and may renew it, as the
// handler's own reads do (Config.IdleSlack). The handler's first read of
// an attribute is a second command: the handle keeps no values, so the
// check cannot answer it (the near cache, where configured, usually
// answers both from memory).
//
// A request without a live session (no cookie, a malformed one, a
// session ended, expired or rotated away) never reaches next. Without
// Config.LoginURL it gets 401 Unauthorized with a short plain-text body;
// with it, a GET or HEAD gets 303 See Other to LoginURL and any other
// method 401, since a redirect would lose what a form sent. The cookie is
// left alone: the request may be one that raced a rotation, and
// expiring its cookie could drop the new one the browser just got. No
// response names the session, its id or its digest.
//
// When the session cannot be checked (Redis unreachable, a timeout),
// next is not called either, and the request is not sent to log in: it
// gets 503 Service Unavailable (500 Internal Server Error for data in
// Redis that attrcache cannot read), and the error, naming the session
// by its short digest, goes to Config.ErrorHandler.
//
// RequireSession includes the session middleware: behind m.Handler it
// adds only the check, and on its own it puts m.Handler in front, so it
// can guard a route of a mux that is not behind the middleware.
// Refusals get Cache-Control: no-store and Vary: Cookie.
func (m *Manager) RequireSession(next http.Handler) http.Handler {
	return m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// m.Handler put m's state in the context: the answer depends on
		// the cookie, and what next shows is the user's.
		sess := FromContext(r.Context())
		if sess == nil {
			m.refuse(w, r)
			return
		}
		_, err := sess.TTL(r.Context())
		switch {
		case err == nil:
			next.ServeHTTP(w, r)
		case errors.Is(err, attrcache.ErrSessionNotFound):
			m.refuse(w, r)
		default:
			if !errors.Is(err, context.Canceled) {
				m.report(r, fmt.Errorf("web: checking session %s: %w", sess.ID(), err))
			}
			code := http.StatusServiceUnavailable
			if !errors.Is(err, attrcache.ErrUnavailable) {
				code = http.StatusInternalServerError
			}
			plainError(w, code)
		}
	}))
}

// refuse answers a request that needs a session and has none: a
// redirect to Config.LoginURL for GET and HEAD when it is set, 401
// otherwise.
func (m *Manager) refuse(w http.ResponseWriter, r *http.Request) {
	if m.cfg.LoginURL != "" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, m.cfg.LoginURL, http.StatusSeeOther)
		return
	}
	plainError(w, http.StatusUnauthorized)
}

// plainError answers code with its status text and nothing else.
func plainError(w http.ResponseWriter, code int) {
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, http.StatusText(code), code)
}
