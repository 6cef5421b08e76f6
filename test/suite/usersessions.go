package suite

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/internal/format"
)

// testUserSealedApart: a user's sealed values are bound to the user: a
// ciphertext copied between a user and a session, or between two users,
// does not open.
func testUserSealedApart(t *testing.T, b Backend) {
	st := newStore(t, b.Client, attrcache.WithCipher(b.cipher(t)))
	uid := newUID()
	s := startFor(t, st, uid, time.Hour)
	u, _ := s.User()
	other := st.User(newUID())
	must(t, u.Create(ctx, "k", v("user secret"), attrcache.WithEncryption()))
	must(t, s.Create(ctx, "k", v("session secret"), attrcache.WithEncryption()))
	ur := b.Client.HGet(ctx, u.Key(), "k").Val()
	sr := b.Client.HGet(ctx, s.Key(), "k").Val()
	must(t, b.Client.HSet(ctx, s.Key(), "from-user", ur).Err())
	must(t, b.Client.HSet(ctx, u.Key(), "from-session", sr).Err())
	must(t, other.Create(ctx, "seed", v("1"))) // the other user's hash exists
	must(t, b.Client.HSet(ctx, other.Key(), "k", ur).Err())
	// Records carry times relative to their hash's creation, so a copied
	// record may read as expired or corrupt elsewhere; what matters is
	// that it never opens.
	for _, c := range []struct {
		what string
		h    attrOwner
		name string
	}{{"a user's ciphertext in its session", s, "from-user"}, {"a session's ciphertext in its user", u, "from-session"}, {"a user's ciphertext in another user", other, "k"}} {
		e, err := c.h.Get(ctx, c.name)
		if err == nil || e != nil {
			t.Fatalf("%s opened", c.what)
		}
		if !errors.Is(err, attrcache.ErrDecrypt) && !errors.Is(err, attrcache.ErrNotFound) && !errors.Is(err, attrcache.ErrCorrupt) {
			t.Fatalf("%s: %v", c.what, err)
		}
	}
}

// testUserLimits: the per-session limits bound a user as they bound a
// session.
func testUserLimits(t *testing.T, b Backend) {
	st := newStore(t, b.Client, attrcache.WithLimits(attrcache.Limits{MaxAttributes: 3, MaxSessionBytes: 200}))
	for _, h := range []attrOwner{start(t, st, time.Hour), st.User(newUID())} {
		must(t, h.CreateMany(ctx, []attrcache.Attr{{Name: "a", Value: v("1")}, {Name: "b", Value: v("2")}}))
		before := snapshot(t, b, h.Key())
		wantErr(t, "CreateMany past MaxAttributes", h.CreateMany(ctx, []attrcache.Attr{{Name: "c", Value: v("3")}, {Name: "d", Value: v("4")}}), attrcache.ErrTooManyAttributes)
		wantErr(t, "Set past MaxSessionBytes", h.Set(ctx, "c", v(strings.Repeat("x", 195))), attrcache.ErrTooBig)
		sameSnapshot(t, "writes past the limits", before, snapshot(t, b, h.Key()))
		must(t, h.Create(ctx, "c", v("3")))
		wantErr(t, "Create past MaxAttributes", h.Create(ctx, "d", v("4")), attrcache.ErrTooManyAttributes)
		must(t, h.Delete(ctx, "a"))
		must(t, h.Create(ctx, "d", v("4")))
	}
}

// testEndSessions: log out everywhere, and everywhere but here; the
// count is of the sessions ended, other users' sessions are untouched,
// and the user's attributes stay.
func testEndSessions(t *testing.T, b Backend) {
	st := newStore(t, b.Client)
	uid := newUID()
	u := st.User(uid)
	must(t, u.Set(ctx, "theme", v("dark")))
	here := startFor(t, st, uid, time.Hour)
	others := []*attrcache.Session{startFor(t, st, uid, time.Hour), startFor(t, st, uid, time.Hour), startFor(t, st, uid, time.Hour)}
	gone := startFor(t, st, uid, time.Hour)
	must(t, gone.End(ctx))
	short := startFor(t, st, uid, 150*time.Millisecond)
	otherUID := newUID()
	stranger := startFor(t, st, otherUID, time.Hour)
	unbound := start(t, st, time.Hour)
	b.Advance(250 * time.Millisecond)
	wantEnded(t, "a short session after its ttl", short)

	// Everywhere but here: here, another user's session and an unbound
	// one given as exceptions change nothing but keep here.
	n, err := u.EndSessions(ctx, here, stranger, nil, unbound)
	must(t, err)
	if n != len(others) {
		t.Fatalf("EndSessions(except here) ended %d sessions, want %d (not the ended or expired ones)", n, len(others))
	}
	wantEnded(t, "after EndSessions(except here)", others...)
	wantLive(t, "after EndSessions(except here)", here, stranger, unbound)
	wantListed(t, "after EndSessions(except here)", u, here)
	wantListed(t, "another user", st.User(otherUID), stranger)
	if e, err := u.Get(ctx, "theme"); err != nil || string(e.Value) != "dark" {
		t.Fatalf("the user's attribute after EndSessions: %v, %v", e, err)
	}

	// A session of another user given as the exception does not save
	// this user's sessions.
	n, err = u.EndSessions(ctx, stranger)
	must(t, err)
	if n != 1 {
		t.Fatalf("EndSessions(except another user's session) ended %d, want 1", n)
	}
	wantEnded(t, "after EndSessions", here)
	wantLive(t, "another user's session", stranger)
	wantListed(t, "after EndSessions", u)

	n, err = u.EndSessions(ctx)
	must(t, err)
	if n != 0 {
		t.Fatalf("EndSessions of a user with no session ended %d", n)
	}
	n, err = st.User(newUID()).EndSessions(ctx)
	must(t, err)
	if n != 0 {
		t.Fatalf("EndSessions of a user never seen ended %d", n)
	}
	// The user can log in again.
	again := startFor(t, st, uid, time.Hour)
	wantListed(t, "a new login", u, again)
	n, err = u.EndSessions(ctx, again)
	must(t, err)
	if n != 0 {
		t.Fatalf("EndSessions(except the only session) ended %d", n)
	}
	wantLive(t, "the excepted only session", again)
	_, err = st.User("").EndSessions(ctx)
	wantErr(t, "EndSessions of an empty user id", err, attrcache.ErrInvalid)
}

