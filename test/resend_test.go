package test

// How go-redis v9.23 resends a command, read from its source
// (redis.go processWithRetry and _process, error.go shouldRetry,
// osscluster.go ClusterClient.process) and checked by the tests below:
//
//   - A *redis.Client (single node, and the Sentinel failover client)
//     makes up to 1+MaxRetries attempts (default MaxRetries 3; -1 means
//     no retry; 0 means the default). Before attempt n>0 it sleeps
//     RetryBackoff: random in [MinRetryBackoff, MinRetryBackoff<<n],
//     capped at MaxRetryBackoff (defaults 10ms and 1s).
//   - An attempt is retried when it failed with io.EOF or
//     io.ErrUnexpectedEOF (the connection closed under the reply: the
//     server may have run the command), a dial error, a pool timeout,
//     LOADING, READONLY, MASTERDOWN, CLUSTERDOWN, TRYAGAIN, NOREPLICAS or
//     "max number of clients", and also after a network timeout (a read
//     or write deadline that passed: i/o timeout) unless the command has
//     its own read timeout (blocking commands). EVALSHA has none, so a
//     script whose reply is slower than ReadTimeout is sent again while
//     its first run may still complete on the server.
//   - It is not retried when the context is done (context.Canceled,
//     context.DeadlineExceeded) or on any other server error reply.
//   - A *redis.ClusterClient builds its node clients with MaxRetries -1
//     (unless ClusterOptions.MaxRetries is set) and runs its own loop of
//     up to 1+MaxRedirects attempts (default 3): the same errors are
//     retried, first on the same node, then after marking it failing;
//     MOVED and ASK follow the redirection at once.
//   - A context deadline bounds a call only with ContextTimeoutEnabled:
//     true; without it the socket deadline is ReadTimeout alone and the
//     call outlives its context (see timeout_test.go).
//
// What attrcache callers should set, then: leave retries on (MaxRetries
// >= 1 on a Client or failover client, MaxRedirects >= 1 on a cluster
// client): a resent attrcache write finds its call's token in the
// session's resend log and reports the first run's success without
// running again, even after other writes, so retries remove the
// ambiguous "was it applied?" error of a lost reply instead of creating
// duplicates. Set ContextTimeoutEnabled: true so that call
// deadlines hold. With retries off (MaxRetries -1) a lost reply is an
// error although the write was applied; see TestResendOffIsAmbiguous for
// what a caller can do then.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/test/redistest"
)

// resendBackoff is the pause go-redis takes before resending in these
// tests (MinRetryBackoff = MaxRetryBackoff, so it is exact): the window in
// which the test reads what the first run wrote.
const resendBackoff = 400 * time.Millisecond

// resendRig is a server, a proxy in front of it, a store whose client
// goes through the proxy and a direct client to inspect the server.
type resendRig struct {
	srv    *redistest.Server
	proxy  *redistest.Proxy
	client *redis.Client // through the proxy
	direct *redis.Client
	st     *attrcache.Store
}

func newResendRig(t *testing.T, maxRetries int) *resendRig {
	t.Helper()
	srv := redistest.StartServer(t)
	p := redistest.NewProxy(t, srv.Addr())
	o := srv.Options()
	o.Addr = p.Addr()
	o.PoolSize = 1 // every call uses the one connection the test opened
	o.MaxRetries = maxRetries
	o.MinRetryBackoff = resendBackoff
	o.MaxRetryBackoff = resendBackoff
	o.ContextTimeoutEnabled = true
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	r := &resendRig{srv: srv, proxy: p, client: c, direct: srv.Client(t)}
	r.st = newStore(t, c)
	r.warmUp(t)
	return r
}

// warmUp runs every script once, so the calls under test are one EVALSHA
// each rather than EVALSHA, NOSCRIPT, EVAL.
func (r *resendRig) warmUp(t *testing.T) {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	s, err := r.st.Start(ctx, "warm-up-"+randHex(8), time.Minute)
	must(t, err)
	must(t, s.Create(ctx, "a", []byte("1")))
	_, err = s.Get(ctx, "a")
	must(t, err)
	must(t, s.SetExpiry(ctx, "a", time.Minute))
	must(t, s.Delete(ctx, "a"))
	must(t, s.End(ctx))
}

