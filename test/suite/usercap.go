package suite

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
)

// testRefuseNew: past the cap, RefuseNew refuses the Start and writes
// nothing; an ended or expired session makes room.
func testRefuseNew(t *testing.T, b Backend) {
	st := newStore(t, b.Client, attrcache.WithMaxSessions(2, attrcache.RefuseNew))
	uid := newUID()
	u := st.User(uid)
	s1 := startFor(t, st, uid, time.Hour)
	b.Advance(5 * time.Millisecond) // Sessions orders by start, to the millisecond
	s2 := startFor(t, st, uid, 200*time.Millisecond)
	sid := u.NewSessionID()
	_, err := st.Start(ctx, sid, time.Hour, attrcache.WithUser(uid), attrcache.WithAttrs(attrcache.Attr{Name: "a", Value: v("1")}))
	wantErr(t, "Start past the cap", err, attrcache.ErrTooManySessions)
	if n := b.Client.Exists(ctx, st.Session(sid).Key()).Val(); n != 0 {
		t.Fatal("a refused Start wrote its session")
	}
	wantListed(t, "after a refused Start", u, s1, s2)
	wantLive(t, "after a refused Start", s1, s2)
	// Unbound sessions and other users do not count.
	start(t, st, time.Hour)
	startFor(t, st, newUID(), time.Hour)
	// An expired session makes room.
	b.Advance(300 * time.Millisecond)
	s3 := startFor(t, st, uid, time.Hour)
	_, err = st.Start(ctx, u.NewSessionID(), time.Hour, attrcache.WithUser(uid))
	wantErr(t, "Start past the cap", err, attrcache.ErrTooManySessions)
	// So does an ended one, and a rotation does not add one.
	must(t, s1.End(ctx))
	b.Advance(5 * time.Millisecond)
	s4 := startFor(t, st, uid, time.Hour)
	ns3, err := s3.Rotate(ctx, s3.NewID())
	must(t, err)
	wantListed(t, "at the cap after a Rotate", u, ns3, s4)
	_, err = st.Start(ctx, u.NewSessionID(), time.Hour, attrcache.WithUser(uid))
	wantErr(t, "Start past the cap after a Rotate", err, attrcache.ErrTooManySessions)

	for _, n := range []int{0, -1, 10_001} {
		if _, err := attrcache.New(b.Client, attrcache.WithMaxSessions(n, attrcache.RefuseNew)); !errors.Is(err, attrcache.ErrInvalid) {
			t.Fatalf("WithMaxSessions(%d): %v, want ErrInvalid", n, err)
		}
	}
	if _, err := attrcache.New(b.Client, attrcache.WithMaxSessions(3, 0)); !errors.Is(err, attrcache.ErrInvalid) {
		t.Fatalf("WithMaxSessions with no policy: %v, want ErrInvalid", err)
	}
}

// testEndOldest: past the cap, EndOldest ends the oldest live sessions
// (by start time) to make room.
func testEndOldest(t *testing.T, b Backend) {
	st := newStore(t, b.Client, attrcache.WithMaxSessions(2, attrcache.EndOldest))
	uid := newUID()
	u := st.User(uid)
	s1 := startFor(t, st, uid, time.Hour)
	b.Advance(5 * time.Millisecond)
	s2 := startFor(t, st, uid, time.Hour)
	b.Advance(5 * time.Millisecond)
	must(t, s1.Create(ctx, "a", v("1")))
	s3 := startFor(t, st, uid, time.Hour)
	wantEnded(t, "the oldest session past the cap", s1)
	wantLive(t, "the newer sessions", s2, s3)
	wantListed(t, "past the cap", u, s2, s3)
	// A renewal does not make a session younger; a rotation keeps its
	// start time.
	_, err := s2.Renew(ctx, 2*time.Hour)
	must(t, err)
	ns2, err := s2.Rotate(ctx, s2.NewID())
	must(t, err)
	b.Advance(5 * time.Millisecond)
	s4 := startFor(t, st, uid, time.Hour)
	wantEnded(t, "the oldest session, renewed and rotated", ns2)
	wantListed(t, "past the cap again", u, s3, s4)
	// Start with its first attributes at the cap.
	b.Advance(5 * time.Millisecond)
	s5 := startFor(t, st, uid, time.Hour, attrcache.WithAttrs(attrcache.Attr{Name: "a", Value: v("1")}))
	wantValue(t, s5, "a", "1")
	wantEnded(t, "past the cap with WithAttrs", s3)
	wantListed(t, "past the cap with WithAttrs", u, s4, s5)
	// The default cap is 100 sessions, EndOldest.
	const defaultMaxSessions = 100
	def := newStore(t, b.Client)
	duid := newUID()
	first := startFor(t, def, duid, time.Hour)
	b.Advance(5 * time.Millisecond)
	for range defaultMaxSessions {
		startFor(t, def, duid, time.Hour)
	}
	wantEnded(t, "the first of 101 sessions", first)
	if keys, _ := listed(t, def.User(duid)); len(keys) != defaultMaxSessions {
		t.Fatalf("a user with the default cap has %d sessions, want %d", len(keys), defaultMaxSessions)
	}
}

