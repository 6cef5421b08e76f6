// Package web puts attrcache sessions behind a cookie, for net/http
// servers: a middleware that hands each request its session, session ids,
// login, id rotation, logout, and idle and absolute timeouts.
//
//	m, err := web.New(store, web.Config{IdleTimeout: 30 * time.Minute, AbsoluteTimeout: 12 * time.Hour})
//	http.ListenAndServe(addr, m.Handler(mux))
//
//	sess, err := m.Login(w, r, attrs...) // the password checked out: a new id, its first attributes, a new cookie
//	sess := web.FromContext(r.Context()) // any later request: the handle, no I/O
//	sess, err = m.Rotate(w, r)           // at every change of privilege: same attributes, new id
//	err = m.Logout(w, r)                 // the session ends, the cookie expires
//	sess, err = m.LoginUser(w, r, userID, attrs...) // Login, bound to the user: listed, capped, ended together
//	n, err := m.LogoutEverywhere(w, r)   // every session of the request's user ends
//	mux.Handle("GET /account", m.RequireSession(account)) // 401 or the login page without a live session
//
// # What a request costs
//
// The middleware does no I/O. It checks the cookie's shape with
// attrcache.ValidSessionID (as NewSessionID and User.NewSessionID make
// them) and hands out a handle, which does no I/O either. A request that
// never looks at its session costs Redis nothing; one that reads an
// attribute costs that read, one command. A cookie that is absent, empty,
// too long or not an id at all means "no session": never an error page,
// and never a Redis key built from what a client sent.
//
// The price is that FromContext cannot tell a live session from a dead
// one: it returns a handle for any well-formed cookie, and the handle's
// first call says, with attrcache.ErrSessionNotFound, that the session
// has ended, expired or moved to a new id. Checking up front would cost
// every request a round trip, including those that never use the session;
// RequireSession makes that check for the handlers that ask for it.
//
// # Timeouts and renewal
//
// The idle timeout is the session's time to live in Redis (Start with
// Config.IdleTimeout); the absolute timeout is its WithMaxLifetime, which
// Renew never passes. Both are enforced by Redis, on Redis's clock: a
// cookie that outlives its session, or is replayed, gets nothing.
//
// Sliding expiry needs a renewal, and a renewal is a round trip.
// Renewing on every request (what scs does when its IdleTimeout is set:
// every request writes the session back) would double the cost of a
// request that reads one attribute. Instead the middleware renews only
// when the request's own reads or writes showed that less than
// IdleTimeout - Config.IdleSlack may be left (attrcache.Session.Expiry:
// the deadline carried by the last reply, no I/O). So a session ends
// between IdleTimeout - IdleSlack and IdleTimeout after the last request
// that used it. IdleSlack is a tenth of IdleTimeout unless configured:
// a 30-minute session ends 27 to 30 minutes after its last use, and a
// user at work all the time costs at most 10 renewals, one command each,
// per 30 minutes (IdleTimeout/IdleSlack; more only when requests of one
// session race); every other request pays nothing. IdleSlack = ExactIdle
// renews on every request that used the session, for one command more
// on each. A request that did not touch the session is never renewed: it
// did not fetch the deadline, and a handler that does not use the
// session is no evidence of a user at work. Once the deadline is the
// absolute one (Session.MaxExpiry, also carried by every read), no
// renewal is tried: it could not extend the session.
//
// Expiry is on Redis's clock, and so is the comparison: the Manager asks
// the Store for its estimate of that clock (attrcache.Store.Now, learned
// from Redis's replies) and takes its latest value within the estimate's
// error bound (about a millisecond plus half a round trip), so a server
// whose clock is minutes off still renews on time, and an estimate that
// errs never leaves a session less time than promised.
//
// The decision is taken just before the response's headers go out (the
// handler's first WriteHeader, Write or Flush, or when it returns without
// writing), as scs's LoadAndSave commits the session: by then the handler
// has usually read what it needed, and a renewal can still send a
// refreshed persistent cookie. A handler that first touches the session
// after it began writing its body gets the renewal after it returns,
// without a cookie; with Config.Persist that renewal is skipped instead,
// so that the cookie never dies before the session (a later request
// renews both), and such a request is the one use IdleSlack's promise
// does not count.
//
// # Cookies
//
// The cookie holds the session id and nothing else; Redis holds only its
// SHA-256 digest, and this package never logs it or puts it in an error.
// It is HttpOnly always, Secure unless Config.Insecure says otherwise (a
// bool's zero value is the safe one, so a Config that forgets the field
// still gets Secure cookies), SameSite=Lax unless configured, and
// host-only unless Config.Domain is set.
//
// Its name is "__Host-session" by default. Browsers accept a "__Host-"
// cookie only when it is Secure, host-only and on Path "/", so neither a
// sibling subdomain nor a plain-HTTP page can set or shadow it with an
// id of its choosing (cookie tossing, which would make a user work in
// the attacker's session whatever Login does). A Secure cookie with a
// Domain or a narrower Path defaults to "__Secure-session", which at
// least plain HTTP cannot set, and only an Insecure one to "session"
// (DefaultHostCookieName, DefaultSecureCookieName,
// DefaultInsecureCookieName). A name given in Config.CookieName must keep
// its prefix's rules, which New checks.
//
// With Config.Persist the cookie carries Max-Age = IdleTimeout,
// refreshed with every renewal; without it the cookie is a session
// cookie that the browser drops when it closes. Max-Age is the idle
// timeout rather than the session's exact remaining time, which only
// Redis's clock knows: near the absolute deadline the cookie may outlive
// the session by up to IdleTimeout, and is then refused.
//
// # Caching
//
// OWASP's Session Management Cheat Sheet asks that session ids never be
// cached and that responses carrying them say Cache-Control: no-store; it
// advises against the older no-cache="Set-Cookie" form, which is what scs
// sends with its cookies (scs also adds Vary: Cookie to every response).
// This package follows OWASP where they differ:
//
//   - a response carrying one of its cookies (Login, Rotate, Logout, a
//     persistent cookie refreshed by a renewal) gets Cache-Control:
//     no-store, replacing whatever the handler set;
//   - a response of a request whose handler got a session handle from
//     FromContext is per-user content: it gets Cache-Control: no-store
//     unless the handler set a Cache-Control of its own;
//   - a response whose handler called FromContext at all gets Vary:
//     Cookie, since what it shows depends on the cookie.
//
// A response whose handler never called FromContext gets no header from
// this package, so static files served through it stay cacheable.
// Headers are added before the first byte of the response, so a handler
// should look at its session before it starts writing.
//
// # Login, rotation, logout
//
// Login starts a session under a new id (256 bits from crypto/rand) and
// ends the one the request came with, if any: a session id is never
// carried across a login, which is the defence against session fixation.
// Login starts with the attributes it is given and no others; to keep
// what an anonymous session held (a cart), call Rotate instead, which moves every attribute (values, encryption,
// Created, Modified, expiry) to a new id and ends the old one, keeping
// the deadlines. Call Rotate at every change of privilege. A request
// still holding the old cookie during a rotation either completes on the
// old session before the rotation took it, or gets ErrSessionNotFound;
// a write is never left on the old id unseen (see attrcache's Rotate).
// Logout ends the session and expires the cookie.
//
// Logout always wins. A Logout, or a Login with the same cookie, that
// comes while a Rotate of the session is under way ends the session for
// good: the Rotate fails with attrcache.ErrSessionNotFound and sets no
// cookie, and neither the old id nor the new one reads again. The
// package's tests hold a Rotate at each of its steps to check it.
//
// When several requests of one browser race with a rotation, their
// responses may reach the browser in any order, and one that renewed the
// old id's persistent cookie could arrive after the rotation's: the
// browser then holds a dead id and the user must log in again. This is
// the fail-closed side of a race every cookie session has.
//
// # When Login fails
//
// Login makes the session and its first attributes in one script, so a
// login either happened, with every attribute, or left nothing: no
// cookie is set, no session exists in Redis, and the request keeps the
// session it came with. The handler sees Start's error, to tell an
// outage from a mistake of the application's:
//
//	_, err := m.Login(w, r,
//		attrcache.Attr{Name: "user", Value: []byte(userID)},
//		attrcache.Attr{Name: "token", Value: token, Options: []attrcache.WriteOption{attrcache.WithEncryption()}},
//	)
//	switch {
//	case errors.Is(err, attrcache.ErrUnavailable): // Redis down or too slow: worth another try
//		http.Error(w, "try again later", http.StatusServiceUnavailable)
//		return
//	case err != nil: // ErrInvalid, ErrNoCipher, ErrTooBig, ...: fix the application
//		logger.Error("login", "error", err) // it names attributes, never a value or an id
//		http.Error(w, "internal error", http.StatusInternalServerError)
//		return
//	}
//
// A refused attribute (a bad name, a value over the Store's limits,
// WithEncryption on a Store without a Cipher) is found before anything
// reaches Redis, or inside the script before it writes. An
// ErrUnavailable comes within the Store's call timeout (one second by
// default, attrcache.WithCallTimeout) whatever the Redis client's own
// timeouts and retries; as such a write may have been applied, Login then
// ends the id it could not hand out, in the background, so that no
// session lingers that no cookie names.
//
// # Users: their sessions, and logging out everywhere
//
// LoginUser is Login for a session bound to a user: the application
// passes its own stable id of the user (never shown: the cookie, Redis
// and the logs see only a digest of it), and the session joins the
// user's registry, which attrcache keeps exact in the same scripts that
// start, rotate and end sessions. The Store's cap on sessions per user
// (attrcache.WithMaxSessions) applies at login: by default the user's
// oldest session ends to make room; with attrcache.RefuseNew, LoginUser
// returns attrcache.ErrTooManySessions and, as any failed Login, sets no
// cookie and leaves no session. Rotate keeps a bound session bound.
//
//	sess, err := m.LoginUser(w, r, user.ID, attrcache.Attr{Name: "device", Value: []byte(r.UserAgent())})
//	if errors.Is(err, attrcache.ErrTooManySessions) {
//		http.Error(w, "log out on another device first", http.StatusConflict)
//		return
//	}
//
// LogoutEverywhere ends every session of the request's user, on every
// device, the request's own included, and expires its cookie; call it
// for "log out everywhere" and when the password changes. It ends
// anything only when the request's own session was live, so a stale or
// forged cookie that carries a user's tag logs nobody out. On a session
// bound to no user (Login's) it ends that session alone. To end the
// others and stay logged in here, call attrcache's User.EndSessions with
// the request's session as the exception.
//
// A user's tag is a digest of the user id, which anyone who knows the id
// can compute, so the user that Session.User finds in a cookie proves
// nothing until the session itself is found live: use it only behind
// RequireSession, or after a read of the session succeeded.
//
//	n, err := m.LogoutEverywhere(w, r) // n sessions ended, this one included
//
//	// behind RequireSession:
//	sess := web.FromContext(ctx)
//	u, _ := sess.User()
//	n, err := u.EndSessions(ctx, sess) // everywhere but here
//
// An "active sessions" page, behind RequireSession, lists the user's
// live sessions from one read of the registry, oldest first, with what
// each stored (a device name kept as an attribute at login), and ends one
// on request:
//
//	refs, err := store.User(userID).Sessions(ctx) // or u.Sessions(ctx), u as above
//	for _, ref := range refs {
//		here := ref.Session.Key() == web.FromContext(ctx).Key()
//		e, err := ref.Session.Get(ctx, "device")
//		// show ref.Created, ref.Expires, e.Value, here; a button that
//		// ends it calls ref.Session.End(ctx) (ref.Session.ID() names it)
//	}
//
// A session listed there never is one that has ended, expired or moved
// to a new id by Rotate.
//
// # Pages that need a session
//
// RequireSession guards a handler that only a logged-in user may reach.
// It checks that the request's session lives with one read of its
// marker (none without a cookie), answers 401, or redirects a GET or
// HEAD to Config.LoginURL, when it does not, and answers 503 when Redis
// cannot tell, so that an outage never looks like a logout. The handler
// behind it finds the live session with FromContext, without I/O; its
// own reads are commands of their own.
//
// # Cross-site request forgery
//
// The browser sends the session cookie with every request to the site,
// also those a page of another site makes it send: a form posted from
// elsewhere acts in the user's session. SameSite=Lax, the default, keeps
// the cookie off most cross-site requests, but not off those of sibling
// subdomains (the same site) or of browsers that predate it.
//
// The default defence is net/http's CrossOriginProtection, wrapped around
// the session middleware so that a forged request never reaches a
// session:
//
//	csrf := http.NewCrossOriginProtection()
//	http.ListenAndServe(addr, csrf.Handler(m.Handler(mux)))
//
// It answers 403 to every request but GET, HEAD and OPTIONS that the
// browser marks as cross-origin (Sec-Fetch-Site, sent by every major
// browser since 2023, or else an Origin other than the Host). That
// defends against forms and scripts of every other origin, sibling
// subdomains included. It relies on the browser: requests carrying
// neither header (other clients, older browsers) go through, and a GET
// that changes something is not covered, so keep GET and HEAD safe.
//
// An application that must also cover older browsers, or whose policy
// asks for one, adds a synchronizer token: a random value (crypto/rand)
// made at login and kept as an attribute of the session with its own
// expiry, written into each form, and compared with crypto/subtle on
// each request that changes something:
//
//	// a new session, so a new token: none survives a login
//	sess, err := m.Login(w, r, attrcache.Attr{Name: "csrf", Value: []byte(rand.Text()),
//		Options: []attrcache.WriteOption{attrcache.WithExpiration(12 * time.Hour)}})
//
//	e, err := web.FromContext(ctx).Get(ctx, "csrf") // on each POST
//	ok := err == nil && subtle.ConstantTimeCompare(e.Value, []byte(r.PostFormValue("csrf"))) == 1
//
// Another origin cannot read the token, so it cannot forge a request
// that carries it, whatever the browser. WithEncryption seals it in
// Redis when the Store has a Cipher. Rotate keeps it; Set a new one there
// if forms shown before a change of privilege must stop working. Neither
// defence stands against script running on the site itself (XSS), which
// can read the token and send same-origin requests. The package's csrf
// example puts both together.
package web