// scriptCalls is how many scripts (FCALL or EVALSHA) the server has run.
func scriptCalls(ctx context.Context, t testing.TB, rdb *redis.Client) int {
	t.Helper()
	info, err := rdb.Info(ctx, "commandstats").Result()
	must(t, err)
	n := 0
	for _, m := range regexp.MustCompile(`cmdstat_(?:evalsha|fcall):calls=(\d+)`).FindAllStringSubmatch(info, -1) {
		c, _ := strconv.Atoi(m[1])
		n += c
	}
	return n
}

// snap is a session hash and its remaining lifetime at one instant.
type snap struct {
	hash map[string]string
	pttl time.Duration
}

func (r *resendRig) snap(ctx context.Context, t testing.TB, key string) snap {
	t.Helper()
	var h *redis.MapStringStringCmd
	var pttl *redis.DurationCmd
	_, err := r.direct.TxPipelined(ctx, func(p redis.Pipeliner) error {
		h = p.HGetAll(ctx, key)
		pttl = p.PTTL(ctx, key)
		return nil
	})
	must(t, err)
	return snap{hash: h.Val(), pttl: pttl.Val()}
}

// dropped runs call with the reply of its script lost on the way back.
// It returns the call's error and what the server held after the first
// run (read during go-redis's backoff, before the resend) and after the
// call returned. When resend is true it checks the server ran the script
// exactly twice.
func (r *resendRig) dropped(t *testing.T, key string, resend bool, call func(ctx context.Context) error) (err error, first, final snap) {
	t.Helper()
	return r.droppedAround(t, key, resend, nil, call)
}

// droppedAround is dropped with between run after the first run and
// before the resend: another caller's write that go-redis's backoff let
// in.
func (r *resendRig) droppedAround(t *testing.T, key string, resend bool, between func(), call func(ctx context.Context) error) (err error, first, final snap) {
	t.Helper()
	ctx := testCtx(t, 20*time.Second)
	// Open the connection first: the reply to drop must be the script's,
	// not the handshake's.
	must(t, r.client.Ping(ctx).Err())
	calls0 := scriptCalls(ctx, t, r.direct)
	drops0 := r.proxy.DroppedReplies()
	r.proxy.DropNextReply()
	errc := make(chan error, 1)
	go func() { errc <- call(ctx) }()

	deadline := time.Now().Add(10 * time.Second)
	for r.proxy.DroppedReplies() == drops0 {
		if time.Now().After(deadline) {
			t.Fatal("the proxy never dropped the script's reply")
		}
		time.Sleep(time.Millisecond)
	}
	first = r.snap(ctx, t, key)
	// Read after the snapshot: if the server had run the script only once
	// by now, the snapshot is the first run's work alone.
	if resend {
		if n := scriptCalls(ctx, t, r.direct) - calls0; n != 1 {
			t.Fatalf("the server ran the script %d times before the resend, want 1: the backoff window was missed", n)
		}
	}
	if between != nil {
		between()
		calls0 += scriptCalls(ctx, t, r.direct) - calls0 - 1
		if resend && scriptCalls(ctx, t, r.direct)-calls0 != 1 {
			t.Fatal("the resend came before the write in between was done: the backoff window was missed")
		}
	}
	select {
	case err = <-errc:
	case <-time.After(15 * time.Second):
		t.Fatal("the call did not return within 15s of a lost reply")
	}
	final = r.snap(ctx, t, key)
	if n := scriptCalls(ctx, t, r.direct) - calls0; resend && n != 2 {
		t.Fatalf("the server ran the script %d times, want 2 (first run and resend)", n)
	}
	return err, first, final
}

// sameAsFirst checks that the resend changed nothing the first run wrote
// and left the session's lifetime alone.
func sameAsFirst(t *testing.T, first, final snap) {
	t.Helper()
	if !maps.Equal(first.hash, final.hash) {
		t.Errorf("the resend changed the session hash:\n first run %q\n after     %q", first.hash, final.hash)
	}
	if final.pttl > first.pttl {
		t.Errorf("the resend extended the session: PTTL %v after the first run, %v after", first.pttl, final.pttl)
	}
}

