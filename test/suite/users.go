package suite

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/attrcache/attrcache/attrcache"
)

// testUsers is the users part of the suite: attributes shared by a user's
// sessions, with the attribute API and semantics of a session, and the
// user's sessions (Sessions, EndSessions, Purge, the cap on sessions).
func testUsers(t *testing.T, b Backend) {
	t.Run("Shared", func(t *testing.T) { testUserShared(t, b) })
	t.Run("Apart", func(t *testing.T) { testUserApart(t, b) })
	t.Run("SameSemantics", func(t *testing.T) { testUserSemantics(t, b) })
	t.Run("SealedApart", func(t *testing.T) { testUserSealedApart(t, b) })
	t.Run("Limits", func(t *testing.T) { testUserLimits(t, b) })
	t.Run("EndSessions", func(t *testing.T) { testEndSessions(t, b) })
	t.Run("Sessions", func(t *testing.T) { testUserSessions(t, b) })
	t.Run("Purge", func(t *testing.T) { testUserPurge(t, b) })
	t.Run("RefuseNew", func(t *testing.T) { testRefuseNew(t, b) })
	t.Run("EndOldest", func(t *testing.T) { testEndOldest(t, b) })
	t.Run("ConcurrentRefuseNew", func(t *testing.T) { testConcurrentStarts(t, b, attrcache.RefuseNew) })
	t.Run("ConcurrentEndOldest", func(t *testing.T) { testConcurrentStarts(t, b, attrcache.EndOldest) })
	t.Run("Tag", func(t *testing.T) { testUserTag(t, b) })
	t.Run("NoUserIDInRedis", func(t *testing.T) { testNoUserIDInRedis(t, b) })
}

// newUID returns a user id that stands out wherever it might leak.
func newUID() string { return "user-" + randHex(8) + "@example.org" }

// startFor starts a session of user uid, with an id from
// User.NewSessionID.
func startFor(t *testing.T, st *attrcache.Store, uid string, ttl time.Duration, opts ...attrcache.StartOption) *attrcache.Session {
	t.Helper()
	s, err := st.Start(ctx, st.User(uid).NewSessionID(), ttl, append(opts, attrcache.WithUser(uid))...)
	if err != nil {
		t.Fatalf("Start WithUser: %v", err)
	}
	return s
}

// listed returns the keys of the sessions User.Sessions lists, oldest
// first, and the refs.
func listed(t *testing.T, u *attrcache.User) ([]string, []attrcache.SessionRef) {
	t.Helper()
	refs, err := u.Sessions(ctx)
	if err != nil {
		t.Fatalf("Sessions: %v", err)
	}
	keys := make([]string, len(refs))
	for i, r := range refs {
		keys[i] = r.Session.Key()
	}
	return keys, refs
}

// wantListed checks that Sessions lists exactly the given sessions, in
// this order (oldest first).
func wantListed(t *testing.T, what string, u *attrcache.User, want ...*attrcache.Session) []attrcache.SessionRef {
	t.Helper()
	got, refs := listed(t, u)
	wk := make([]string, len(want))
	for i, s := range want {
		wk[i] = s.Key()
	}
	if !slices.Equal(got, wk) {
		t.Fatalf("%s: Sessions lists %d sessions %v, want %d %v", what, len(got), shortKeys(got), len(wk), shortKeys(wk))
	}
	return refs
}

// shortKeys shortens session keys to their last characters, for messages.
func shortKeys(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k[max(0, len(k)-8):]
	}
	return out
}

// wantEnded checks that every call on each session fails as on an ended
// session.
func wantEnded(t *testing.T, what string, ss ...*attrcache.Session) {
	t.Helper()
	for _, s := range ss {
		if _, err := s.TTL(ctx); !errors.Is(err, attrcache.ErrSessionNotFound) {
			t.Fatalf("%s: TTL of session %s: %v, want ErrSessionNotFound", what, s.ID(), err)
		}
	}
}

// wantLive checks that each session answers.
func wantLive(t *testing.T, what string, ss ...*attrcache.Session) {
	t.Helper()
	for _, s := range ss {
		if _, err := s.TTL(ctx); err != nil {
			t.Fatalf("%s: TTL of session %s: %v, want a live session", what, s.ID(), err)
		}
	}
}

