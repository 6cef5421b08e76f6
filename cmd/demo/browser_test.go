package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/internal/inspect"
	"github.com/attrcache/attrcache/keys"
	"github.com/attrcache/attrcache/test/redistest"
	"github.com/attrcache/attrcache/web"
)

// envRequireBrowser, when true, makes a missing Chromium fail
// TestBrowser instead of skipping it (CI sets it).
const envRequireBrowser = "ATTRCACHE_REQUIRE_BROWSER"

// The shops' idle timeouts: in TestBrowser long enough that no pause of
// a loaded machine between two steps ends a session; in TestBrowserIdle
// short, so that an active user outlives several in seconds.
const (
	flowIdle    = time.Minute
	browserIdle = 2 * time.Second
)

// TestBrowser drives the shop (shop.go) with a real headless Chromium, so
// that what is checked is what a browser does with the cookie, the
// redirects and the forms: log in, the protected page, the step up that
// moves the session to a new id, a cart filled from two tabs, forged
// forms refused, log out and log out everywhere. TestBrowserIdle does the
// timeouts.
func TestBrowser(t *testing.T) {
	chromium := findChromium(t)
	store, _ := browserStore(t)
	srv := startShop(t, store, flowIdle)
	// Another origin of the same site (the shop's host, another port), as
	// a sibling subdomain would be: SameSite=Lax lets the cookie go with
	// its forms, so only the CSRF defences stand in their way.
	other := startTestHTTPS(t, otherSite())

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	browser := startChromium(t, ctx, chromium, srv, other)
	shopURL := browserURL(srv)
	start := time.Now()

	// A device: its own cookie jar (a browser context), one tab for now.
	a := newTab(t, browser, "tab A1", shopURL, chromedp.WithNewBrowserContext())

	// Before login, the protected page sends the browser to log in.
	if resp := a.open("/account"); a.path() != "/login" || resp.Status != http.StatusOK {
		t.Fatalf("/account before login: ended on %s with %d, want /login", a.path(), resp.Status)
	}
	if c := a.cookie(); c != nil {
		t.Fatalf("a cookie before login: %+v", c.Name)
	}

	// Log in.
	a.login("alice")
	a.want("user", "alice")
	a.want("role", "member")
	a.want("cart", "0")
	a.want("sessions", "1")
	login := a.cookie()
	checkCookie(t, "after login", login)
	if js := a.eval("document.cookie"); strings.Contains(js, web.DefaultHostCookieName) {
		t.Errorf("page script reads the session cookie: %q", js)
	}
	token := a.token()

	// The protected page, again, as the browser sees it.
	resp := a.open("/account")
	if resp.Status != http.StatusOK || a.path() != "/account" {
		t.Fatalf("/account after login: %d at %s", resp.Status, a.path())
	}
	if cc := header(resp, "Cache-Control"); cc != "no-store" {
		t.Errorf("/account has Cache-Control %q, want no-store", cc)
	}
	a.want("user", "alice")

	// The step up: a new id, the admin role; the old id is dead.
	if resp := a.click("elevate"); resp.Status != http.StatusOK || a.path() != "/account" {
		t.Fatalf("elevate: %d at %s", resp.Status, a.path())
	}
	a.want("role", "admin")
	a.want("user", "alice")
	elevated := a.cookie()
	checkCookie(t, "after elevate", elevated)
	if elevated.Value == login.Value {
		t.Fatal("elevate kept the session id")
	}
	if _, err := store.Session(login.Value).TTL(ctx); !errors.Is(err, attrcache.ErrSessionNotFound) {
		t.Fatalf("the id before elevate: %v, want ErrSessionNotFound", err)
	}
	// A browser that took the cookie before the step up gets nothing.
	thief := newTab(t, browser, "another browser", shopURL, chromedp.WithNewBrowserContext())
	thief.setCookie(login)
	if thief.open("/account"); thief.path() != "/login" {
		t.Fatalf("the cookie of before the step up reached %s", thief.path())
	}
	if got := a.token(); got != token {
		t.Error("elevate changed the form token; Rotate keeps every attribute")
	}

	// Two tabs of one browser add to the cart in turn; each sees the sum.
	a2 := newTab(t, a.ctx, "tab A2", shopURL)
	a2.open("/account")
	a2.want("role", "admin")
	want := 0
	for i := range 6 {
		tb := a
		if i%2 == 1 {
			tb = a2
		}
		if resp := tb.click("add"); resp.Status != http.StatusOK {
			t.Fatalf("%s add: %d", tb.name, resp.Status)
		}
		want++
		tb.want("cart", strconv.Itoa(want))
	}
	// Then both at once: every click counts.
	const clicks = 5
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, tb := range []*tab{a, a2} {
		wg.Go(func() {
			for range clicks {
				resp, err := chromedp.RunResponse(tb.ctx, chromedp.Click(chromedp.ID("add")))
				if err == nil && resp.Status != http.StatusOK {
					err = fmt.Errorf("status %d", resp.Status)
				}
				if err != nil {
					errs <- fmt.Errorf("%s add: %w", tb.name, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want += 2 * clicks
	for _, tb := range []*tab{a, a2} {
		tb.open("/account")
		tb.want("cart", strconv.Itoa(want))
	}
	cart, err := store.Session(elevated.Value).Get(ctx, "cart")
	if err != nil || string(cart.Value) != strconv.Itoa(want) {
		t.Fatalf("the cart in Redis: %v, %v; want %d", cart, err, want)
	}

	// A form with a wrong token is refused, and so is one of another
	// origin, even with the right token and the cookie.
	if err := chromedp.Do(a.ctx, chromedp.SetValue(chromedp.CSS("#add-form input[name=csrf]"), "forged")); err != nil {
		t.Fatal(err)
	}
	if resp := a.click("add"); resp.Status != http.StatusForbidden || a.body() != "wrong form token" {
		t.Errorf("a forged token: %d %q", resp.Status, a.body())
	}
	if err := chromedp.Do(a.ctx, chromedp.Navigate(browserURL(other)+"/?"+url.Values{"to": {shopURL + "/cart/add"}, "csrf": {token}}.Encode())); err != nil {
		t.Fatal(err)
	}
	if resp := a.click("send"); resp.Status != http.StatusForbidden || a.body() != "cross-origin request refused" {
		t.Errorf("a form of another origin: %d %q at %s", resp.Status, a.body(), a.path())
	}
	a.open("/account")
	a.want("cart", strconv.Itoa(want))

	// Log out: this browser's session ends, the other device's does not.
	b := newTab(t, browser, "device B", shopURL, chromedp.WithNewBrowserContext())
	b.login("alice")
	b.want("sessions", "2")
	if resp := a.click("logout"); resp.Status != http.StatusOK || a.path() != "/login" {
		t.Fatalf("logout: %d at %s", resp.Status, a.path())
	}
	a.want("message", "You are logged out.")
	if c := a.cookie(); c != nil {
		t.Errorf("the browser still holds a session cookie after logout")
	}
	if _, err := store.Session(elevated.Value).TTL(ctx); !errors.Is(err, attrcache.ErrSessionNotFound) {
		t.Errorf("the session after logout: %v, want ErrSessionNotFound", err)
	}
	if a2.open("/account"); a2.path() != "/login" {
		t.Errorf("the other tab after logout is at %s", a2.path())
	}
	b.open("/account")
	b.want("sessions", "1")

	// Log out everywhere, from device B: this browser's new session ends too.
	a.login("alice")
	a.want("sessions", "2")
	if resp := b.click("logout-everywhere"); resp.Status != http.StatusOK || b.path() != "/login" {
		t.Fatalf("logout everywhere: %d at %s", resp.Status, b.path())
	}
	b.want("message", "You are logged out everywhere: 2 sessions ended.")
	if a.open("/account"); a.path() != "/login" {
		t.Fatalf("after log out everywhere on another device, this one reached %s", a.path())
	}
	t.Logf("the whole walk: %v", time.Since(start).Round(10*time.Millisecond))
}

// TestBrowserIdle carries an active user of the shop past several idle
// timeouts, with the token attribute of the login's hour intact and
// accepted, and then sees an idle one logged out, in a real headless
// Chromium.
func TestBrowserIdle(t *testing.T) {
	chromium := findChromium(t)
	store, rdb := browserStore(t)
	srv := startShop(t, store, browserIdle)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	browser := startChromium(t, ctx, chromium, srv)
	start := time.Now()
	a := newTab(t, browser, "tab", browserURL(srv))

	// An active user: a page every fifth of the idle timeout, for three
	// and a half idle timeouts. A page may take up to the idle timeout
	// less its slack and a fifth (1.4 s) without ending the session.
	a.login("alice")
	session := a.cookie()
	checkCookie(t, "after login", session)
	token := a.token()
	active := time.Now()
	var slowest time.Duration
	for next := active; time.Since(active) < 7*browserIdle/2; {
		next = next.Add(browserIdle / 5)
		time.Sleep(time.Until(next))
		began := time.Now()
		if a.open("/account"); a.path() != "/account" {
			t.Fatalf("an active user was sent to %s after %v (a page every %v, the slowest took %v)",
				a.path(), time.Since(active).Round(time.Millisecond), browserIdle/5, slowest.Round(time.Millisecond))
		}
		slowest = max(slowest, time.Since(began))
	}
	a.want("user", "alice")
	if c := a.cookie(); c == nil || c.Value != session.Value {
		t.Fatal("the session cookie changed while the user was active")
	}
	// The token attribute keeps its own hour, whatever the renewals did
	// to the session's deadline.
	now, _, _ := store.Now()
	info, err := inspect.Read(ctx, rdb, store.Session(session.Value).Key(), now.UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	if left := info.Expires.Sub(info.Now); info.State != "live" || left <= 0 || left > browserIdle {
		t.Errorf("the session after %v of activity: %s, %v left", time.Since(active).Round(time.Millisecond), info.State, left)
	}
	var tokenAttrInfo *inspect.Attr
	for i := range info.Attributes {
		if info.Attributes[i].Name == tokenAttr {
			tokenAttrInfo = &info.Attributes[i]
		}
	}
	if tokenAttrInfo == nil || tokenAttrInfo.Expired || !tokenAttrInfo.Sealed ||
		tokenAttrInfo.Expires.Sub(tokenAttrInfo.Created).Round(time.Second) != tokenLife {
		t.Fatalf("the token attribute after %v of activity: %+v, want sealed, expiring %v after its creation", time.Since(active).Round(time.Millisecond), tokenAttrInfo, tokenLife)
	}
	if got := a.token(); got != token {
		t.Error("the form token changed while the user was active")
	}
	if resp := a.click("add"); resp.Status != http.StatusOK {
		t.Fatalf("the login's form token after %v: %d %q", time.Since(active).Round(time.Millisecond), resp.Status, a.body())
	}
	a.want("cart", "1")
	last := time.Now() // after the last use
	t.Logf("active user: %v, past %d idle timeouts; the slowest page took %v",
		time.Since(active).Round(10*time.Millisecond), time.Since(active)/browserIdle, slowest.Round(time.Millisecond))

	// An idle user: alive short of the idle timeout less its slack (a
	// tenth), gone after it. TTL reads without renewing; its answer
	// counts only when it came in time.
	time.Sleep(time.Until(last.Add(browserIdle * 6 / 10)))
	_, err = store.Session(session.Value).TTL(ctx)
	if answered := time.Since(last); err != nil && answered < browserIdle*9/10 {
		t.Fatalf("the session %v after its last use: %v", answered.Round(time.Millisecond), err)
	}
	time.Sleep(time.Until(last.Add(browserIdle + browserIdle/4)))
	if a.open("/account"); a.path() != "/login" {
		t.Fatalf("an idle user reached %s %v after the last request", a.path(), time.Since(last).Round(time.Millisecond))
	}
	if _, err := store.Session(session.Value).TTL(ctx); !errors.Is(err, attrcache.ErrSessionNotFound) {
		t.Fatalf("the session of an idle user: %v, want ErrSessionNotFound", err)
	}
	t.Logf("the whole walk: %v", time.Since(start).Round(10*time.Millisecond))
}

// checkCookie checks the session cookie as the browser holds it: the
// __Host- prefix and what it demands (Secure, Path /, host-only), HttpOnly,
// SameSite Lax, a session cookie (the shop does not persist it).
func checkCookie(t *testing.T, when string, c *network.Cookie) {
	t.Helper()
	if c == nil {
		t.Fatalf("%s: the browser holds no session cookie", when)
	}
	got := fmt.Sprintf("name %s, secure %t, httpOnly %t, sameSite %s, path %s, domain %s, session %t",
		c.Name, c.Secure, c.HTTPOnly, c.SameSite, c.Path, c.Domain, c.Session)
	// A cookie with a Domain attribute would show the domain as ".localhost".
	want := "name __Host-session, secure true, httpOnly true, sameSite Lax, path /, domain localhost, session true"
	if got != want {
		t.Fatalf("%s: the browser holds the cookie with\n%s, want\n%s", when, got, want)
	}
	if c.Value == "" || c.SourceScheme != network.CookieSourceSchemeSecure {
		t.Fatalf("%s: cookie value of %d bytes, source scheme %s", when, len(c.Value), c.SourceScheme)
	}
}

// findChromium returns the path of a Chromium or Chrome binary, or skips
// the test (fails it with ATTRCACHE_REQUIRE_BROWSER) when there is none.
func findChromium(t *testing.T) string {
	t.Helper()
	names := []string{"chromium", "chromium-browser", "google-chrome"}
	for _, name := range names {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	msg := "no " + strings.Join(names, ", ") + " in PATH: install one (apt-get install chromium) to run the browser test"
	if required, _ := strconv.ParseBool(os.Getenv(envRequireBrowser)); required {
		t.Fatalf("%s (%s is set)", msg, envRequireBrowser)
	}
	t.Skip(msg)
	return ""
}

// browserStore returns a Store, with a cipher, on a real redis-server
// when there is one, else on a miniredis whose key TTLs follow the clock,
// and the client under it.
func browserStore(t *testing.T) (*attrcache.Store, redis.UniversalClient) {
	t.Helper()
	name := os.Getenv(redistest.EnvServer)
	if name == "" {
		name = "redis-server"
	}
	var rdb *redis.Client
	if _, err := exec.LookPath(name); err == nil {
		srv := redistest.StartServer(t)
		rdb = redis.NewClient(srv.Options())
		t.Logf("on redis-server at %s", srv.Addr())
	} else {
		mr := miniredis.RunT(t)
		t.Cleanup(keepTime(mr))
		rdb = redis.NewClient(&redis.Options{Addr: mr.Addr()})
		t.Log("on miniredis (no redis-server in PATH)")
	}
	t.Cleanup(func() { rdb.Close() })
	kek, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	cipher, err := keys.NewEnvelope(kek)
	if err != nil {
		t.Fatal(err)
	}
	store, err := attrcache.New(rdb, attrcache.WithCipher(cipher))
	if err != nil {
		t.Fatal(err)
	}
	return store, rdb
}

// startShop serves a shop on store, whose sessions end idle after their
// last request, on a free loopback port until the test ends. Whatever
// the shop logs fails the test: it logs only errors no response showed.
func startShop(t *testing.T, store *attrcache.Store, idle time.Duration) *httpsServer {
	t.Helper()
	shop, err := newShop(store, idle, log.New(failWriter{t}, "shop: ", 0))
	if err != nil {
		t.Fatal(err)
	}
	return startTestHTTPS(t, shop)
}

// startTestHTTPS serves h on a free loopback port until the test ends.
func startTestHTTPS(t *testing.T, h http.Handler) *httpsServer {
	t.Helper()
	srv, err := startHTTPS("127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutting the server down: %v", err)
		}
	})
	return srv
}

// browserURL is the server's URL under the name localhost, which its
// certificate holds: a cookie with a Domain would then show as
// ".localhost", where on an IP address host-only and Domain look alike.
func browserURL(srv *httpsServer) string {
	u, err := url.Parse(srv.URL)
	if err != nil {
		panic(err)
	}
	return "https://" + net.JoinHostPort("localhost", u.Port())
}

// startChromium starts a headless Chromium that trusts the servers'
// certificates (and no other that fails verification), and returns the
// context of its first tab; it stops when the test ends.
func startChromium(t *testing.T, ctx context.Context, path string, trust ...*httpsServer) context.Context {
	t.Helper()
	var spki []string
	for _, srv := range trust {
		spki = append(spki, spkiHash(srv))
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // CI runs as root, where the sandbox cannot start
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		// Chromium honours this list only with --user-data-dir.
		chromedp.Flag("ignore-certificate-errors-spki-list", strings.Join(spki, ",")),
	)
	actx, cancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancel)
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return bctx
}

// spkiHash is the base64 SHA-256 digest of the server certificate's
// public key, as Chromium's --ignore-certificate-errors-spki-list takes
// it.
func spkiHash(srv *httpsServer) string {
	sum := sha256.Sum256(srv.cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// otherSite serves a page of another origin with a form that posts to
// the URL of its "to" parameter, carrying its "csrf" parameter.
func otherSite() http.Handler {
	page := template.Must(template.New("").Parse(`<!doctype html><title>another site</title>
<form method="post" action="{{.To}}"><input type="hidden" name="csrf" value="{{.Token}}">
<button id="send" type="submit">Send</button></form>`))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page.Execute(w, struct{ To, Token string }{r.URL.Query().Get("to"), r.URL.Query().Get("csrf")})
	})
}

// tab is one browser tab on the shop; its methods fail the test on any
// error, so they are for the test's goroutine only.
type tab struct {
	t    *testing.T
	ctx  context.Context
	name string
	base string
}

// newTab opens a tab in parent's browser, and in its browser context
// unless opts give another.
func newTab(t *testing.T, parent context.Context, name, base string, opts ...chromedp.ContextOption) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent, opts...)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &tab{t: t, ctx: ctx, name: name, base: base}
}

// open loads path and returns the response of the page it ends on, after
// any redirects.
func (b *tab) open(path string) *network.Response {
	b.t.Helper()
	resp, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(b.base+path))
	if err != nil {
		b.t.Fatalf("%s: open %s: %v", b.name, path, err)
	}
	return resp
}

// click clicks the element with the id and returns the response of the
// page it leads to.
func (b *tab) click(id string) *network.Response {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.ID(id)))
	if err != nil {
		b.t.Fatalf("%s: click %s: %v", b.name, id, err)
	}
	return resp
}