// testUserSessions: Sessions lists the live sessions, oldest first, with
// their times, and follows expiry, End, Rotate and Renew.
func testUserSessions(t *testing.T, b Backend) {
	st := newStore(t, b.Client)
	uid := newUID()
	u := st.User(uid)
	wantListed(t, "a user never seen", u)
	s1 := startFor(t, st, uid, time.Hour)
	b.Advance(5 * time.Millisecond)
	s2 := startFor(t, st, uid, 250*time.Millisecond)
	b.Advance(5 * time.Millisecond)
	s3 := startFor(t, st, uid, time.Hour, attrcache.WithMaxLifetime(90*time.Minute))
	refs := wantListed(t, "three logins", u, s1, s2, s3)
	for i, s := range []*attrcache.Session{s1, s2, s3} {
		exp, _ := s.Expiry()
		r := refs[i]
		if !r.Expires.Equal(exp) || r.Created.IsZero() || !r.Created.Before(r.Expires) || r.Session.ID() != s.ID() {
			t.Fatalf("ref %d: created %v, expires %v, id %s; the session expires %v, id %s", i, r.Created, r.Expires, r.Session.ID(), exp, s.ID())
		}
		if ru, ok := r.Session.User(); !ok || ru.Key() != u.Key() {
			t.Fatal("a listed session does not lead to its user")
		}
	}
	// A ref's session is the session: read it, write it.
	must(t, s3.Set(ctx, "device", v("laptop")))
	wantValue(t, refs[2].Session, "device", "laptop")

	// Expiry.
	b.Advance(350 * time.Millisecond)
	wantListed(t, "after a session's ttl", u, s1, s3)

	// Renew: Expires follows, in both directions.
	exp, err := s1.Renew(ctx, 3*time.Hour)
	must(t, err)
	refs = wantListed(t, "after Renew", u, s1, s3)
	if !refs[0].Expires.Equal(exp) {
		t.Fatalf("after Renew to %v, Sessions says it expires %v", exp, refs[0].Expires)
	}
	exp, err = s1.Renew(ctx, 30*time.Minute)
	must(t, err)
	refs = wantListed(t, "after a shorter Renew", u, s1, s3)
	if !refs[0].Expires.Equal(exp) {
		t.Fatalf("after Renew to %v, Sessions says it expires %v", exp, refs[0].Expires)
	}
	exp3, err := s3.Renew(ctx, 10*time.Hour)
	must(t, err)
	refs = wantListed(t, "after a Renew cut by the lifetime", u, s1, s3)
	if !refs[1].Expires.Equal(exp3) || refs[1].Expires.Sub(refs[1].Created) > 90*time.Minute {
		t.Fatalf("after Renew to %v (lifetime 90m), Sessions says %v to %v", exp3, refs[1].Created, refs[1].Expires)
	}

	// Rotate: the new id takes the old one's place, with its times.
	created1, exp1 := refs[0].Created, refs[0].Expires
	ns1, err := s1.Rotate(ctx, s1.NewID())
	must(t, err)
	refs = wantListed(t, "after Rotate", u, ns1, s3)
	if !refs[0].Created.Equal(created1) || !refs[0].Expires.Equal(exp1) {
		t.Fatalf("the rotated session is listed from %v to %v, it was %v to %v", refs[0].Created, refs[0].Expires, created1, exp1)
	}
	if nu, ok := ns1.User(); !ok || nu.Key() != u.Key() {
		t.Fatal("the rotated session left its user")
	}
	_, err = ns1.Rotate(ctx, attrcache.NewSessionID())
	wantErr(t, "Rotate of a bound session to an unbound id", err, attrcache.ErrInvalid)
	_, err = ns1.Rotate(ctx, st.User(newUID()).NewSessionID())
	wantErr(t, "Rotate of a bound session to another user's id", err, attrcache.ErrInvalid)
	wantListed(t, "after refused Rotates", u, ns1, s3)

	// End, through the ref's handle.
	must(t, refs[1].Session.End(ctx))
	wantEnded(t, "a session ended through its ref", s3)
	wantListed(t, "after End", u, ns1)
	// End with the id Rotate moved away from ends the new one too.
	must(t, s1.End(ctx))
	wantEnded(t, "End with the old id of a rotation", ns1)
	wantListed(t, "after End with the old id", u)
	_, err = st.User("").Sessions(ctx)
	wantErr(t, "Sessions of an empty user id", err, attrcache.ErrInvalid)
}

