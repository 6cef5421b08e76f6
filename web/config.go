package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/attrcache/attrcache/attrcache"
)

// Config says how a Manager's cookie looks and how long its sessions
// live. Zero fields take the defaults their comments give; the two
// timeouts have none and must be set.
type Config struct {
	// CookieName is the cookie's name: an RFC 6265 token. The default
	// is a generic name, as OWASP advises, that does not tell what runs
	// behind it, with the strongest prefix the cookie can carry:
	// DefaultHostCookieName ("__Host-session") for a Secure cookie with
	// no Domain and Path "/", DefaultSecureCookieName
	// ("__Secure-session") for another Secure cookie, and
	// DefaultInsecureCookieName ("session") only with Insecure. A name
	// starting with "__Host-" must come with Path "/", no Domain and
	// Secure; one starting with "__Secure-" with Secure. New refuses a
	// Config that breaks those rules, since browsers would refuse its
	// cookie.
	CookieName string

	// Path is the cookie's Path. Default "/".
	Path string

	// Domain is the cookie's Domain. Default empty: a host-only cookie,
	// sent back only to the host that set it. Set it only to share the
	// session with subdomains, which then can read and set it too.
	Domain string

	// Insecure drops the cookie's Secure attribute, for development over
	// plain HTTP. The default, false, gives Secure cookies, which
	// browsers send over HTTPS only: the field is negative so that a
	// Config that forgets it is the safe one.
	Insecure bool

	// SameSite is the cookie's SameSite attribute. Zero means
	// http.SameSiteLaxMode. http.SameSiteNoneMode needs a Secure cookie
	// (browsers refuse it otherwise). http.SameSiteDefaultMode, which
	// leaves the choice to each browser, is refused: say which one.
	SameSite http.SameSite

	// Persist makes the cookie persistent: it carries Max-Age =
	// IdleTimeout (rounded up to a second) and is sent again with every
	// renewal, so it survives a browser restart for as long as the
	// session may. Without it the cookie is a session cookie, dropped
	// when the browser closes; the session itself ends on its timeouts
	// either way.
	Persist bool

	// IdleTimeout is how long a session lives without being used: its
	// time to live in Redis, extended by the renewals (see IdleSlack).
	// At least a millisecond, at most AbsoluteTimeout.
	IdleTimeout time.Duration

	// IdleSlack is how much sooner than IdleTimeout a session may end
	// after the last request that used it (read or wrote it): it ends
	// no earlier than IdleTimeout-IdleSlack after that request, and no
	// later than IdleTimeout. A request that used its session renews it
	// when less than IdleTimeout-IdleSlack may be left, so a user active
	// the whole time costs at most IdleTimeout/IdleSlack renewals, one
	// Redis command each, per idle timeout (more only when requests of
	// one session race). Zero means IdleTimeout/10: sessions end between
	// 90% and 100% of IdleTimeout after their last use, for at most 10
	// renewals per idle timeout. ExactIdle renews on every request that
	// used the session, so that it ends exactly IdleTimeout after its
	// last use, for one command more on each such request. Otherwise
	// IdleSlack must be positive and at most IdleTimeout/2 (the half
	// that earlier versions of this package always used).
	IdleSlack time.Duration

	// AbsoluteTimeout is how long a session lives at most after Login,
	// whatever the renewals (attrcache.WithMaxLifetime, enforced by
	// Redis). At least a millisecond, at most attrcache.MaxExpiration.
	AbsoluteTimeout time.Duration

	// LoginURL is where RequireSession sends a browser whose request
	// has no live session: a GET or HEAD gets 303 See Other to it, any
	// other method 401. Empty: every such request gets 401. It is a path
	// on this site starting with "/" (not "//"), or an absolute http or
	// https URL with a host and no user name or password; with no
	// spaces, backslashes or control characters. New refuses anything
	// else. Nothing is added to it (no return address): a login page
	// that wants one must choose and check it itself.
	LoginURL string

	// ErrorHandler, when set, is told of the errors the middleware meets
	// on its own, which no caller sees: a renewal that failed (the
	// session still lives until its current deadline), a session that
	// RequireSession could not check, the end of the session a Login
	// replaced, or the end of a session whose Login failed with Redis
	// unreachable. The handler's response is already decided
	// and may already be on its way, so ErrorHandler must not write to
	// it; it is for logging and metrics. Errors never hold a session id
	// or a value; they name the session by its short digest
	// (attrcache.Session.ID). Nil: such errors are dropped here, and the
	// Store's logger has already logged the failed call.
	ErrorHandler func(r *http.Request, err error)
}

// ExactIdle is the Config.IdleSlack that renews the session on every
// request that used it: no slack at all.
const ExactIdle time.Duration = -1

// The cookie names of a Config that sets none, by the cookie they name.
// Browsers hold a prefixed name to its promise: they accept a "__Host-"
// cookie only when it is Secure, host-only and on Path "/", so that
// neither a sibling subdomain nor a plain-HTTP page can set or shadow
// it, and a "__Secure-" cookie only when it is Secure.
const (
	// DefaultHostCookieName names a Secure cookie with no Domain and
	// Path "/": the default Config's.
	DefaultHostCookieName = "__Host-session"
	// DefaultSecureCookieName names a Secure cookie with a Domain or
	// another Path, which "__Host-" does not allow.
	DefaultSecureCookieName = "__Secure-session"
	// DefaultInsecureCookieName names a cookie without Secure
	// (Config.Insecure), which neither prefix allows.
	DefaultInsecureCookieName = "session"
)