// login logs in from the login page and checks it lands on /account.
func (b *tab) login(user string) {
	b.t.Helper()
	b.open("/login")
	if err := chromedp.Do(b.ctx, chromedp.SendKeys(chromedp.ID("name"), user)); err != nil {
		b.t.Fatalf("%s: %v", b.name, err)
	}
	if resp := b.click("login"); resp.Status != http.StatusOK || b.path() != "/account" {
		b.t.Fatalf("%s: login: %d at %s", b.name, resp.Status, b.path())
	}
}

// want checks the text of the element with the id.
func (b *tab) want(id, text string) {
	b.t.Helper()
	got, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.ID(id)))
	if err != nil {
		b.t.Fatalf("%s: #%s: %v", b.name, id, err)
	}
	if got != text {
		b.t.Fatalf("%s: #%s is %q, want %q", b.name, id, got, text)
	}
}

// body is the text of the page, trimmed.
func (b *tab) body() string {
	b.t.Helper()
	return strings.TrimSpace(b.eval("document.body.innerText"))
}

// token is the synchronizer token of the page's forms.
func (b *tab) token() string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS("#add-form input[name=csrf]")))
	if err != nil || v == "" {
		b.t.Fatalf("%s: the form token: %q, %v", b.name, v, err)
	}
	return v
}

