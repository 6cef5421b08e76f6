package web_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/keys"
	"github.com/attrcache/attrcache/test/redistest"
	"github.com/attrcache/attrcache/web"
)

// backend is a Redis to run a test on, and how to let time pass on it.
type backend struct {
	newClient func() *redis.Client
	advance   func(time.Duration)
}

// eachBackend runs f on miniredis and on a real redis-server (which
// skips, unless ATTRCACHE_REQUIRE_REDIS=1, without the binary).
func eachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	t.Run("miniredis", func(t *testing.T) {
		mr := miniredis.RunT(t)
		// miniredis keeps real time, which reads judge expiry against;
		// only its key TTLs need moving along.
		f(t, backend{
			newClient: func() *redis.Client { return redis.NewClient(&redis.Options{Addr: mr.Addr()}) },
			advance: func(d time.Duration) {
				time.Sleep(d)
				mr.FastForward(d)
			},
		})
	})
	t.Run("redis-server", func(t *testing.T) {
		srv := redistest.StartServer(t)
		f(t, backend{
			newClient: func() *redis.Client { return redis.NewClient(srv.Options()) },
			advance:   time.Sleep,
		})
	})
}

// miniBackend is a miniredis for tests that need no real server.
func miniBackend(t *testing.T) backend {
	mr := miniredis.RunT(t)
	return backend{
		newClient: func() *redis.Client { return redis.NewClient(&redis.Options{Addr: mr.Addr()}) },
		advance: func(d time.Duration) {
			time.Sleep(d)
			mr.FastForward(d)
		},
	}
}

// failing makes the commands it names fail, while on, as if Redis were
// unreachable.
type failing struct {
	on    *atomic.Bool
	names []string
}

// failScripts fails every script call, while plain reads work.
func failScripts(on *atomic.Bool) failing {
	return failing{on, []string{"evalsha", "eval", "fcall"}}
}

// failReads fails every plain read of a session (HMGET, HGETALL).
func failReads(on *atomic.Bool) failing { return failing{on, []string{"hmget", "hgetall"}} }

func (f failing) DialHook(next redis.DialHook) redis.DialHook { return next }
func (f failing) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if f.on.Load() && slices.Contains(f.names, cmd.Name()) {
			err := errors.New("injected: connection refused")
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}
func (f failing) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// counter counts the commands a client sends, pipelined ones included.
type counter struct{ n atomic.Int64 }

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}
func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// envelope returns the cipher production code uses, on a new keyset.
func envelope(t testing.TB) attrcache.Cipher {
	h, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	c, err := keys.NewEnvelope(h)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// app is a small web application on attrcache, served by httptest:
//
//	POST /login?user=U   Login, then user, an encrypted csrf and a notice expiring in an hour
//	                     (Login, Rotate and Logout answer 500 if FromContext does not follow them)
//	GET  /me             every attribute, "name=value" lines; 401 without a live session
//	GET  /user           the user attribute alone: one read
//	POST /sudo           Rotate, then role=admin
//	POST /logout         Logout
//	POST /write?name=N   Set N
//	GET  /body-first     writes its body, then reads user
//	GET  /peek           calls FromContext and ignores it
//	GET  /static         never looks at the session
type app struct {
	t       *testing.T
	m       *web.Manager
	store   *attrcache.Store
	rdb     *redis.Client
	cmds    *counter
	srv     *httptest.Server
	advance func(time.Duration)
	errs    atomic.Int64 // calls of the ErrorHandler
	lastErr atomic.Value // the last error it was given
}

// newApp starts the app, on a Store with a cipher; extra adds routes of
// a test's own.
func newApp(t *testing.T, b backend, cfg web.Config, extra ...func(a *app, mux *http.ServeMux)) *app {
	t.Helper()
	return newStoreApp(t, b, []attrcache.Option{attrcache.WithCipher(envelope(t))}, cfg, extra...)
}

// newStoreApp is newApp on a Store made with opts.
func newStoreApp(t *testing.T, b backend, opts []attrcache.Option, cfg web.Config, extra ...func(a *app, mux *http.ServeMux)) *app {
	t.Helper()
	rdb := b.newClient()
	t.Cleanup(func() { rdb.Close() })
	a := &app{t: t, cmds: &counter{}, advance: b.advance, rdb: rdb}
	rdb.AddHook(a.cmds)
	var err error
	a.store, err = attrcache.New(rdb, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ErrorHandler == nil {
		// A failed login's session is ended in the background and may
		// report after the test: logging then would race with the test's
		// end, so the log stops at cleanup.
		var mu sync.Mutex
		over := false
		t.Cleanup(func() {
			mu.Lock()
			over = true
			mu.Unlock()
		})
		cfg.ErrorHandler = func(r *http.Request, err error) {
			a.errs.Add(1)
			a.lastErr.Store(err)
			mu.Lock()
			defer mu.Unlock()
			if !over {
				t.Logf("ErrorHandler: %v", err)
			}
		}
	}
	// Warm the Store (clock sample, scripts loaded), without the
	// Manager, so that the tests' first Login is as quick as any.
	if _, err := a.store.Start(context.Background(), attrcache.NewSessionID(), time.Minute); err != nil {
		t.Fatal(err)
	}
	a.m, err = web.New(a.store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := a.mux()
	for _, f := range extra {
		f(a, mux)
	}
	a.srv = httptest.NewServer(a.m.Handler(mux))
	t.Cleanup(a.srv.Close)
	// Tests look at redirects themselves.
	a.srv.Client().CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return a
}

// fail answers an attrcache error: 401 when the session is gone, 500
// otherwise.
func fail(w http.ResponseWriter, err error) {
	if errors.Is(err, attrcache.ErrSessionNotFound) {
		http.Error(w, "session ended", http.StatusUnauthorized)
		return
	}
	http.Error(w, err.Error(), http.StatusInternalServerError)
}

func (a *app) mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		sess, err := a.m.Login(w, r)
		if err != nil {
			fail(w, err)
			return
		}
		if web.FromContext(r.Context()) != sess {
			http.Error(w, "FromContext does not follow Login", http.StatusInternalServerError)
			return
		}
		err = sess.CreateMany(r.Context(), []attrcache.Attr{
			{Name: "user", Value: []byte(r.FormValue("user"))},
			{Name: "csrf", Value: []byte("csrf-seed"), Options: []attrcache.WriteOption{attrcache.WithEncryption()}},
			{Name: "notice", Value: []byte("welcome"), Options: []attrcache.WriteOption{attrcache.WithExpiration(time.Hour)}},
		})
		if err != nil {
			fail(w, err)
			return
		}
		fmt.Fprintln(w, "logged in")
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		sess := web.FromContext(r.Context())
		if sess == nil {
			http.Error(w, "no session", http.StatusUnauthorized)
			return
		}
		all, err := sess.GetAll(r.Context())
		if err != nil {
			fail(w, err)
			return
		}
		var lines []string
		for name, e := range all {
			lines = append(lines, name+"="+string(e.Value))
		}
		slices.Sort(lines)
		fmt.Fprint(w, strings.Join(lines, "\n"))
	})
	mux.HandleFunc("GET /user", func(w http.ResponseWriter, r *http.Request) {
		sess := web.FromContext(r.Context())
		if sess == nil {
			http.Error(w, "no session", http.StatusUnauthorized)
			return
		}
		e, err := sess.Get(r.Context(), "user")
		if err != nil {
			fail(w, err)
			return
		}
		w.Write(e.Value)
	})
	mux.HandleFunc("POST /sudo", func(w http.ResponseWriter, r *http.Request) {
		sess, err := a.m.Rotate(w, r)
		if err != nil {
			fail(w, err)
			return
		}
		if web.FromContext(r.Context()) != sess {
			http.Error(w, "FromContext does not follow Rotate", http.StatusInternalServerError)
			return
		}
		if err := sess.Set(r.Context(), "role", []byte("admin")); err != nil {
			fail(w, err)
			return
		}
		fmt.Fprintln(w, "rotated")
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := a.m.Logout(w, r); err != nil {
			fail(w, err)
			return
		}
		if web.FromContext(r.Context()) != nil {
			http.Error(w, "FromContext still has a session after Logout", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "logged out")
	})
	mux.HandleFunc("POST /write", func(w http.ResponseWriter, r *http.Request) {
		sess := web.FromContext(r.Context())
		if sess == nil {
			http.Error(w, "no session", http.StatusUnauthorized)
			return
		}
		if err := sess.Set(r.Context(), r.FormValue("name"), []byte("written")); err != nil {
			fail(w, err)
			return
		}
		fmt.Fprintln(w, "written")
	})
	mux.HandleFunc("GET /body-first", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "the body first")
		if _, err := web.FromContext(r.Context()).Get(r.Context(), "user"); err != nil {
			fmt.Fprintln(w, "then a failed read")
		}
	})
	mux.HandleFunc("GET /peek", func(w http.ResponseWriter, r *http.Request) {
		_ = web.FromContext(r.Context())
		fmt.Fprintln(w, "peeked")
	})
	mux.HandleFunc("GET /static", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "static")
	})
	return mux
}