// testUserShared: a user's attributes are one set, seen from every
// session of the user and from Store.User, and they outlive the
// sessions.
func testUserShared(t *testing.T, b Backend) {
	st := newStore(t, b.Client)
	uid := newUID()
	s1 := startFor(t, st, uid, time.Hour)
	s2 := startFor(t, st, uid, time.Hour)
	u1, ok1 := s1.User()
	u2, ok2 := s2.User()
	if !ok1 || !ok2 {
		t.Fatal("a session started WithUser has no User")
	}
	u := st.User(uid)
	if u1.Key() != u.Key() || u2.Key() != u.Key() || u1.ID() != u.ID() {
		t.Fatal("Session.User and Store.User are different users")
	}
	if _, ok := start(t, st, time.Hour).User(); ok {
		t.Fatal("an unbound session has a User")
	}

	must(t, u1.Set(ctx, "theme", v("dark")))
	must(t, u2.Create(ctx, "lang", v("fr")))
	for _, h := range []*attrcache.User{u, u1, u2} {
		all, err := h.GetAll(ctx)
		must(t, err)
		if len(all) != 2 || string(all["theme"].Value) != "dark" || string(all["lang"].Value) != "fr" {
			t.Fatalf("a user seen from one handle holds %v", all)
		}
	}
	// A write from one session is read from the other at once.
	must(t, u2.Update(ctx, "theme", v("light")))
	if e, err := u1.Get(ctx, "theme"); err != nil || string(e.Value) != "light" {
		t.Fatalf("Get from the other session after Update: %v, %v", e, err)
	}
	n, err := u1.Incr(ctx, "logins", 1)
	must(t, err)
	n2, err := u2.Incr(ctx, "logins", 1)
	must(t, err)
	if n != 1 || n2 != 2 {
		t.Fatalf("Incr from two sessions gave %d then %d, want 1 then 2", n, n2)
	}

	must(t, s1.End(ctx))
	must(t, s2.End(ctx))
	wantEnded(t, "after End", s1, s2)
	// The user's attributes outlive its sessions; the ended sessions'
	// handles still lead to them.
	for _, h := range []*attrcache.User{u, u1, u2} {
		names, err := h.Names(ctx)
		must(t, err)
		if !slices.Equal(names, []string{"lang", "logins", "theme"}) {
			t.Fatalf("after both sessions ended, the user holds %q", names)
		}
	}
	if ttl := b.Client.PTTL(ctx, u.Key()).Val(); ttl != -1 {
		t.Fatalf("the user's hash, holding attributes without expiry, has TTL %v, want none", ttl)
	}
	// A new session of the user sees them.
	s3 := startFor(t, st, uid, time.Hour)
	u3, _ := s3.User()
	if e, err := u3.Get(ctx, "lang"); err != nil || string(e.Value) != "fr" {
		t.Fatalf("a new session of the user reads %v, %v", e, err)
	}
}

// testUserApart: a session's attributes and its user's are two sets,
// even under one name.
func testUserApart(t *testing.T, b Backend) {
	st := newStore(t, b.Client)
	uid := newUID()
	s := startFor(t, st, uid, time.Hour)
	u, _ := s.User()
	if s.Key() == u.Key() {
		t.Fatal("a session and its user share a key")
	}
	must(t, s.Create(ctx, "role", v("session")))
	must(t, u.Create(ctx, "role", v("user")))
	wantValue(t, s, "role", "session")
	if e, err := u.Get(ctx, "role"); err != nil || string(e.Value) != "user" {
		t.Fatalf("the user's role: %v, %v", e, err)
	}
	must(t, s.Create(ctx, "only-session", v("1")))
	must(t, u.Create(ctx, "only-user", v("1")))
	if _, err := u.Get(ctx, "only-session"); !errors.Is(err, attrcache.ErrNotFound) {
		t.Fatalf("a session attribute read through the user: %v, want ErrNotFound", err)
	}
	wantAbsent(t, s, "only-user")
	sn, err := s.Names(ctx)
	must(t, err)
	un, err := u.Names(ctx)
	must(t, err)
	if !slices.Equal(sn, []string{"only-session", "role"}) || !slices.Equal(un, []string{"only-user", "role"}) {
		t.Fatalf("session names %q, user names %q", sn, un)
	}
	// Deleting or replacing one leaves the other.
	must(t, u.Delete(ctx, "role"))
	wantValue(t, s, "role", "session")
	must(t, u.Create(ctx, "role", v("user again")))
	must(t, s.Set(ctx, "role", v("session 2")))
	if e, err := u.Get(ctx, "role"); err != nil || string(e.Value) != "user again" {
		t.Fatalf("the user's role after the session's Set: %v, %v", e, err)
	}
	// Ending the session takes its attributes, not the user's.
	must(t, s.End(ctx))
	if e, err := u.Get(ctx, "role"); err != nil || string(e.Value) != "user again" {
		t.Fatalf("the user's role after the session ended: %v, %v", e, err)
	}
}
