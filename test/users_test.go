package test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/test/redistest"
)

// The two promises of users and their sessions, under faults between the
// commands of the calls that keep the registry:
//
//   - never a miss: once EndSessions or Purge returns, no session of the
//     user is live that was started before the call, whatever was being
//     started, renewed or rotated at that moment;
//   - never drift: Sessions never lists a session that has ended,
//     expired or been moved by Rotate, and a registry entry of a session
//     that is gone disappears by the user's next call.
//
// What Redis holds is read raw, from the key layout of internal/format,
// not through the registry: a registry that lost a live session would
// otherwise hide it.

// rawUserTag is the documented tag of user uid in namespace ns: the first
// 16 characters of base64url(SHA-256("attrcache user" NUL ns NUL uid)).
func rawUserTag(ns, uid string) string {
	sum := sha256.Sum256([]byte("attrcache user\x00" + ns + "\x00" + uid))
	return base64.RawURLEncoding.EncodeToString(sum[:])[:16]
}

// rawUserSession is one session key in a user's slot, as Redis holds it.
type rawUserSession struct {
	key     string
	state   byte // marker kind: 'L', 'R', 'P', 'E'
	created int64
	live    bool // readable now: live, or frozen by a rotation within its grace
}

// rawUserSessions reads every session key in user uid's slot, with SCAN,
// one pipeline of HGETs and the raw decoder, at the server's now.
func rawUserSessions(ctx context.Context, t testing.TB, rdb *redis.Client, ns, uid string) map[string]rawUserSession {
	t.Helper()
	now, err := redisNow(ctx, rdb)
	must(t, err)
	var keys []string
	iter := rdb.Scan(ctx, 0, ns+":s:{"+rawUserTag(ns, uid)+"}*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	must(t, iter.Err())
	cmds := make([]*redis.StringCmd, len(keys))
	_, err = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.HGet(ctx, k, rawMarkerField)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
	out := map[string]rawUserSession{}
	for i, k := range keys {
		m, err := cmds[i].Result()
		if errors.Is(err, redis.Nil) {
			continue // gone since the SCAN
		}
		must(t, err)
		mk, err := decodeMarker(m)
		if err != nil {
			t.Fatalf("session key %s: %v", k, err)
		}
		out[k] = rawUserSession{key: k, state: mk.state, created: mk.created,
			live: mk.deadline > now && (mk.state == 'L' || mk.state == 'R' && mk.rotation > now)}
	}
	return out
}

// liveKeys returns the keys of the live sessions among raw, sorted.
func liveKeys(raw map[string]rawUserSession) []string {
	var out []string
	for k, s := range raw {
		if s.live {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// listedKeys returns the keys of the sessions User.Sessions lists, sorted.
func listedKeys(ctx context.Context, t testing.TB, u *attrcache.User) []string {
	t.Helper()
	refs, err := u.Sessions(ctx)
	must(t, err)
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = r.Session.Key()
	}
	slices.Sort(out)
	return out
}

// registryCheck compares the registry with Redis: it must list every live
// session (or EndSessions would miss it), and no session that has ended,
// expired or moved. It returns the listed sessions that are gone in
// another way (a key that vanished, a rotation that froze the session
// and never finished), which may stay listed until the user's next call.
func registryCheck(ctx context.Context, t testing.TB, rdb *redis.Client, st *attrcache.Store, uid, what string) (gone []string) {
	t.Helper()
	raw := rawUserSessions(ctx, t, rdb, st.Namespace(), uid)
	listed := listedKeys(ctx, t, st.User(uid))
	for _, k := range liveKeys(raw) {
		if !slices.Contains(listed, k) {
			t.Errorf("%s: session %s is live in Redis and Sessions does not list it: EndSessions would miss it", what, tail(k))
		}
	}
	for _, k := range listed {
		s, ok := raw[k]
		switch {
		case ok && s.live:
		case ok && (s.state == 'E' || s.state == 'L'):
			t.Errorf("%s: Sessions lists session %s, which has ended, expired or moved (marker %q)", what, tail(k), s.state)
		default:
			gone = append(gone, k)
		}
	}
	return gone
}

func tail(key string) string { return key[max(0, len(key)-8):] }

// faultModes are the faults stepFaults plays at a step.
var faultModes = []struct {
	name    string
	retries int
	arm     func(h *stepFaults, step int)
}{
	{"lost reply", 3, func(h *stepFaults, k int) { h.dropAt = k }},
	{"lost reply, no resend", -1, func(h *stepFaults, k int) { h.dropAt = k }},
	{"connection down", 3, func(h *stepFaults, k int) { h.downAt = k }},
	{"crash after", 3, func(h *stepFaults, k int) { h.crashFrom = k + 1 }},
}

// userRig is a server, a proxy in front of it, and a Store on a direct
// client that sets up and observes.
type userRig struct {
	srv      *redistest.Server
	proxy    *redistest.Proxy
	direct   *redis.Client
	ns       string
	observer *attrcache.Store
}

func newUserRig(t *testing.T) *userRig {
	t.Helper()
	srv := redistest.StartServer(t)
	r := &userRig{srv: srv, proxy: redistest.NewProxy(t, srv.Addr()), direct: srv.Client(t), ns: "users-" + randHex(4)}
	var err error
	r.observer, err = attrcache.New(r.direct, attrcache.WithNamespace(r.ns))
	must(t, err)
	return r
}

// faulty returns a Store through the proxy, warmed up (its scripts loaded
// and Redis's clock sampled) so that the calls under test send only their
// own commands, and the hook that numbers them.
func (r *userRig) faulty(t *testing.T, retries int, opts ...attrcache.Option) (*attrcache.Store, *stepFaults) {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	o := r.srv.Options()
	o.Addr = r.proxy.Addr()
	o.MaxRetries = retries
	o.MinRetryBackoff, o.MaxRetryBackoff = 50*time.Millisecond, 50*time.Millisecond
	cl := redis.NewClient(o)
	t.Cleanup(func() { _ = cl.Close() })
	st, err := attrcache.New(cl, append([]attrcache.Option{attrcache.WithNamespace(r.ns)}, opts...)...)
	must(t, err)
	uid := "warm-up-" + randHex(4)
	s, err := st.Start(ctx, st.User(uid).NewSessionID(), time.Minute, attrcache.WithUser(uid))
	must(t, err)
	must(t, s.Set(ctx, "a", []byte("1")))
	_, err = s.Rotate(ctx, s.NewID())
	must(t, err)
	_, err = st.User(uid).EndSessions(ctx)
	must(t, err)
	must(t, cl.Ping(ctx).Err())
	h := &stepFaults{proxy: r.proxy}
	cl.AddHook(h)
	return st, h
}

// startUser starts n sessions of uid on the observer, 2ms apart so that
// their order by start time is fixed, each holding attribute "n"; it
// returns their ids.
func (r *userRig) startUser(ctx context.Context, t *testing.T, uid string, n int) []string {
	t.Helper()
	var out []string
	for i := range n {
		sid := r.observer.User(uid).NewSessionID()
		_, err := r.observer.Start(ctx, sid, time.Hour, attrcache.WithUser(uid),
			attrcache.WithAttrs(attrcache.Attr{Name: "n", Value: []byte(fmt.Sprint(i))}))
		must(t, err)
		out = append(out, sid)
		time.Sleep(2 * time.Millisecond)
	}
	return out
}

// alive reports whether the session answers, failing the test on
// anything but ErrSessionNotFound.
func (r *userRig) alive(ctx context.Context, t *testing.T, sid string) bool {
	t.Helper()
	_, err := r.observer.Session(sid).TTL(ctx)
	if err != nil && !errors.Is(err, attrcache.ErrSessionNotFound) {
		t.Fatalf("TTL: %v", err)
	}
	return err == nil
}

// userCall is one call under test: run sets the user up on the observer,
// arms the fault and makes the call through st.
type userCall struct {
	name  string
	steps int // the commands it sends when nothing goes wrong
	cap   int // WithMaxSessions(cap, EndOldest); 0 for the default
	run   func(ctx context.Context, t *testing.T, r *userRig, st *attrcache.Store, arm func(), uid string, step int) callResult
}

// callResult is what a call under test returned, what a call that
// reported success must have done (ok), and what must hold once every
// rotation's grace has passed (later).
type callResult struct {
	err   error
	ok    func(t *testing.T)
	later func(ctx context.Context, t *testing.T)
}

var userCalls = []userCall{
	{
		name: "Start", steps: 1,
		run: func(ctx context.Context, t *testing.T, r *userRig, st *attrcache.Store, arm func(), uid string, step int) callResult {
			before := r.startUser(ctx, t, uid, 2)
			sid := st.User(uid).NewSessionID()
			arm()
			_, err := st.Start(ctx, sid, time.Hour, attrcache.WithUser(uid), attrcache.WithAttrs(attrcache.Attr{Name: "n", Value: []byte("new")}))
			return callResult{err: err, ok: func(t *testing.T) {
				if e, err := r.observer.Session(sid).Get(ctx, "n"); err != nil || string(e.Value) != "new" {
					t.Errorf("the session a successful Start made reads %v, %v", e, err)
				}
				for _, b := range before {
					if !r.alive(ctx, t, b) {
						t.Error("a Start under the cap ended another session")
					}
				}
			}}
		},
	},
	{
		// At the cap, with EndOldest, Start must name the oldest session
		// to end it: its first run reads which (NEEDKEYS), its second
		// ends it and starts the new one.
		name: "Start at the cap", steps: 2, cap: 2,
		run: func(ctx context.Context, t *testing.T, r *userRig, st *attrcache.Store, arm func(), uid string, step int) callResult {
			before := r.startUser(ctx, t, uid, 2)
			sid := st.User(uid).NewSessionID()
			arm()
			_, err := st.Start(ctx, sid, time.Hour, attrcache.WithUser(uid))
			return callResult{err: err, ok: func(t *testing.T) {
				if !r.alive(ctx, t, sid) || r.alive(ctx, t, before[0]) || !r.alive(ctx, t, before[1]) {
					t.Error("after a successful Start at the cap, want the new session and the newer old one live, the oldest ended")
				}
			}}
		},
	},
	{
		// A bound session's Rotate: freeze, read, then one script in the
		// user's slot makes the new session, ends the old one and moves
		// its registry entry.
		name: "Rotate", steps: 3,
		run: func(ctx context.Context, t *testing.T, r *userRig, st *attrcache.Store, arm func(), uid string, step int) callResult {
			before := r.startUser(ctx, t, uid, 2)
			old := st.Session(before[0])
			newSid := old.NewID()
			arm()
			_, err := old.Rotate(ctx, newSid)
			return callResult{err: err, ok: func(t *testing.T) {
				if e, err := r.observer.Session(newSid).Get(ctx, "n"); err != nil || string(e.Value) != "0" {
					t.Errorf("the new id after a successful Rotate reads %v, %v", e, err)
				}
				if r.alive(ctx, t, before[0]) {
					t.Error("the old id lives after a successful Rotate")
				}
			}, later: func(ctx context.Context, t *testing.T) {
				// "Until the new session exists, a failure thaws the old
				// one, which goes on as if nothing happened."
				// (A fault at the move, the third command, leaves Rotate
				// unsure whether the new session was made: it ends both.)
				if err != nil && step < 3 && !errors.Is(err, errCrashed) && !r.alive(ctx, t, before[0]) {
					t.Errorf("Rotate failed (%v) before the new session existed, and the old one is dead after the grace", short(err))
				}
			}}
		},
	},
	{
		// Log out everywhere but one session: read the registry, then
		// end what it lists in one script.
		name: "EndSessions", steps: 2,
		run: func(ctx context.Context, t *testing.T, r *userRig, st *attrcache.Store, arm func(), uid string, step int) callResult {
			before := r.startUser(ctx, t, uid, 4)
			arm()
			n, err := st.User(uid).EndSessions(ctx, st.Session(before[0]))
			return callResult{err: err, ok: func(t *testing.T) {
				if n != 3 {
					t.Errorf("EndSessions returned %d; it ended 3 sessions (a resent call reports its first run's outcome)", n)
				}
				if !r.alive(ctx, t, before[0]) {
					t.Error("EndSessions ended the session it was told to keep")
				}
				for _, b := range before[1:] {
					if r.alive(ctx, t, b) {
						t.Error("a session lives after EndSessions returned")
					}
				}
			}}
		},
	},
}

// TestUserFaults plays every fault of faultModes at every command of the
// calls that change a user's registry: Start WithUser, Start at the cap
// with EndOldest (which reads the victims first), Rotate of a bound
// session, and EndSessions. A lost reply that go-redis resends must not
// show: the call reports its first run's outcome. Whatever the fault,
// right after it and again once every rotation's grace has passed, the
// registry lists every live session of the user and no ended, expired or
// moved one; a session gone in another way leaves it by the user's next
// call; and EndSessions then counts and ends every live session.
func TestUserFaults(t *testing.T) {
	t.Parallel()
	r := newUserRig(t)
	type done struct {
		name, uid string
		later     func(ctx context.Context, t *testing.T)
	}
	var cases []done
	var last time.Time
	for _, call := range userCalls {
		for _, mode := range faultModes {
			for step := 1; step <= call.steps; step++ {
				name := fmt.Sprintf("%s/%s %d", call.name, mode.name, step)
				t.Run(name, func(t *testing.T) {
					ctx := testCtx(t, 60*time.Second)
					var opts []attrcache.Option
					if call.cap > 0 {
						opts = append(opts, attrcache.WithMaxSessions(call.cap, attrcache.EndOldest))
					}
					st, h := r.faulty(t, mode.retries, opts...)
					uid := "user-" + randHex(6) + "@example.org"
					if got, want := st.User(uid).Key(), r.ns+":u:{"+rawUserTag(r.ns, uid)+"}"; got != want {
						t.Fatalf("the user's key is %q, the documented layout says %q", got, want)
					}
					drops := r.proxy.DroppedReplies()
					res := call.run(ctx, t, r, st, func() { mode.arm(h, step) }, uid, step)
					err := res.err
					last = time.Now()
					n, seen := h.count()
					t.Logf("%s: %v; commands %v", call.name, err, seen)
					if n < step {
						t.Fatalf("the call sent %d commands, the fault was meant for the %dth", n, step)
					}
					if h.dropAt > 0 && r.proxy.DroppedReplies() == drops {
						t.Fatal("no reply was lost")
					}
					if err != nil && strings.Contains(err.Error(), "@example.org") {
						t.Errorf("the error names the user: %v", err)
					}
					switch {
					case mode.retries > 0 && h.dropAt > 0 && err != nil:
						t.Errorf("%s whose reply was lost and resent: %v, want success", call.name, err)
					case err == nil:
						res.ok(t)
					}
					registryCheck(ctx, t, r.direct, r.observer, uid, "right after the fault")
					cases = append(cases, done{name, uid, res.later})
				})
			}
		}
	}

	// A rotation cut short leaves the old id frozen, readable for
	// rotationGrace; after it, the session is gone.
	time.Sleep(time.Until(last.Add(rotationGrace + 200*time.Millisecond)))
	for _, c := range cases {
		t.Run("after the grace/"+c.name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			gone := registryCheck(ctx, t, r.direct, r.observer, c.uid, "after the grace")
			if len(gone) > 0 {
				t.Logf("Sessions lists %d sessions that are gone: %v", len(gone), shortList(gone))
			}
			if c.later != nil {
				c.later(ctx, t)
			}
			// The user's next call: a login, with room for exactly one
			// more session than the user has.
			live := liveKeys(rawUserSessions(ctx, t, r.direct, r.ns, c.uid))
			capped, err := attrcache.New(r.direct, attrcache.WithNamespace(r.ns), attrcache.WithMaxSessions(len(live)+1, attrcache.RefuseNew))
			must(t, err)
			_, err = capped.Start(ctx, capped.User(c.uid).NewSessionID(), time.Hour, attrcache.WithUser(c.uid))
			if errors.Is(err, attrcache.ErrTooManySessions) {
				t.Errorf("a login with room for one more session than the %d live is refused: a session that is gone counts against the cap", len(live))
			} else {
				must(t, err)
			}
			if gone := registryCheck(ctx, t, r.direct, r.observer, c.uid, "after the user's next call"); len(gone) > 0 {
				t.Errorf("after the user's next call, Sessions still lists %d sessions that are gone: %v", len(gone), shortList(gone))
			}
			live = liveKeys(rawUserSessions(ctx, t, r.direct, r.ns, c.uid))
			n, err := r.observer.User(c.uid).EndSessions(ctx)
			must(t, err)
			if n != len(live) {
				t.Errorf("EndSessions ended %d sessions; %d were live", n, len(live))
			}
			if live := liveKeys(rawUserSessions(ctx, t, r.direct, r.ns, c.uid)); len(live) > 0 {
				t.Errorf("after EndSessions returned, %d sessions of the user are live: %v", len(live), shortList(live))
			}
			if listed := listedKeys(ctx, t, r.observer.User(c.uid)); len(listed) > 0 {
				t.Errorf("after EndSessions returned, Sessions lists %v", shortList(listed))
			}
		})
	}
}

func shortList(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = tail(k)
	}
	return out
}

// TestUserNeverMissUnderLoad runs, for one user, logins (Start WithUser
// with short lifetimes), renewals, rotations, logouts and writes to the
// user's attributes in a loop, through a proxy that loses a reply now
// and then (go-redis resends), while EndSessions and Purge run over and
// over. After each EndSessions or Purge that returns, no session started
// before it may be live in Redis (read raw), nor any attribute the user
// had before a Purge; and Sessions, read in a loop beside, may never list
// a session that had ended, expired, moved or been logged out before the
// read began.
func TestUserNeverMissUnderLoad(t *testing.T) {
	// Not in parallel: its load would skew the timing of other tests.
	r := newUserRig(t)
	o := r.srv.Options()
	o.Addr = r.proxy.Addr()
	o.MinRetryBackoff, o.MaxRetryBackoff = 5*time.Millisecond, 20*time.Millisecond
	cl := redis.NewClient(o)
	t.Cleanup(func() { _ = cl.Close() })
	// A cap far above what the loop reaches: this test is about misses.
	st, err := attrcache.New(cl, attrcache.WithNamespace(r.ns), attrcache.WithMaxSessions(10_000, attrcache.EndOldest))
	must(t, err)
	ctx := testCtx(t, 90*time.Second)
	uid := "user-" + randHex(6) + "@example.org"
	u := st.User(uid)

	const checks = 200 // EndSessions and Purge calls that must not miss
	type wipe struct {
		before int64     // Redis's clock (ms) before the call: sessions started earlier must be gone
		done   time.Time // when it returned
	}
	var (
		mu     sync.Mutex
		pool   []string                 // ids of sessions the loop may touch
		dead   = map[string]time.Time{} // key -> when a call that ended or moved it returned
		wipes  []wipe                   // EndSessions and Purge that returned
		counts = map[string]int{}
	)
	count := func(what string, err error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			counts[what+" ok"]++
		case errors.Is(err, attrcache.ErrSessionNotFound):
			counts[what+" ErrSessionNotFound"]++
		case errors.Is(err, attrcache.ErrUnavailable):
			counts[what+" ErrUnavailable"]++
		default:
			counts[what+" other: "+short(err)]++
		}
	}
	pick := func() (string, bool) {
		mu.Lock()
		defer mu.Unlock()
		if len(pool) == 0 {
			return "", false
		}
		return pool[rand.IntN(len(pool))], true
	}
	forget := func(sid string) {
		mu.Lock()
		defer mu.Unlock()
		if i := slices.Index(pool, sid); i >= 0 {
			pool = slices.Delete(pool, i, i+1)
		}
	}
	died := func(sid string) {
		mu.Lock()
		dead[st.Session(sid).Key()] = time.Now()
		mu.Unlock()
		forget(sid)
	}
	// after handles a call on a session of the pool: one that ended
	// under it leaves the pool.
	after := func(what, sid string, err error) {
		count(what, err)
		if errors.Is(err, attrcache.ErrSessionNotFound) {
			forget(sid)
		}
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	loop := func(n int, f func()) {
		for range n {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					f()
				}
			})
		}
	}
	loop(4, func() { // logins: about 100 a second, so some 50 to 100 sessions live
		time.Sleep(time.Duration(20+rand.IntN(40)) * time.Millisecond)
		sid := u.NewSessionID()
		ttl := time.Duration(200+rand.IntN(1000)) * time.Millisecond
		_, err := st.Start(ctx, sid, ttl, attrcache.WithUser(uid))
		count("Start", err)
		if err == nil {
			mu.Lock()
			pool = append(pool, sid)
			if len(pool) > 200 {
				pool = pool[len(pool)-200:]
			}
			mu.Unlock()
		}
	})
	loop(2, func() { // renewals
		time.Sleep(time.Duration(rand.IntN(10)) * time.Millisecond)
		if sid, ok := pick(); ok {
			_, err := st.Session(sid).Renew(ctx, time.Duration(200+rand.IntN(1000))*time.Millisecond)
			after("Renew", sid, err)
		}
	})
	loop(2, func() { // rotations
		time.Sleep(time.Duration(rand.IntN(10)) * time.Millisecond)
		if sid, ok := pick(); ok {
			s := st.Session(sid)
			nsid := s.NewID()
			_, err := s.Rotate(ctx, nsid)
			after("Rotate", sid, err)
			if err == nil {
				died(sid)
				mu.Lock()
				pool = append(pool, nsid)
				mu.Unlock()
			}
		}
	})
	loop(1, func() { // logouts
		if sid, ok := pick(); ok {
			err := st.Session(sid).End(ctx)
			after("End", sid, err)
			if err == nil {
				died(sid)
			}
		}
		time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
	})
	loop(1, func() { // the user's attributes
		time.Sleep(time.Duration(rand.IntN(10)) * time.Millisecond)
		count("User.Set", u.Set(ctx, "k", []byte("v")))
	})
	var listed atomic.Int64
	loop(1, func() { // Sessions, for drift
		time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond)
		began := time.Now()
		refs, err := u.Sessions(ctx)
		count("Sessions", err)
		if err != nil {
			return
		}
		listed.Add(int64(len(refs)))
		mu.Lock()
		defer mu.Unlock()
		for _, ref := range refs {
			k := ref.Session.Key()
			if at, ok := dead[k]; ok && at.Before(began) {
				t.Errorf("Sessions lists session %s, ended or moved %v before the read began", tail(k), began.Sub(at))
			}
			if !ref.Expires.After(began) {
				t.Errorf("Sessions lists session %s, expired %v before the read began", tail(k), began.Sub(ref.Expires))
			}
			for _, w := range wipes {
				if w.done.Before(began) && ref.Created.UnixMilli() < w.before {
					t.Errorf("Sessions lists session %s, started before an EndSessions or Purge that had returned", tail(k))
				}
			}
		}
	})
	loop(1, func() { // lost replies
		time.Sleep(time.Duration(10+rand.IntN(40)) * time.Millisecond)
		r.proxy.DropNextReply()
	})

	misses, done := 0, 0
	until := time.Now().Add(60 * time.Second)
	for i := 0; done < checks && time.Now().Before(until); i++ {
		time.Sleep(time.Duration(20+rand.IntN(80)) * time.Millisecond)
		before, err := redisNow(ctx, r.direct)
		must(t, err)
		purge := i%4 == 3
		if purge {
			err = u.Purge(ctx)
			count("Purge", err)
		} else {
			_, err = u.EndSessions(ctx)
			count("EndSessions", err)
		}
		if err != nil {
			continue
		}
		done++
		mu.Lock()
		wipes = append(wipes, wipe{before, time.Now()})
		mu.Unlock()
		for k, s := range rawUserSessions(ctx, t, r.direct, r.ns, uid) {
			if s.live && s.created < before {
				misses++
				t.Errorf("after %s returned, session %s (marker %q) started %dms before the call is live", map[bool]string{true: "Purge", false: "EndSessions"}[purge], tail(k), s.state, before-s.created)
			}
		}
		if purge {
			m, err := r.direct.HGet(ctx, u.Key(), rawMarkerField).Result()
			if err == nil {
				mk, err := decodeMarker(m)
				must(t, err)
				if mk.created < before {
					t.Errorf("after Purge returned, the user's hash made %dms before the call is still there", before-mk.created)
				}
			} else if !errors.Is(err, redis.Nil) {
				must(t, err)
			}
		}
	}
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	var lines []string
	for k, n := range counts {
		lines = append(lines, fmt.Sprintf("%s: %d", k, n))
	}
	slices.Sort(lines)
	t.Logf("%d EndSessions and Purge checked, %d misses; %d replies lost; %d sessions listed by Sessions\n%s",
		done, misses, r.proxy.DroppedReplies(), listed.Load(), strings.Join(lines, "\n"))
	if done < checks {
		t.Fatalf("only %d of %d EndSessions and Purge calls returned before the deadline", done, checks)
	}
	for k, n := range counts {
		if strings.Contains(k, " other: ") {
			t.Errorf("%d calls failed with an error that is neither an answer nor a fault of the path to Redis: %s", n, k)
		}
	}
}