// TestResendIsSafe loses the reply of each write once. go-redis resends
// the script (MaxRetries 3, the default); the server runs it twice. The
// caller must see one successful call: no error, no ErrExists or
// ErrSessionExists from the resend, and the data exactly as the first run
// left it (same records byte for byte: value, Created, Modified, Expires,
// token), not written a second time.
func TestResendIsSafe(t *testing.T) {
	t.Parallel()
	r := newResendRig(t, 3)
	ctx := testCtx(t, 60*time.Second)
	val := func(s string) []byte { return []byte(s) }

	type tc struct {
		name  string
		setup func(s *attrcache.Session)
		call  func(ctx context.Context, s *attrcache.Session) error
		check func(t *testing.T, s *attrcache.Session, first snap)
	}
	cases := []tc{
		{
			name: "Create",
			call: func(ctx context.Context, s *attrcache.Session) error {
				return s.Create(ctx, "a", val("created"), attrcache.WithExpiration(20*time.Minute))
			},
			check: func(t *testing.T, s *attrcache.Session, _ snap) {
				e, err := s.Get(ctx, "a")
				must(t, err)
				if string(e.Value) != "created" || !e.Modified.Equal(e.Created) || e.Expires.Sub(e.Created) != 20*time.Minute {
					t.Errorf("entry after a resent Create: %v", e)
				}
			},
		},
		{
			name:  "CreateMany",
			setup: func(s *attrcache.Session) { must(t, s.Create(ctx, "other", val("o"))) },
			call: func(ctx context.Context, s *attrcache.Session) error {
				return s.CreateMany(ctx, []attrcache.Attr{{Name: "a", Value: val("1")}, {Name: "b", Value: val("2")}, {Name: "c", Value: val("3")}})
			},
			check: func(t *testing.T, s *attrcache.Session, _ snap) {
				names, err := s.Names(ctx)
				must(t, err)
				if fmt.Sprint(names) != "[a b c other]" {
					t.Errorf("names after a resent CreateMany: %q", names)
				}
			},
		},
		{
			name:  "Update",
			setup: func(s *attrcache.Session) { must(t, s.Create(ctx, "a", val("old"))); time.Sleep(5 * time.Millisecond) },
			call: func(ctx context.Context, s *attrcache.Session) error {
				return s.Update(ctx, "a", val("new"))
			},
			check: func(t *testing.T, s *attrcache.Session, _ snap) {
				e, err := s.Get(ctx, "a")
				must(t, err)
				if string(e.Value) != "new" || !e.Modified.After(e.Created) {
					t.Errorf("entry after a resent Update: %v", e)
				}
			},
		},
		{
			name:  "Set",
			setup: func(s *attrcache.Session) { must(t, s.Create(ctx, "a", val("old"))); time.Sleep(5 * time.Millisecond) },
			call: func(ctx context.Context, s *attrcache.Session) error {
				return s.Set(ctx, "a", val("set"), attrcache.WithExpiration(30*time.Minute))
			},
			check: func(t *testing.T, s *attrcache.Session, _ snap) {
				e, err := s.Get(ctx, "a")
				must(t, err)
				if string(e.Value) != "set" || !e.Modified.After(e.Created) || e.Expires.Sub(e.Modified) != 30*time.Minute {
					t.Errorf("entry after a resent Set: %v", e)
				}
			},
		},
		{
			name:  "SetExpiry",
			setup: func(s *attrcache.Session) { must(t, s.Create(ctx, "a", val("v"))) },
			call: func(ctx context.Context, s *attrcache.Session) error {
				return s.SetExpiry(ctx, "a", 10*time.Minute)
			},
			check: func(t *testing.T, s *attrcache.Session, first snap) {
				e, err := s.Get(ctx, "a")
				must(t, err)
				rec, err := recordIn(first.hash, "a")
				must(t, err)
				// The first run set the expiry; the resend, 400ms later,
				// would have moved it.
				if e.Expires.UnixMilli() != rec.expires || e.Expires.IsZero() {
					t.Errorf("expiry after a resent SetExpiry %v, first run set %v", e.Expires, time.UnixMilli(rec.expires))
				}
			},
		},
		{
			name: "Delete",
			setup: func(s *attrcache.Session) {
				must(t, s.Create(ctx, "a", val("v")))
				must(t, s.Create(ctx, "b", val("v")))
			},
			call: func(ctx context.Context, s *attrcache.Session) error {
				return s.Delete(ctx, "a")
			},
			check: func(t *testing.T, s *attrcache.Session, _ snap) {
				names, err := s.Names(ctx)
				must(t, err)
				if fmt.Sprint(names) != "[b]" {
					t.Errorf("names after a resent Delete: %q", names)
				}
			},
		},
		{
			name:  "Incr",
			setup: func(s *attrcache.Session) { must(t, s.Set(ctx, "n", val("40"))) },
			call: func(ctx context.Context, s *attrcache.Session) error {
				n, err := s.Incr(ctx, "n", 2)
				if err == nil && n != 42 {
					return fmt.Errorf("a resent Incr returned %d, want 42", n)
				}
				return err
			},
			check: func(t *testing.T, s *attrcache.Session, _ snap) {
				e, err := s.Get(ctx, "n")
				must(t, err)
				if string(e.Value) != "42" {
					t.Errorf("a resent Incr left %q, want 42: added twice", e.Value)
				}
			},
		},
		{
			name:  "End",
			setup: func(s *attrcache.Session) { must(t, s.Create(ctx, "a", val("v"))) },
			call: func(ctx context.Context, s *attrcache.Session) error {
				return s.End(ctx)
			},
			check: func(t *testing.T, s *attrcache.Session, first snap) {
				if _, err := s.Names(ctx); !errors.Is(err, attrcache.ErrSessionNotFound) {
					t.Errorf("Names after a resent End: %v, want ErrSessionNotFound", err)
				}
				if n := attrFields(first.hash); n != 0 {
					t.Errorf("the first run of End left %d attribute fields, want the tombstone alone", n)
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := r.st.Start(ctx, "resend-"+c.name+"-"+randHex(8), time.Hour)
			must(t, err)
			if c.setup != nil {
				c.setup(s)
			}
			err, first, final := r.dropped(t, s.Key(), true, func(ctx context.Context) error { return c.call(ctx, s) })
			if err != nil {
				t.Fatalf("%s whose reply was lost and resent: %v, want success", c.name, err)
			}
			sameAsFirst(t, first, final)
			c.check(t, s, first)
		})
	}

	t.Run("Start", func(t *testing.T) {
		sid := "resend-start-" + randHex(8)
		key := r.st.Session(sid).Key()
		var sess *attrcache.Session
		err, first, final := r.dropped(t, key, true, func(ctx context.Context) error {
			var err error
			sess, err = r.st.Start(ctx, sid, time.Hour)
			return err
		})
		if err != nil {
			t.Fatalf("Start whose reply was lost and resent: %v, want success (not ErrSessionExists)", err)
		}
		sameAsFirst(t, first, final)
		if _, ok := first.hash[rawMarkerField]; !ok || attrFields(first.hash) != 0 {
			t.Fatalf("the first run of Start left %d attribute fields", attrFields(first.hash))
		}
		must(t, sess.Create(ctx, "a", val("v")))
		// A second Start, a new call, is refused as it should be.
		if _, err := r.st.Start(ctx, sid, time.Hour); !errors.Is(err, attrcache.ErrSessionExists) {
			t.Fatalf("a second Start: %v, want ErrSessionExists", err)
		}
	})
}

// TestResendReplicaWait loses the reply of writes made WithReplicaWait,
// where the script and WAIT travel in one pipeline: go-redis resends the
// pipeline, and the caller must still see one successful call.
func TestResendReplicaWait(t *testing.T) {
	t.Parallel()
	r := newResendRig(t, 3)
	ctx := testCtx(t, 60*time.Second)
	host, port, err := net.SplitHostPort(r.srv.Addr())
	must(t, err)
	replica := redistest.StartServer(t, redistest.WithArgs("--replicaof", host, port))
	rc := replica.Client(t)
	must(t, retryCall(ctx, 10*time.Second, func() error {
		info, err := rc.Info(ctx, "replication").Result()
		if err == nil && !strings.Contains(info, "master_link_status:up") {
			err = errors.New("replica not in sync yet")
		}
		return err
	}))
	r.st, err = attrcache.New(r.client, attrcache.WithNamespace(r.st.Namespace()), attrcache.WithReplicaWait(1, time.Second))
	must(t, err)
	r.warmUp(t)

	s, err := r.st.Start(ctx, "resend-wait-"+randHex(8), time.Hour)
	must(t, err)
	for _, c := range []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Create", func(ctx context.Context) error { return s.Create(ctx, "a", []byte("1")) }},
		{"CreateMany", func(ctx context.Context) error {
			return s.CreateMany(ctx, []attrcache.Attr{{Name: "b", Value: []byte("2")}, {Name: "c", Value: []byte("3")}})
		}},
		{"Update", func(ctx context.Context) error { return s.Update(ctx, "a", []byte("11")) }},
		{"SetExpiry", func(ctx context.Context) error { return s.SetExpiry(ctx, "b", time.Minute) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			err, first, final := r.dropped(t, s.Key(), true, c.call)
			if err != nil {
				t.Fatalf("%s WithReplicaWait whose reply was lost and resent: %v, want success", c.name, err)
			}
			sameAsFirst(t, first, final)
		})
	}
}