// testUserPurge: Purge leaves no session and no attribute of the user;
// other users keep theirs.
func testUserPurge(t *testing.T, b Backend) {
	st := newStore(t, b.Client)
	uid := newUID()
	u := st.User(uid)
	ss := []*attrcache.Session{startFor(t, st, uid, time.Hour), startFor(t, st, uid, time.Hour)}
	must(t, ss[0].Create(ctx, "sa", v("1")))
	must(t, u.CreateMany(ctx, []attrcache.Attr{{Name: "a", Value: v("1")}, {Name: "b", Value: v("2"), Options: []attrcache.WriteOption{attrcache.WithExpiration(time.Minute)}}}))
	otherUID := newUID()
	other := startFor(t, st, otherUID, time.Hour)
	must(t, st.User(otherUID).Set(ctx, "a", v("theirs")))

	must(t, u.Purge(ctx))
	wantEnded(t, "after Purge", ss...)
	wantListed(t, "after Purge", u)
	names, err := u.Names(ctx)
	must(t, err)
	if len(names) != 0 {
		t.Fatalf("the user holds %q after Purge", names)
	}
	// In Redis: no user hash, no registry, no attribute in any session
	// key (an ended session's key keeps its tombstone a while).
	if n := b.Client.Exists(ctx, u.Key()).Val(); n != 0 {
		t.Fatal("Purge left the user's hash")
	}
	for _, k := range userSessionKeys(t, b, u) {
		for f := range snapshot(t, b, k) {
			if f[0] >= 0x20 {
				t.Fatalf("after Purge a session key of the user holds field %q", f)
			}
		}
	}
	if n := b.Client.Exists(ctx, strings.Replace(u.Key(), ":u:{", ":r:{", 1)).Val(); n != 0 {
		t.Fatal("Purge left the user's registry")
	}
	wantLive(t, "another user's session", other)
	if e, err := st.User(otherUID).Get(ctx, "a"); err != nil || string(e.Value) != "theirs" {
		t.Fatalf("another user's attribute after Purge: %v, %v", e, err)
	}
	must(t, u.Purge(ctx)) // nothing left: no error
	// The user starts again from nothing.
	s := startFor(t, st, uid, time.Hour)
	wantListed(t, "a login after Purge", u, s)
	must(t, u.Create(ctx, "a", v("new")))
	wantErr(t, "Purge of an empty user id", st.User("").Purge(ctx), attrcache.ErrInvalid)
}

// userSessionKeys lists, with SCAN, every session key in the user's
// slot: what Redis holds, whatever the registry says.
func userSessionKeys(t *testing.T, b Backend, u *attrcache.User) []string {
	t.Helper()
	pattern := strings.Replace(u.Key(), ":u:{", ":s:{", 1) + "*"
	var keys []string
	iter := nodeFor(t, b, u.Key()).Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	must(t, iter.Err())
	return keys
}

// liveInRedis counts the sessions of the user that Redis holds live:
// their markers, read raw, say live (or frozen and readable) at now.
func liveInRedis(t *testing.T, b Backend, u *attrcache.User) []string {
	t.Helper()
	now := serverNow(t, b, u.Key())
	var live []string
	for _, k := range userSessionKeys(t, b, u) {
		m, err := b.Client.HGet(ctx, k, format.MarkerField).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		must(t, err)
		mk, err := format.ParseMarker(m)
		must(t, err)
		if mk.Readable(now) {
			live = append(live, k)
		}
	}
	slices.Sort(live)
	return live
}

// serverNow is the clock of the server that holds key, ms.
func serverNow(t *testing.T, b Backend, key string) int64 {
	t.Helper()
	tm, err := nodeFor(t, b, key).Time(ctx).Result()
	must(t, err)
	return tm.UnixMilli()
}

// nodeFor is the server that holds key: its master on a Cluster, else
// b.Client.
func nodeFor(t *testing.T, b Backend, key string) redis.Cmdable {
	t.Helper()
	cc, ok := b.Client.(*redis.ClusterClient)
	if !ok {
		return b.Client
	}
	m, err := cc.MasterForKey(ctx, key)
	must(t, err)
	return m
}