// testConcurrentStarts starts 50 sessions of one user at once under a
// cap of 5. RefuseNew: exactly 5 succeed, the rest fail with
// ErrTooManySessions. EndOldest: every Start succeeds, 5 are live at the
// end, the 5 latest, and Sessions lists exactly those.
func testConcurrentStarts(t *testing.T, b Backend, policy attrcache.SessionPolicy) {
	const n, capN = 50, 5
	// Fifty logins racing for five places retry their scripts: on a
	// loaded machine under -race they can outlast the default 1 s call
	// timeout, and a Start that ran but answered after its deadline
	// counts as failed while its session lives. The test is about the
	// cap, so calls get time.
	st := newStore(t, b.Client, attrcache.WithMaxSessions(capN, policy), attrcache.WithCallTimeout(10*time.Second))
	uid := newUID()
	u := st.User(uid)
	sess := make([]*attrcache.Session, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-gate
			sess[i], errs[i] = st.Start(ctx, u.NewSessionID(), time.Hour, attrcache.WithUser(uid))
		})
	}
	close(gate)
	wg.Wait()
	var started []*attrcache.Session
	refused := 0
	failed := map[string]int{}
	for i, err := range errs {
		switch {
		case err == nil:
			started = append(started, sess[i])
		case policy == attrcache.RefuseNew && errors.Is(err, attrcache.ErrTooManySessions):
			refused++
		default:
			failed[err.Error()]++
		}
	}
	for msg, k := range failed {
		t.Errorf("%d of %d Starts failed with: %s", k, n, msg)
	}
	var live []*attrcache.Session
	for _, s := range started {
		_, err := s.TTL(ctx)
		switch {
		case err == nil:
			live = append(live, s)
		case !errors.Is(err, attrcache.ErrSessionNotFound):
			t.Fatalf("TTL: %v", err)
		}
	}
	t.Logf("%d Starts: %d succeeded, %d refused, %d live at the end", n, len(started), refused, len(live))
	switch policy {
	case attrcache.RefuseNew:
		if len(started) != capN || refused != n-capN {
			t.Errorf("RefuseNew: %d Starts succeeded and %d were refused, want %d and %d", len(started), refused, capN, n-capN)
		}
	case attrcache.EndOldest:
		if len(started) != n {
			t.Errorf("EndOldest: %d of %d Starts succeeded, want all", len(started), n)
		}
	}
	if len(live) != capN {
		t.Fatalf("%d sessions live at the end, want %d", len(live), capN)
	}
	keys, _ := listed(t, u)
	var want []string
	for _, s := range live {
		want = append(want, s.Key())
	}
	slices.Sort(want)
	slices.Sort(keys)
	if !slices.Equal(keys, want) {
		t.Fatalf("Sessions lists %v, the live sessions are %v", shortKeys(keys), shortKeys(want))
	}
	if raw := liveInRedis(t, b, u); !slices.Equal(raw, want) {
		t.Fatalf("Redis holds %d live sessions of the user %v, the live handles are %v", len(raw), shortKeys(raw), shortKeys(want))
	}
}

