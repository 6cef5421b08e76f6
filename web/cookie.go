package web

import (
	"net/http"
	"strings"

	"github.com/attrcache/attrcache/attrcache"
)

// cookieID returns the first cookie of the Manager's name that holds a
// well-formed session id, or "". Anything else a client sends (no
// cookie, an empty or overlong one, garbage) is no session, decided
// without I/O.
func (m *Manager) cookieID(r *http.Request) string {
	for _, c := range r.CookiesNamed(m.cfg.CookieName) {
		if attrcache.ValidSessionID(c.Value) {
			return c.Value
		}
	}
	return ""
}

// cookie returns the cookie naming session id.
func (m *Manager) cookie(id string) *http.Cookie {
	c := &http.Cookie{
		Name:     m.cfg.CookieName,
		Value:    id,
		Path:     m.cfg.Path,
		Domain:   m.cfg.Domain,
		Secure:   !m.cfg.Insecure,
		HttpOnly: true,
		SameSite: m.cfg.SameSite,
	}
	if m.cfg.Persist {
		c.MaxAge = m.maxAge
	}
	return c
}

// expiredCookie returns the cookie that makes browsers drop the session
// cookie: same name, path and domain, Max-Age=0.
func (m *Manager) expiredCookie() *http.Cookie {
	c := m.cookie("")
	c.MaxAge = -1
	return c
}

// setCookie puts c in the response headers, in place of any earlier
// Set-Cookie of the same name (a Login then a Rotate in one request send
// one cookie), and marks the response as one that must not be stored.
func (m *Manager) setCookie(h http.Header, c *http.Cookie) {
	prefix := c.Name + "="
	var kept []string
	for _, v := range h.Values("Set-Cookie") {
		if !strings.HasPrefix(v, prefix) {
			kept = append(kept, v)
		}
	}
	h["Set-Cookie"] = append(kept, c.String())
	h.Set("Cache-Control", "no-store")
	addVary(h, "Cookie")
}