// TestResendOffIsAmbiguous shows the ambiguous write of a client that
// does not retry (MaxRetries -1): the server applied the write, the caller
// gets a connection error. Calling again is a new call with a new token,
// so it cannot be told from someone else's write: a second Create reports
// ErrExists, a second Start ErrSessionExists, a second End
// ErrSessionNotFound, although the first call did the work. A caller that
// turns retries off must treat a non-answer error of a write as "maybe
// applied": re-read (Get, Exists, TTL) and compare with what it wrote, or
// use the writes whose repetition is harmless (Set, SetExpiry, Delete,
// Renew). Leaving go-redis's retries on avoids all this: see
// TestResendIsSafe.
func TestResendOffIsAmbiguous(t *testing.T) {
	t.Parallel()
	r := newResendRig(t, -1)
	ctx := testCtx(t, 60*time.Second)

	// wantLost checks the error a lost reply gives without retries: the
	// connection ended under the reply (io.EOF), which is not one of
	// attrcache's answers.
	wantLost := func(t *testing.T, what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s with its reply lost and no retries succeeded: the reply was not lost", what)
		}
		if isAnswer(err) || !errors.Is(err, io.EOF) {
			t.Fatalf("%s with its reply lost: %v, want a connection error (io.EOF)", what, err)
		}
	}

	t.Run("Create", func(t *testing.T) {
		s, err := r.st.Start(ctx, "off-create-"+randHex(8), time.Hour)
		must(t, err)
		err, first, _ := r.dropped(t, s.Key(), false, func(ctx context.Context) error {
			return s.Create(ctx, "a", []byte("mine"))
		})
		wantLost(t, "Create", err)
		if _, ok := first.hash["a"]; !ok {
			t.Fatal("the server did not apply the Create")
		}
		err = s.Create(ctx, "a", []byte("mine"))
		if !errors.Is(err, attrcache.ErrExists) {
			t.Fatalf("Create called again: %v, want ErrExists", err)
		}
		// What the caller can do: read back and compare.
		e, err := s.Get(ctx, "a")
		must(t, err)
		if string(e.Value) != "mine" {
			t.Fatal("the value read back is not the one written")
		}
	})
	t.Run("Start", func(t *testing.T) {
		sid := "off-start-" + randHex(8)
		err, first, _ := r.dropped(t, r.st.Session(sid).Key(), false, func(ctx context.Context) error {
			_, err := r.st.Start(ctx, sid, time.Hour)
			return err
		})
		wantLost(t, "Start", err)
		if _, ok := first.hash[rawMarkerField]; !ok {
			t.Fatal("the server did not apply the Start")
		}
		if _, err := r.st.Start(ctx, sid, time.Hour); !errors.Is(err, attrcache.ErrSessionExists) {
			t.Fatalf("Start called again: %v, want ErrSessionExists", err)
		}
		if _, err := r.st.Session(sid).TTL(ctx); err != nil {
			t.Fatalf("TTL of the started session: %v", err)
		}
	})
	t.Run("End", func(t *testing.T) {
		s, err := r.st.Start(ctx, "off-end-"+randHex(8), time.Hour)
		must(t, err)
		err, _, _ = r.dropped(t, s.Key(), false, func(ctx context.Context) error { return s.End(ctx) })
		wantLost(t, "End", err)
		if err := s.End(ctx); !errors.Is(err, attrcache.ErrSessionNotFound) {
			t.Fatalf("End called again: %v, want ErrSessionNotFound", err)
		}
	})
	t.Run("Set", func(t *testing.T) {
		s, err := r.st.Start(ctx, "off-set-"+randHex(8), time.Hour)
		must(t, err)
		err, _, _ = r.dropped(t, s.Key(), false, func(ctx context.Context) error { return s.Set(ctx, "a", []byte("v")) })
		wantLost(t, "Set", err)
		// Set is an upsert: calling again is harmless and succeeds.
		must(t, s.Set(ctx, "a", []byte("v")))
	})
}

