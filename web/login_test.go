package web_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/internal/inspect"
)

// scriptOp reports whether cmd is a script call (EVALSHA, EVAL, FCALL)
// whose arguments hold op: the session script's operation ("start",
// "commit", "retire", ...; see attrcache/lua/session.lua).
func scriptOp(cmd redis.Cmder, op string) bool {
	switch cmd.Name() {
	case "evalsha", "eval", "fcall", "evalsha_ro", "eval_ro", "fcall_ro":
	default:
		return false
	}
	for _, a := range cmd.Args()[1:] {
		if s, ok := a.(string); ok && s == op {
			return true
		}
	}
	return false
}

// loseReply lets the next script call of op run in Redis, once armed,
// and then fails it as if its reply had been lost on the way back.
type loseReply struct {
	op    string
	armed atomic.Bool
}

func (l *loseReply) DialHook(next redis.DialHook) redis.DialHook { return next }
func (l *loseReply) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err == nil && scriptOp(cmd, l.op) && l.armed.CompareAndSwap(true, false) {
			err = errors.New("injected: connection reset after the script ran")
			cmd.SetErr(err)
		}
		return err
	}
}
func (l *loseReply) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// keySet returns every key in Redis, sorted, through a client of the
// test's own.
func keySet(t *testing.T, rdb *redis.Client) []string {
	t.Helper()
	keys, err := rdb.Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

// attrsApp is an app whose store has no cipher and small limits, with
//
//	POST /login-with?case=C   Login with the first attributes of case C
//
// The error the last Login returned is in *loginErr.
func attrsApp(t *testing.T, b backend, loginErr *atomic.Value, cases map[string][]attrcache.Attr) *app {
	limits := attrcache.Limits{MaxNameBytes: 16, MaxValueBytes: 512, MaxSessionBytes: 1024, MaxAttributes: 3}
	return newStoreApp(t, b, []attrcache.Option{attrcache.WithLimits(limits)}, cfg(time.Hour, time.Hour), func(a *app, mux *http.ServeMux) {
		mux.HandleFunc("POST /login-with", func(w http.ResponseWriter, r *http.Request) {
			attrs, ok := cases[r.FormValue("case")]
			if !ok {
				http.Error(w, "no such case", http.StatusBadRequest)
				return
			}
			_, err := a.m.Login(w, r, attrs...)
			loginErr.Store(errBox{err})
			if err != nil {
				fail(w, err)
				return
			}
			w.Write([]byte("logged in"))
		})
	})
}

// errBox lets an atomic.Value hold a nil error.
type errBox struct{ err error }

// Login gives the session its first attributes in Start's own script:
// one command, and every attribute there with its options.
func TestLoginWithAttrs(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		a := newApp(t, b, cfg(time.Hour, time.Hour), func(a *app, mux *http.ServeMux) {
			mux.HandleFunc("POST /login-attrs", func(w http.ResponseWriter, r *http.Request) {
				_, err := a.m.Login(w, r,
					attrcache.Attr{Name: "user", Value: []byte("alice")},
					attrcache.Attr{Name: "csrf", Value: []byte("seed"), Options: []attrcache.WriteOption{attrcache.WithEncryption()}},
					attrcache.Attr{Name: "notice", Value: []byte("welcome"), Options: []attrcache.WriteOption{attrcache.WithExpiration(time.Minute)}},
				)
				if err != nil {
					fail(w, err)
					return
				}
				w.Write([]byte("logged in"))
			})
		})
		rep := a.do("POST", "/login-attrs", nil)
		a.want(rep, http.StatusOK, "login with attributes")
		if rep.cookie == nil {
			t.Fatal("no cookie")
		}
		if rep.cmds != 1 {
			t.Errorf("login with three attributes sent %d commands, want 1 (Start with them)", rep.cmds)
		}
		all, err := a.store.Session(rep.cookie.Value).GetAll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 3 || string(all["user"].Value) != "alice" || string(all["csrf"].Value) != "seed" || string(all["notice"].Value) != "welcome" {
			t.Fatalf("session after login: %v", all)
		}
		if !all["csrf"].Encrypted || all["user"].Encrypted {
			t.Errorf("encryption not as asked: csrf %t, user %t", all["csrf"].Encrypted, all["user"].Encrypted)
		}
		if exp := all["notice"].Expires; exp.IsZero() || time.Until(exp) > time.Minute+time.Second {
			t.Errorf("notice expires at %v, want within a minute", exp)
		}
		if !all["user"].Expires.IsZero() {
			t.Errorf("user has an expiry of its own: %v", all["user"].Expires)
		}
	})
}