func (b *tab) eval(js string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("%s: %s: %v", b.name, js, err)
	}
	return v
}

// path is the path of the page the tab shows.
func (b *tab) path() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatalf("%s: %v", b.name, err)
	}
	u, err := url.Parse(loc)
	if err != nil {
		b.t.Fatalf("%s: %v", b.name, err)
	}
	if !strings.HasPrefix(loc, b.base+"/") {
		return loc
	}
	return u.Path
}

// cookie returns the session cookie the tab's browser context holds for
// the shop, or nil.
func (b *tab) cookie() *network.Cookie {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.base + "/"}})
	if err != nil {
		b.t.Fatalf("%s: cookies: %v", b.name, err)
	}
	var found *network.Cookie
	for _, c := range res.Cookies {
		if strings.HasSuffix(c.Name, "session") {
			if found != nil {
				b.t.Fatalf("%s: two session cookies: %s and %s", b.name, found.Name, c.Name)
			}
			found = c
		}
	}
	return found
}

// setCookie gives the tab's browser context a copy of c, as a thief would.
func (b *tab) setCookie(c *network.Cookie) {
	b.t.Helper()
	_, err := chromedp.Call(b.ctx, network.SetCookie, network.SetCookieParams{
		Name: c.Name, Value: c.Value, URL: b.base + "/", Path: "/",
		Secure: new(true), HTTPOnly: new(true), SameSite: network.CookieSameSiteLax,
	})
	if err != nil {
		b.t.Fatalf("%s: set cookie: %v", b.name, err)
	}
}

// header returns a response header the browser received.
func header(resp *network.Response, name string) string {
	for k, v := range resp.Headers {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

// failWriter fails the test with whatever the shop logs: it logs only
// errors no response showed.
type failWriter struct{ t *testing.T }

func (w failWriter) Write(p []byte) (int, error) {
	w.t.Errorf("%s", strings.TrimSpace(string(p)))
	return len(p), nil
}