// TestResendAfterShortExpiry loses the reply of writes that give the
// attribute an expiry shorter than go-redis's pause before the resend
// (here 400ms; with default options a resend after a read timeout comes
// ReadTimeout, 5s, after the first run). The first run did the work, so
// the caller must see one successful call and the first run's record.
func TestResendAfterShortExpiry(t *testing.T) {
	t.Parallel()
	r := newResendRig(t, 3)
	ctx := testCtx(t, 60*time.Second)
	const d = 150 * time.Millisecond
	cases := []struct {
		name  string
		setup bool // create "a" first
		call  func(ctx context.Context, s *attrcache.Session) error
	}{
		{"Create", false, func(ctx context.Context, s *attrcache.Session) error {
			return s.Create(ctx, "a", []byte("v"), attrcache.WithExpiration(d))
		}},
		{"Set", true, func(ctx context.Context, s *attrcache.Session) error {
			return s.Set(ctx, "a", []byte("v2"), attrcache.WithExpiration(d))
		}},
		{"Update", true, func(ctx context.Context, s *attrcache.Session) error {
			return s.Update(ctx, "a", []byte("v2"), attrcache.WithExpiration(d))
		}},
		{"SetExpiry", true, func(ctx context.Context, s *attrcache.Session) error {
			return s.SetExpiry(ctx, "a", d)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := r.st.Start(ctx, "resend-short-"+c.name+"-"+randHex(8), time.Hour)
			must(t, err)
			if c.setup {
				must(t, s.Create(ctx, "a", []byte("v")))
			}
			err, first, final := r.dropped(t, s.Key(), true, func(ctx context.Context) error { return c.call(ctx, s) })
			if err != nil {
				t.Errorf("%s(expiry %v) whose reply was lost and resent after the expiry: %v, want success", c.name, d, err)
			}
			if f, g := first.hash["a"], final.hash["a"]; f != g {
				fr, _ := recordIn(first.hash, "a")
				gr, _ := recordIn(final.hash, "a")
				t.Errorf("the resend of %s wrote the attribute again: first run created %d modified %d expires %d, after the resend %d %d %d",
					c.name, fr.created, fr.modified, fr.expires, gr.created, gr.modified, gr.expires)
			}
		})
	}
	t.Run("Start", func(t *testing.T) {
		sid := "resend-short-start-" + randHex(8)
		err, first, final := r.dropped(t, r.st.Session(sid).Key(), true, func(ctx context.Context) error {
			_, err := r.st.Start(ctx, sid, d)
			return err
		})
		if err != nil {
			t.Errorf("Start(ttl %v) whose reply was lost and resent after the session expired: %v, want success", d, err)
		}
		if f, g := first.hash[rawMarkerField], final.hash[rawMarkerField]; g != "" && f != g {
			fm, _ := decodeMarker(f)
			gm, _ := decodeMarker(g)
			t.Errorf("the resend of Start started the session again: first run at %d, resend at %d, so it lives %v past the first run's deadline",
				fm.created, gm.created, time.Duration(gm.created-fm.created)*time.Millisecond)
		}
	})
}