// A Login that Start refuses changes nothing: the handler gets the
// error, the response sets no cookie, no key is added to Redis, and the
// session the request came with lives on.
func TestLoginRefusedLeavesNothing(t *testing.T) {
	v := func(n int) []byte { return []byte(strings.Repeat("v", n)) }
	cases := map[string][]attrcache.Attr{
		"ok": {{Name: "user", Value: []byte("alice")}},
		"sealed without a cipher": {
			{Name: "user", Value: []byte("alice")},
			{Name: "token", Value: []byte("secret"), Options: []attrcache.WriteOption{attrcache.WithEncryption()}},
		},
		"name over the limit":  {{Name: "user", Value: []byte("alice")}, {Name: strings.Repeat("n", 17), Value: []byte("x")}},
		"bad name":             {{Name: "user\n", Value: []byte("alice")}},
		"empty name":           {{Name: "", Value: []byte("alice")}},
		"duplicate names":      {{Name: "user", Value: []byte("alice")}, {Name: "user", Value: []byte("bob")}},
		"value over the limit": {{Name: "user", Value: []byte("alice")}, {Name: "blob", Value: v(513)}},
		"bad expiration":       {{Name: "user", Value: []byte("alice"), Options: []attrcache.WriteOption{attrcache.WithExpiration(-time.Second)}}},
		"session over its bytes": {
			{Name: "a", Value: v(400)}, {Name: "b", Value: v(400)}, {Name: "c", Value: v(400)},
		},
		"too many attributes": {
			{Name: "a", Value: v(1)}, {Name: "b", Value: v(1)}, {Name: "c", Value: v(1)}, {Name: "d", Value: v(1)},
		},
	}
	want := map[string]error{
		"sealed without a cipher": attrcache.ErrNoCipher,
		"name over the limit":     attrcache.ErrInvalid,
		"bad name":                attrcache.ErrInvalid,
		"empty name":              attrcache.ErrInvalid,
		"duplicate names":         attrcache.ErrInvalid,
		"value over the limit":    attrcache.ErrInvalid,
		"bad expiration":          attrcache.ErrInvalid,
		"session over its bytes":  attrcache.ErrTooBig,
		"too many attributes":     attrcache.ErrTooManyAttributes,
	}
	eachBackend(t, func(t *testing.T, b backend) {
		var loginErr atomic.Value
		a := attrsApp(t, b, &loginErr, cases)
		raw := b.newClient()
		defer raw.Close()
		rep := a.do("POST", "/login-with?case=ok", nil)
		a.want(rep, http.StatusOK, "first login")
		first := rep.cookie
		names := slices.Sorted(func(yield func(string) bool) {
			for name := range want {
				if !yield(name) {
					return
				}
			}
		})
		for _, name := range names {
			t.Run(name, func(t *testing.T) {
				before := keySet(t, raw)
				rep := a.do("POST", "/login-with?case="+strings.ReplaceAll(name, " ", "+"), send(first))
				got := loginErr.Load().(errBox).err
				if !errors.Is(got, want[name]) {
					t.Errorf("Login returned %v, want %v", got, want[name])
				}
				if rep.status == http.StatusOK {
					t.Errorf("the handler answered 200")
				}
				if sc := rep.header.Values("Set-Cookie"); len(sc) != 0 {
					t.Errorf("a refused login set %d cookies", len(sc))
				}
				if after := keySet(t, raw); !slices.Equal(before, after) {
					t.Errorf("a refused login changed the keys: %d before, %d after", len(before), len(after))
				}
				if rep := a.do("GET", "/user", send(first)); rep.status != http.StatusOK || rep.body != "alice" {
					t.Errorf("the session the request came with, after a refused login: %d %q", rep.status, rep.body)
				}
			})
		}
	})
}

// A Login whose Start fails with Redis unreachable sets no cookie and
// leaves no session: when the script never ran, nothing is written; when
// it ran and its reply was lost, Login ends the session it cannot hand
// out.
func TestLoginUnavailableLeavesNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		var loginErr atomic.Value
		a := attrsApp(t, b, &loginErr, map[string][]attrcache.Attr{"ok": {{Name: "user", Value: []byte("alice")}}})
		raw := b.newClient()
		defer raw.Close()
		var on atomic.Bool
		a.rdb.AddHook(failScripts(&on))
		lost := &loseReply{op: "start"}
		a.rdb.AddHook(lost)

		t.Run("never ran", func(t *testing.T) {
			before := keySet(t, raw)
			errs := a.errs.Load()
			on.Store(true)
			rep := a.do("POST", "/login-with?case=ok", nil)
			// Login ends the id it may have started, in the
			// background; that End fails too, and is reported.
			waitFor(t, "the failed End to be reported", func() bool { return a.errs.Load() > errs })
			on.Store(false)
			if err := loginErr.Load().(errBox).err; !errors.Is(err, attrcache.ErrUnavailable) {
				t.Errorf("Login returned %v, want ErrUnavailable", err)
			}
			if rep.status == http.StatusOK || len(rep.header.Values("Set-Cookie")) != 0 {
				t.Errorf("status %d, %d cookies", rep.status, len(rep.header.Values("Set-Cookie")))
			}
			if after := keySet(t, raw); !slices.Equal(before, after) {
				t.Errorf("keys: %d before, %d after", len(before), len(after))
			}
		})
		t.Run("reply lost", func(t *testing.T) {
			before := keySet(t, raw)
			lost.armed.Store(true)
			rep := a.do("POST", "/login-with?case=ok", nil)
			if lost.armed.Load() {
				t.Fatal("the login sent no start")
			}
			if err := loginErr.Load().(errBox).err; !errors.Is(err, attrcache.ErrUnavailable) {
				t.Errorf("Login returned %v, want ErrUnavailable", err)
			}
			if rep.status == http.StatusOK || len(rep.header.Values("Set-Cookie")) != 0 {
				t.Errorf("status %d, %d cookies", rep.status, len(rep.header.Values("Set-Cookie")))
			}
			// The session was started and then ended, in the
			// background: at most a tombstone is left, which no id can
			// read.
			waitFor(t, "the started session to end", func() bool {
				for _, key := range keySet(t, raw) {
					if slices.Contains(before, key) {
						continue
					}
					info, err := inspect.Read(context.Background(), raw, key, time.Now().UnixMilli())
					if err != nil {
						t.Fatal(err)
					}
					if info.State != "ended" && info.State != "none" {
						return false
					}
				}
				return true
			})
		})
	})
}

// waitFor polls cond until it holds, for at most two seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("waited 2s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