// TestEndSessionsDuringLogins: log out everywhere while the user logs in
// as fast as eight clients can. EndSessions names every session it ends
// (a Cluster script must name its keys), so it reads the registry first
// and runs again when logins came in between; it must still succeed,
// and leave no session started before it live.
func TestEndSessionsDuringLogins(t *testing.T) {
	// Not in parallel: its load would skew the timing of other tests.
	r := newUserRig(t)
	st, err := attrcache.New(r.direct, attrcache.WithNamespace(r.ns), attrcache.WithMaxSessions(10_000, attrcache.EndOldest))
	must(t, err)
	ctx := testCtx(t, 60*time.Second)
	uid := "user-" + randHex(6)
	u := st.User(uid)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var logins atomic.Int64
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := st.Start(ctx, u.NewSessionID(), 300*time.Millisecond, attrcache.WithUser(uid)); err != nil {
					t.Errorf("Start: %v", err)
					return
				}
				logins.Add(1)
			}
		})
	}
	const calls = 50
	failed := map[string]int{}
	for range calls {
		time.Sleep(10 * time.Millisecond)
		before, err := redisNow(ctx, r.direct)
		must(t, err)
		if _, err := u.EndSessions(ctx); err != nil {
			failed[short(err)]++
			continue
		}
		for k, s := range rawUserSessions(ctx, t, r.direct, r.ns, uid) {
			if s.live && s.created < before {
				t.Errorf("after EndSessions returned, session %s started %dms before it is live", tail(k), before-s.created)
			}
		}
	}
	close(stop)
	wg.Wait()
	n := 0
	for _, c := range failed {
		n += c
	}
	t.Logf("%d logins; %d of %d EndSessions failed: %v", logins.Load(), n, calls, failed)
	if n > 0 {
		t.Errorf("%d of %d EndSessions failed during logins: %v", n, calls, failed)
	}
}