// testUserTag: a session WithUser needs an id with the user's tag, and an
// id with a tag needs WithUser; refused Starts write nothing.
func testUserTag(t *testing.T, b Backend) {
	st := newStore(t, b.Client)
	uid := newUID()
	u := st.User(uid)
	id := u.NewSessionID()
	if len(id) != 60 || id[43] != '.' || !attrcache.ValidSessionID(id[:43]) || !attrcache.ValidSessionID(id) {
		t.Fatalf("User.NewSessionID made an id of %d bytes", len(id))
	}
	if other := u.NewSessionID(); other == id || other[43:] != id[43:] {
		t.Fatal("two ids of one user do not share the tag, or are equal")
	}
	for _, c := range []struct {
		what string
		sid  string
		opts []attrcache.StartOption
	}{
		{"an unbound id WithUser", attrcache.NewSessionID(), []attrcache.StartOption{attrcache.WithUser(uid)}},
		{"another user's id WithUser", st.User(newUID()).NewSessionID(), []attrcache.StartOption{attrcache.WithUser(uid)}},
		{"an id with a made-up tag", attrcache.NewSessionID() + ".AAAAAAAAAAAAAAAA", []attrcache.StartOption{attrcache.WithUser(uid)}},
		{"an id with the tag but no dot", strings.Replace(u.NewSessionID(), ".", "", 1), []attrcache.StartOption{attrcache.WithUser(uid)}},
		{"a user's id without WithUser", u.NewSessionID(), nil},
		{"an empty user id", u.NewSessionID(), []attrcache.StartOption{attrcache.WithUser("")}},
		{"a user id over MaxIDBytes", u.NewSessionID(), []attrcache.StartOption{attrcache.WithUser(strings.Repeat("u", attrcache.MaxIDBytes+1))}},
	} {
		_, err := st.Start(ctx, c.sid, time.Hour, c.opts...)
		wantErr(t, "Start with "+c.what, err, attrcache.ErrInvalid)
		if strings.Contains(err.Error(), uid) || strings.Contains(err.Error(), c.sid) {
			t.Fatalf("Start with %s: the error names the user or session id: %v", c.what, err)
		}
		if n := b.Client.Exists(ctx, st.Session(c.sid).Key()).Val(); n != 0 {
			t.Fatalf("Start with %s wrote the session", c.what)
		}
	}
	wantListed(t, "after refused Starts", u)
	if n := b.Client.Exists(ctx, strings.Replace(u.Key(), ":u:{", ":r:{", 1)).Val(); n != 0 {
		t.Fatal("refused Starts wrote the user's registry")
	}
	// A user id at MaxIDBytes works.
	long := strings.Repeat("u", attrcache.MaxIDBytes)
	startFor(t, st, long, time.Hour)
	_, err := st.User(long + "u").Names(ctx)
	wantErr(t, "a user id over MaxIDBytes", err, attrcache.ErrInvalid)
}

// testNoUserIDInRedis does everything a user can, then reads every key of
// the namespace raw: no key, field or value holds the user id, in clear
// or in the usual encodings; and every key of the user sits in one slot.
func testNoUserIDInRedis(t *testing.T, b Backend) {
	st := newStore(t, b.Client, attrcache.WithCipher(b.cipher(t)), attrcache.WithMaxSessions(2, attrcache.EndOldest))
	uid := "uid-" + randHex(6) + "-Ünïcode@example.org"
	u := st.User(uid)
	s1 := startFor(t, st, uid, time.Hour, attrcache.WithAttrs(attrcache.Attr{Name: "a", Value: v("1")}))
	b.Advance(5 * time.Millisecond)
	s2 := startFor(t, st, uid, time.Hour)
	must(t, u.Set(ctx, "sealed", v("x"), attrcache.WithEncryption()))
	_, err := u.Incr(ctx, "n", 1)
	must(t, err)
	ns2, err := s2.Rotate(ctx, s2.NewID())
	must(t, err)
	_, err = ns2.Renew(ctx, 2*time.Hour)
	must(t, err)
	startFor(t, st, uid, time.Hour) // ends s1, the oldest
	wantEnded(t, "the oldest", s1)
	_, err = u.Sessions(ctx)
	must(t, err)
	_, err = st.Start(ctx, u.NewSessionID(), time.Hour, attrcache.WithUser(uid+"x"))
	if err == nil || strings.Contains(err.Error(), uid) {
		t.Fatalf("a Start with the wrong user: %v", err)
	}

	forms := []string{uid, strings.ToLower(uid), hex.EncodeToString(v(uid)), base64.StdEncoding.EncodeToString(v(uid)),
		base64.RawURLEncoding.EncodeToString(v(uid)), uid[4:16]}
	var keys []string
	scan := func(node redis.Cmdable) {
		iter := node.Scan(ctx, 0, st.Namespace()+":*", 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		must(t, iter.Err())
	}
	if cc, ok := b.Client.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		must(t, cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			scan(m)
			return nil
		}))
	} else {
		scan(b.Client)
	}
	if len(keys) < 5 {
		t.Fatalf("the namespace holds %d keys, want the user's hash, registry, overflow and sessions", len(keys))
	}
	tag := u.Key()[strings.Index(u.Key(), "{"):]
	for _, k := range keys {
		var content []string
		switch typ := b.Client.Type(ctx, k).Val(); typ {
		case "hash":
			for f, val := range b.Client.HGetAll(ctx, k).Val() {
				content = append(content, f, val)
			}
		case "zset":
			content = b.Client.ZRange(ctx, k, 0, -1).Val()
		default:
			t.Fatalf("key %s is a %s", k, typ)
		}
		for _, f := range forms {
			if strings.Contains(k, f) {
				t.Fatalf("key %s holds the user id", k)
			}
			for _, c := range content {
				if strings.Contains(c, f) {
					t.Fatalf("key %s holds the user id", k)
				}
			}
		}
		// Every key here is the user's: one hash tag, one slot.
		if !strings.Contains(k, tag) {
			t.Fatalf("key %s is not in the user's slot %s", k, tag)
		}
	}
}