// TestResendAfterInterleavedWrite loses the reply of each write and session
// call, lets another caller write the same session during go-redis's
// backoff, then lets the resend through. The resend must report the first
// run's success and change nothing: the write in between is what stays.
// These are the review's reproductions: a Set("role","admin") whose resend
// overwrote a later Set("role","user"), a deleted one-time token that came
// back, and a resent End that ended a session started after it.
func TestResendAfterInterleavedWrite(t *testing.T) {
	t.Parallel()
	r := newResendRig(t, 3)
	other, err := attrcache.New(r.direct, attrcache.WithNamespace(r.st.Namespace()))
	must(t, err)
	ctx := testCtx(t, 120*time.Second)
	val := func(s string) []byte { return []byte(s) }
	one := func(name, v string) []attrcache.Attr { return []attrcache.Attr{{Name: name, Value: val(v)}} }
	wantValue := func(t *testing.T, s *attrcache.Session, name, want string) {
		t.Helper()
		e, err := s.Get(ctx, name)
		if err != nil || string(e.Value) != want {
			t.Fatalf("Get(%s) after the resend: %v, %v; want %q", name, e, err, want)
		}
	}
	wantAbsent := func(t *testing.T, s *attrcache.Session, name string) {
		t.Helper()
		if _, err := s.Get(ctx, name); !errors.Is(err, attrcache.ErrNotFound) {
			t.Fatalf("Get(%s) after the resend: %v, want ErrNotFound", name, err)
		}
	}
	cases := []struct {
		name    string
		setup   func(o *attrcache.Session)
		call    func(ctx context.Context, s *attrcache.Session) error
		between func(o *attrcache.Session)
		check   func(t *testing.T, o *attrcache.Session)
	}{
		{
			name:    "Set then Set",
			call:    func(ctx context.Context, s *attrcache.Session) error { return s.Set(ctx, "role", val("admin")) },
			between: func(o *attrcache.Session) { must(t, o.Set(ctx, "role", val("user"))) },
			check:   func(t *testing.T, o *attrcache.Session) { wantValue(t, o, "role", "user") },
		},
		{
			name:    "Create of a one-time token deleted in between",
			call:    func(ctx context.Context, s *attrcache.Session) error { return s.Create(ctx, "token", val("once")) },
			between: func(o *attrcache.Session) { must(t, o.Delete(ctx, "token")) },
			check:   func(t *testing.T, o *attrcache.Session) { wantAbsent(t, o, "token") },
		},
		{
			name: "CreateMany",
			call: func(ctx context.Context, s *attrcache.Session) error {
				return s.CreateMany(ctx, append(one("a", "1"), one("b", "1")...))
			},
			between: func(o *attrcache.Session) { must(t, o.Delete(ctx, "a")) },
			check: func(t *testing.T, o *attrcache.Session) {
				wantAbsent(t, o, "a")
				wantValue(t, o, "b", "1")
			},
		},
		{
			name: "SetMany",
			call: func(ctx context.Context, s *attrcache.Session) error {
				return s.SetMany(ctx, append(one("a", "mine"), one("b", "mine")...))
			},
			between: func(o *attrcache.Session) { must(t, o.Set(ctx, "a", val("theirs"))) },
			check: func(t *testing.T, o *attrcache.Session) {
				wantValue(t, o, "a", "theirs")
				wantValue(t, o, "b", "mine")
			},
		},
		{
			name:    "Update",
			setup:   func(o *attrcache.Session) { must(t, o.Create(ctx, "a", val("0"))) },
			call:    func(ctx context.Context, s *attrcache.Session) error { return s.Update(ctx, "a", val("mine")) },
			between: func(o *attrcache.Session) { must(t, o.Update(ctx, "a", val("theirs"))) },
			check:   func(t *testing.T, o *attrcache.Session) { wantValue(t, o, "a", "theirs") },
		},
		{
			name:  "UpdateMany",
			setup: func(o *attrcache.Session) { must(t, o.CreateMany(ctx, append(one("a", "0"), one("b", "0")...))) },
			call: func(ctx context.Context, s *attrcache.Session) error {
				return s.UpdateMany(ctx, append(one("a", "mine"), one("b", "mine")...))
			},
			between: func(o *attrcache.Session) { must(t, o.Delete(ctx, "b")) },
			check: func(t *testing.T, o *attrcache.Session) {
				wantValue(t, o, "a", "mine")
				wantAbsent(t, o, "b")
			},
		},
		{
			name:    "Delete",
			setup:   func(o *attrcache.Session) { must(t, o.Create(ctx, "a", val("0"))) },
			call:    func(ctx context.Context, s *attrcache.Session) error { return s.Delete(ctx, "a") },
			between: func(o *attrcache.Session) { must(t, o.Create(ctx, "a", val("again"))) },
			check:   func(t *testing.T, o *attrcache.Session) { wantValue(t, o, "a", "again") },
		},
		{
			name:    "DeleteMany",
			setup:   func(o *attrcache.Session) { must(t, o.CreateMany(ctx, append(one("a", "0"), one("b", "0")...))) },
			call:    func(ctx context.Context, s *attrcache.Session) error { return s.DeleteMany(ctx, []string{"a", "b"}) },
			between: func(o *attrcache.Session) { must(t, o.Create(ctx, "b", val("again"))) },
			check: func(t *testing.T, o *attrcache.Session) {
				wantAbsent(t, o, "a")
				wantValue(t, o, "b", "again")
			},
		},
		{
			name:    "SetExpiry",
			setup:   func(o *attrcache.Session) { must(t, o.Create(ctx, "a", val("0"))) },
			call:    func(ctx context.Context, s *attrcache.Session) error { return s.SetExpiry(ctx, "a", time.Minute) },
			between: func(o *attrcache.Session) { must(t, o.SetExpiry(ctx, "a", time.Hour)) },
			check: func(t *testing.T, o *attrcache.Session) {
				if e, err := o.Get(ctx, "a"); err != nil || time.Until(e.Expires) < 50*time.Minute {
					t.Fatalf("expiry after the resend: %v, %v", e, err)
				}
			},
		},
		{
			name:  "SetExpiryMany",
			setup: func(o *attrcache.Session) { must(t, o.CreateMany(ctx, append(one("a", "0"), one("b", "0")...))) },
			call: func(ctx context.Context, s *attrcache.Session) error {
				return s.SetExpiryMany(ctx, map[string]time.Duration{"a": time.Minute, "b": time.Minute})
			},
			between: func(o *attrcache.Session) { must(t, o.Delete(ctx, "a")) },
			check:   func(t *testing.T, o *attrcache.Session) { wantAbsent(t, o, "a") },
		},
		{
			name: "Renew",
			call: func(ctx context.Context, s *attrcache.Session) error { _, err := s.Renew(ctx, 2*time.Hour); return err },
			between: func(o *attrcache.Session) {
				_, err := o.Renew(ctx, time.Minute)
				must(t, err)
			},
			check: func(t *testing.T, o *attrcache.Session) {
				if ttl, err := o.TTL(ctx); err != nil || ttl > 2*time.Minute {
					t.Fatalf("TTL after the resend: %v, %v", ttl, err)
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sid := "interleaved-" + randHex(8)
			o, err := other.Start(ctx, sid, time.Hour)
			must(t, err)
			if c.setup != nil {
				c.setup(o)
			}
			s := r.st.Session(sid)
			err, _, _ = r.droppedAround(t, s.Key(), true, func() { c.between(o) }, func(ctx context.Context) error { return c.call(ctx, s) })
			if err != nil {
				t.Fatalf("%s whose reply was lost and resent after another write: %v, want success", c.name, err)
			}
			c.check(t, o)
		})
	}

	t.Run("End, Start, resent End", func(t *testing.T) {
		sid := "interleaved-end-" + randHex(8)
		_, err := other.Start(ctx, sid, time.Hour)
		must(t, err)
		s := r.st.Session(sid)
		var restarted *attrcache.Session
		err, _, _ = r.droppedAround(t, s.Key(), true, func() {
			var err error
			restarted, err = other.Start(ctx, sid, time.Hour)
			must(t, err)
			must(t, restarted.Create(ctx, "new", val("session")))
		}, func(ctx context.Context) error { return s.End(ctx) })
		if err != nil {
			t.Fatalf("End resent after a new Start: %v, want success", err)
		}
		wantValue(t, restarted, "new", "session")
	})
	t.Run("Start, End, resent Start", func(t *testing.T) {
		sid := "interleaved-start-" + randHex(8)
		err, _, _ := r.droppedAround(t, r.st.Session(sid).Key(), true, func() {
			must(t, other.Session(sid).End(ctx))
		}, func(ctx context.Context) error { _, err := r.st.Start(ctx, sid, time.Hour); return err })
		if err != nil {
			t.Fatalf("Start resent after an End: %v, want success", err)
		}
		if _, err := other.Session(sid).Names(ctx); !errors.Is(err, attrcache.ErrSessionNotFound) {
			t.Fatalf("the resent Start started the session again: %v", err)
		}
	})
}