// reply is what one request got.
type reply struct {
	status int
	body   string
	header http.Header
	cookie *http.Cookie // the session cookie it set, if any
	cmds   int64        // Redis commands the server sent while serving it
}

// do sends a request, with the cookie when not nil.
func (a *app) do(method, path string, cookie *http.Cookie) reply {
	a.t.Helper()
	rep, err := a.try(method, path, cookie)
	if err != nil {
		a.t.Fatal(err)
	}
	return rep
}

// try is do for goroutines other than the test's.
func (a *app) try(method, path string, cookie *http.Cookie) (reply, error) {
	req, err := http.NewRequest(method, a.srv.URL+path, nil)
	if err != nil {
		return reply{}, err
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	before := a.cmds.n.Load()
	resp, err := a.srv.Client().Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	rep := reply{status: resp.StatusCode, body: strings.TrimSpace(string(body)), header: resp.Header, cmds: a.cmds.n.Load() - before}
	for _, c := range resp.Cookies() {
		if c.Name == a.m.Config().CookieName {
			rep.cookie = c
		}
	}
	return rep, nil
}

// advanceTo lets time pass until d after start.
func (a *app) advanceTo(start time.Time, d time.Duration) {
	if left := d - time.Since(start); left > 0 {
		a.advance(left)
	}
}

// login logs user in and returns the session cookie.
func (a *app) login(user string) *http.Cookie {
	a.t.Helper()
	rep := a.do("POST", "/login?user="+url.QueryEscape(user), nil)
	if rep.status != http.StatusOK || rep.cookie == nil {
		a.t.Fatalf("login: %d %q, cookie %v", rep.status, rep.body, rep.cookie != nil)
	}
	return rep.cookie
}

// want checks a reply's status.
func (a *app) want(rep reply, status int, what string) {
	a.t.Helper()
	if rep.status != status {
		a.t.Fatalf("%s: status %d (%q), want %d", what, rep.status, rep.body, status)
	}
}

// send is the cookie a browser sends back: name and value only.
func send(c *http.Cookie) *http.Cookie { return &http.Cookie{Name: c.Name, Value: c.Value} }

// cfg is a configuration with short timeouts for tests.
func cfg(idle, absolute time.Duration) web.Config {
	return web.Config{IdleTimeout: idle, AbsoluteTimeout: absolute}
}