// TestUserForgetsVanishedSession: a bound session's key that vanishes
// without End (Session.Purge cut short between its DEL and its End, or
// a key Redis evicted) is gone; its registry entry must leave by the
// user's next call, and must not hold a place under the cap.
func TestUserForgetsVanishedSession(t *testing.T) {
	t.Parallel()
	r := newUserRig(t)
	ctx := testCtx(t, 30*time.Second)
	uid := "user-" + randHex(6)
	sids := r.startUser(ctx, t, uid, 2)
	// What Session.Purge's first command does.
	must(t, r.direct.Del(ctx, r.observer.Session(sids[0]).Key()).Err())
	gone := registryCheck(ctx, t, r.direct, r.observer, uid, "after the key vanished")
	t.Logf("Sessions lists %d sessions that are gone", len(gone))
	capped, err := attrcache.New(r.direct, attrcache.WithNamespace(r.ns), attrcache.WithMaxSessions(2, attrcache.RefuseNew))
	must(t, err)
	_, err = capped.Start(ctx, capped.User(uid).NewSessionID(), time.Hour, attrcache.WithUser(uid))
	if errors.Is(err, attrcache.ErrTooManySessions) {
		t.Error("a login with one live session under a cap of 2 is refused: the vanished session holds a place")
	} else {
		must(t, err)
	}
	if gone := registryCheck(ctx, t, r.direct, r.observer, uid, "after the user's next call"); len(gone) > 0 {
		t.Errorf("after the user's next call, Sessions still lists %d sessions whose key is gone", len(gone))
	}
}

