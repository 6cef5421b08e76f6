//go:build unix

package web_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/test/redistest"
	"github.com/attrcache/attrcache/web"
)

// failFast is how soon a request must fail when Redis does not answer:
// the Store's call timeout (attrcache.DefaultCallTimeout) and some room.
const failFast = 1500 * time.Millisecond

// serverPID asks a redis-server for its process id (INFO server).
func serverPID(t *testing.T, rdb *redis.Client) int {
	t.Helper()
	info, err := rdb.Info(context.Background(), "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			pid, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
	}
	t.Fatal("INFO server has no process_id")
	return 0
}

// A redis-server frozen with SIGSTOP accepts connections and never
// answers. With go-redis's default options (a 3 s read timeout, three
// retries) a request that touches its session still fails within
// failFast, bounded by the Store's call timeout: the handler gets
// attrcache.ErrUnavailable, RequireSession answers 503, Login fails
// without a cookie, Logout expires the cookie and reports the error.
func TestFrozenRedisFailsFast(t *testing.T) {
	srv := redistest.StartServer(t)
	b := backend{
		newClient: func() *redis.Client { return redis.NewClient(&redis.Options{Addr: srv.Addr()}) },
		advance:   time.Sleep,
	}
	var seen atomic.Value // what the last handler's call returned
	conf := cfg(time.Hour, time.Hour)
	var reported atomic.Int64
	conf.ErrorHandler = func(*http.Request, error) { reported.Add(1) } // may come after the test
	a := newApp(t, b, conf, func(a *app, mux *http.ServeMux) {
		mux.HandleFunc("GET /probe", func(w http.ResponseWriter, r *http.Request) {
			_, err := web.FromContext(r.Context()).Get(r.Context(), "user")
			seen.Store(errBox{err})
			switch {
			case err == nil:
				w.Write([]byte("ok"))
			case errors.Is(err, attrcache.ErrUnavailable):
				http.Error(w, "try again later", http.StatusServiceUnavailable)
			default:
				fail(w, err)
			}
		})
		mux.Handle("GET /guarded", a.m.RequireSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("in"))
		})))
		mux.HandleFunc("POST /login-plain", func(w http.ResponseWriter, r *http.Request) {
			_, err := a.m.Login(w, r, attrcache.Attr{Name: "user", Value: []byte("bob")})
			seen.Store(errBox{err})
			if err != nil {
				http.Error(w, "try again later", http.StatusServiceUnavailable)
				return
			}
			w.Write([]byte("logged in"))
		})
		mux.HandleFunc("POST /logout-report", func(w http.ResponseWriter, r *http.Request) {
			err := a.m.Logout(w, r)
			seen.Store(errBox{err})
			if err != nil {
				http.Error(w, "try again later", http.StatusServiceUnavailable)
				return
			}
			w.Write([]byte("logged out"))
		})
	})
	probe := srv.Client(t)
	pid := serverPID(t, probe)
	ck := a.login("alice")
	a.want(a.do("GET", "/probe", send(ck)), http.StatusOK, "before the freeze")
	before := liveKeys(t, probe)

	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(thaw)

	for _, c := range []struct {
		what, method, path string
		status             int
		handlerSaw         error // nil: the handler is not ours to ask
	}{
		{"a read", "GET", "/probe", http.StatusServiceUnavailable, attrcache.ErrUnavailable},
		{"RequireSession", "GET", "/guarded", http.StatusServiceUnavailable, nil},
		{"Login", "POST", "/login-plain", http.StatusServiceUnavailable, attrcache.ErrUnavailable},
		{"Logout", "POST", "/logout-report", http.StatusServiceUnavailable, attrcache.ErrUnavailable},
	} {
		seen.Store(errBox{})
		start := time.Now()
		rep := a.do(c.method, c.path, send(ck))
		took := time.Since(start)
		t.Logf("%s with Redis frozen: %d after %v", c.what, rep.status, took.Round(time.Millisecond))
		if rep.status != c.status {
			t.Errorf("%s with Redis frozen: status %d (%q), want %d", c.what, rep.status, rep.body, c.status)
		}
		if took > failFast {
			t.Errorf("%s with Redis frozen took %v, want at most %v", c.what, took, failFast)
		}
		if c.handlerSaw != nil {
			if err := seen.Load().(errBox).err; !errors.Is(err, c.handlerSaw) {
				t.Errorf("%s: the handler saw %v, want %v", c.what, err, c.handlerSaw)
			}
		}
		switch {
		case c.what == "Login" && rep.cookie != nil:
			t.Errorf("a Login that failed set a cookie")
		case c.what == "Logout" && (rep.cookie == nil || rep.cookie.MaxAge >= 0):
			t.Errorf("a Logout that could not end the session kept the cookie")
		}
	}

	thaw()
	if err := probe.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("after SIGCONT: %v", err)
	}
	// The commands the frozen server held run now, past their
	// deadlines: the failed Login's Start must not make a session then.
	time.Sleep(100 * time.Millisecond)
	for key, state := range liveKeys(t, probe) {
		if before[key] == "" {
			t.Errorf("after the thaw, a session key no browser holds is %s", state)
		}
	}
	t.Logf("after the thaw: %d live sessions, %d before the freeze; %d errors reported", len(liveKeys(t, probe)), len(before), reported.Load())
}