// DefaultCookieName is the default name of an Insecure cookie.
//
// Deprecated: the default name now depends on the cookie: see
// DefaultHostCookieName, DefaultSecureCookieName and
// DefaultInsecureCookieName. Manager.Config().CookieName is the name in
// force.
const DefaultCookieName = DefaultInsecureCookieName

// withDefaults returns c with its zero fields filled in, or an error
// wrapping attrcache.ErrInvalid naming what cannot work.
func (c Config) withDefaults() (Config, error) {
	if c.Path == "" {
		c.Path = "/"
	}
	if c.SameSite == 0 {
		c.SameSite = http.SameSiteLaxMode
	}
	secure := !c.Insecure
	if c.CookieName == "" {
		switch {
		case !secure:
			c.CookieName = DefaultInsecureCookieName
		case c.Domain == "" && c.Path == "/":
			c.CookieName = DefaultHostCookieName
		default:
			c.CookieName = DefaultSecureCookieName
		}
	}
	lower := strings.ToLower(c.CookieName)
	switch {
	case !validToken(c.CookieName):
		return c, badConfig("CookieName %q is not a cookie name: it needs 1 or more letters, digits or !#$%%&'*+-.^_`|~", c.CookieName)
	case !strings.HasPrefix(c.Path, "/") || strings.IndexFunc(c.Path, func(r rune) bool { return r < 0x20 || r >= 0x7f || r == ';' }) >= 0:
		return c, badConfig("Path %q must start with '/' and hold no ';' or control characters", c.Path)
	case c.SameSite != http.SameSiteLaxMode && c.SameSite != http.SameSiteStrictMode && c.SameSite != http.SameSiteNoneMode:
		return c, badConfig("SameSite must be http.SameSiteLaxMode, SameSiteStrictMode or SameSiteNoneMode")
	case c.SameSite == http.SameSiteNoneMode && !secure:
		return c, badConfig("SameSite=None needs a Secure cookie, and Insecure is set: browsers refuse such cookies")
	case strings.HasPrefix(lower, "__host-") && (!secure || c.Path != "/" || c.Domain != ""):
		return c, badConfig("a __Host- cookie needs Secure, Path \"/\" and no Domain, or browsers refuse it")
	case strings.HasPrefix(lower, "__secure-") && !secure:
		return c, badConfig("a __Secure- cookie needs Secure (Insecure is set), or browsers refuse it")
	case c.IdleTimeout < time.Millisecond || c.IdleTimeout > attrcache.MaxExpiration:
		return c, badConfig("IdleTimeout %v must be between 1ms and attrcache.MaxExpiration", c.IdleTimeout)
	case c.AbsoluteTimeout < time.Millisecond || c.AbsoluteTimeout > attrcache.MaxExpiration:
		return c, badConfig("AbsoluteTimeout %v must be between 1ms and attrcache.MaxExpiration", c.AbsoluteTimeout)
	case c.IdleTimeout > c.AbsoluteTimeout:
		return c, badConfig("IdleTimeout %v is above AbsoluteTimeout %v", c.IdleTimeout, c.AbsoluteTimeout)
	case c.IdleSlack != ExactIdle && (c.IdleSlack < 0 || c.IdleSlack > c.IdleTimeout/2):
		return c, badConfig("IdleSlack %v must be ExactIdle, 0 (IdleTimeout/10) or between 0 and IdleTimeout/2 (%v)", c.IdleSlack, c.IdleTimeout/2)
	}
	if c.IdleSlack == 0 {
		c.IdleSlack = c.IdleTimeout / 10
	}
	if err := checkLoginURL(c.LoginURL); err != nil {
		return c, err
	}
	// What is left to check (the domain's syntax) net/http knows best.
	probe := &http.Cookie{Name: c.CookieName, Value: "x", Path: c.Path, Domain: c.Domain}
	if err := probe.Valid(); err != nil {
		return c, badConfig("the cookie cannot be sent: %v", err)
	}
	return c, nil
}

// checkLoginURL refuses a LoginURL that is neither a path of this site
// nor an absolute http(s) URL. Its errors never quote the URL, which may
// hold a password.
func checkLoginURL(s string) error {
	if s == "" {
		return nil
	}
	// A browser reads "/\host" as "//host": another site.
	if strings.IndexFunc(s, func(r rune) bool { return r == ' ' || r == '\\' || unicode.IsControl(r) }) >= 0 {
		return badConfig("LoginURL holds a space, a backslash or a control character")
	}
	u, err := url.Parse(s)
	if err != nil {
		return badConfig("LoginURL is not a URL")
	}
	switch {
	case u.User != nil:
		return badConfig("LoginURL holds a user name or password, which every redirect would show")
	case u.Scheme == "":
		if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") {
			return badConfig("LoginURL must be a path starting with a single '/' or an absolute http(s) URL")
		}
	case u.Scheme != "http" && u.Scheme != "https":
		return badConfig("LoginURL has scheme %q; it must be a path or an http(s) URL", u.Scheme)
	case u.Host == "":
		return badConfig("LoginURL has no host")
	}
	return nil
}

// validToken reports whether s is an RFC 7230 token, what RFC 6265 asks
// of a cookie name.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// invalidError is a refused Config or call: it wraps attrcache.ErrInvalid
// so that errors.Is works as for the rest of attrcache.
type invalidError struct{ reason string }

func (e *invalidError) Error() string { return "web: " + e.reason }
func (e *invalidError) Unwrap() error { return attrcache.ErrInvalid }

func invalidf(format string, args ...any) error {
	return &invalidError{reason: fmt.Sprintf(format, args...)}
}

func badConfig(format string, args ...any) error {
	return invalidf("invalid Config: "+format, args...)
}