// TestUserCapCountsOnlyLiveSessions: a Start with room lists its session
// without reading the registry, so the registry's marker must keep a
// true lower bound of its entries' deadlines. A session that expired,
// whether it was started short or renewed shorter, is forgotten by the
// next Start with room, and frees its place for the next Start at the
// cap.
func TestUserCapCountsOnlyLiveSessions(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 30*time.Second)
	srv := redistest.StartServer(t)
	rdb := srv.Client(t)
	st := newStore(t, rdb, attrcache.WithMaxSessions(3, attrcache.RefuseNew))
	for _, shorten := range []bool{false, true} {
		uid := "capped-" + randHex(6)
		u := st.User(uid)
		start := func(ttl time.Duration) *attrcache.Session {
			t.Helper()
			s, err := st.Start(ctx, u.NewSessionID(), ttl, attrcache.WithUser(uid))
			if err != nil {
				t.Fatalf("shorten=%v: Start: %v", shorten, err)
			}
			return s
		}
		fields := func(s *attrcache.Session) int64 {
			t.Helper()
			n, err := rdb.HLen(ctx, registryOf(s)).Result()
			must(t, err)
			return n
		}
		start(time.Hour)
		if shorten {
			_, err := start(time.Hour).Renew(ctx, 300*time.Millisecond)
			must(t, err)
		} else {
			start(300 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond) // the short session expires
		// Below the cap: the Start with room forgets the dead entry.
		s := start(time.Hour)
		if n := fields(s); n != 3 {
			t.Errorf("shorten=%v: after a session expired and another started, the registry holds %d fields, "+
				"want the marker and the 2 live entries", shorten, n)
		}
		// At the cap: an expired session holds no place.
		short := start(time.Hour)
		if shorten {
			_, err := short.Renew(ctx, 300*time.Millisecond)
			must(t, err)
		} else {
			must(t, short.End(ctx))
			start(300 * time.Millisecond)
		}
		if _, err := st.Start(ctx, u.NewSessionID(), time.Hour, attrcache.WithUser(uid)); !errors.Is(err, attrcache.ErrTooManySessions) {
			t.Fatalf("shorten=%v: a fourth live session under a cap of 3: %v, want ErrTooManySessions", shorten, err)
		}
		time.Sleep(500 * time.Millisecond)
		start(time.Hour)
		refs, err := u.Sessions(ctx)
		must(t, err)
		if len(refs) != 3 {
			t.Errorf("shorten=%v: Sessions lists %d, want the 3 live ones", shorten, len(refs))
		}
		if n := fields(s); n != 4 {
			t.Errorf("shorten=%v: the registry holds %d fields, want the marker and 3 entries", shorten, n)
		}
	}
}

// registryOf is the registry key of a bound session's user: its key
// ns:s:{T}D names the user's tag T, and the registry is ns:r:{T}.
func registryOf(s *attrcache.Session) string {
	k := s.Key()
	i, j := strings.Index(k, ":s:{"), strings.IndexByte(k, '}')
	return k[:i] + ":r:" + k[i+3:j+1]
}

// TestUserCapAfterRenewRelists: a Start with room trusts the count in
// the registry's marker, so every path that lists a session must count
// it. A renewal relists its session when its entry is missing (a
// registry edited by hand, a partial restore): that entry must count,
// or Starts with room would list sessions past the cap.
func TestUserCapAfterRenewRelists(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 30*time.Second)
	srv := redistest.StartServer(t)
	rdb := srv.Client(t)
	st := newStore(t, rdb, attrcache.WithMaxSessions(3, attrcache.RefuseNew))
	uid := "relisted-" + randHex(6)
	u := st.User(uid)
	start := func() (*attrcache.Session, error) {
		return st.Start(ctx, u.NewSessionID(), time.Hour, attrcache.WithUser(uid))
	}
	var s [3]*attrcache.Session
	for i := range s {
		var err error
		s[i], err = start()
		must(t, err)
	}
	reg := registryOf(s[0])
	digest := func(x *attrcache.Session) string { k := x.Key(); return k[strings.IndexByte(k, '}')+1:] }
	// s[1]'s entry goes missing; ending s[2] rewrites the marker with
	// the count of what is left (s[0]).
	must(t, rdb.HDel(ctx, reg, digest(s[1])).Err())
	must(t, s[2].End(ctx))
	if _, err := s[1].Renew(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := rdb.HLen(ctx, reg).Val(); n != 3 {
		t.Fatalf("after the renewal the registry holds %d fields, want the marker and 2 entries", n)
	}
	// Two live sessions: one more fits, the next is refused.
	if _, err := start(); err != nil {
		t.Fatalf("a third session under a cap of 3: %v", err)
	}
	if _, err := start(); !errors.Is(err, attrcache.ErrTooManySessions) {
		t.Fatalf("a fourth live session under a cap of 3: %v, want ErrTooManySessions", err)
	}
	refs, err := u.Sessions(ctx)
	must(t, err)
	if len(refs) != 3 {
		t.Errorf("Sessions lists %d, want 3", len(refs))
	}
}
