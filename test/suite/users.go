package suite

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/internal/format"
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

// attrOwner is the attribute API that Session and User share: the same
// scenario runs on both.
type attrOwner interface {
	attrcache.Attributes
	CreateMany(ctx context.Context, attrs []attrcache.Attr, defaults ...attrcache.WriteOption) error
	SetMany(ctx context.Context, attrs []attrcache.Attr, defaults ...attrcache.WriteOption) error
	UpdateMany(ctx context.Context, attrs []attrcache.Attr, defaults ...attrcache.WriteOption) error
	Incr(ctx context.Context, name string, delta int64, opts ...attrcache.WriteOption) (int64, error)
	GetMany(ctx context.Context, names []string, opts ...attrcache.ReadOption) (map[string]*attrcache.Entry, error)
	GetAll(ctx context.Context, opts ...attrcache.ReadOption) (map[string]*attrcache.Entry, error)
	Exists(ctx context.Context, name string) (bool, error)
	ExistsMany(ctx context.Context, names []string) (map[string]bool, error)
	Names(ctx context.Context) ([]string, error)
	Delete(ctx context.Context, name string) error
	DeleteMany(ctx context.Context, names []string) error
	SetExpiry(ctx context.Context, name string, d time.Duration) error
	SetExpiryMany(ctx context.Context, expiries map[string]time.Duration) error
	Key() string
}

var (
	_ attrOwner = (*attrcache.Session)(nil)
	_ attrOwner = (*attrcache.User)(nil)
)

// outcome names an error by its sentinel and, for a *NamesError, the
// names it carries: what a caller can tell apart.
func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	s := "unexpected error"
	for _, x := range []struct {
		name string
		err  error
	}{
		{"ErrDecrypt", attrcache.ErrDecrypt}, {"ErrExists", attrcache.ErrExists},
		{"ErrNotFound", attrcache.ErrNotFound}, {"ErrInvalid", attrcache.ErrInvalid},
		{"ErrNoCipher", attrcache.ErrNoCipher}, {"ErrCorrupt", attrcache.ErrCorrupt},
		{"ErrTooManyAttributes", attrcache.ErrTooManyAttributes}, {"ErrTooBig", attrcache.ErrTooBig},
		{"ErrSessionNotFound", attrcache.ErrSessionNotFound}, {"ErrUnavailable", attrcache.ErrUnavailable},
	} {
		if errors.Is(err, x.err) {
			s = x.name
			break
		}
	}
	var ne *attrcache.NamesError
	if errors.As(err, &ne) {
		s += fmt.Sprintf("%q", ne.Names)
	}
	return s
}

// scenario records what each step of attrScenario returned, and checks
// the error of each against what the semantics table says.
type scenario struct {
	t     *testing.T
	lines []string
}

// check records and checks a rule about what a step returned.
func (sc *scenario) check(what string, ok bool) {
	sc.t.Helper()
	if !ok {
		sc.t.Errorf("%s: does not hold", what)
	}
	sc.lines = append(sc.lines, fmt.Sprintf("%s: %v", what, ok))
}

func (sc *scenario) step(what string, err error, want string, details ...any) {
	sc.t.Helper()
	got := outcome(err)
	if got != want {
		sc.t.Errorf("%s: %s (%v), want %s", what, got, err, want)
	}
	line := what + ": " + got
	for _, d := range details {
		line += fmt.Sprintf(" %v", d)
	}
	sc.lines = append(sc.lines, line)
}

// entry describes an entry by what does not depend on how fast the
// calls ran: its value, its flags, whether it has an expiry of its own
// and, to the minute, how far off it is. The exact time rules are checks
// of their own (scenario.check).
func entry(e *attrcache.Entry) string {
	if e == nil {
		return "<nil>"
	}
	exp := "none"
	if !e.Expires.IsZero() {
		exp = fmt.Sprintf("in~%v", time.Until(e.Expires).Round(time.Minute))
	}
	return fmt.Sprintf("{%s %q enc=%v expires:%s}", e.Name, e.Value, e.Encrypted, exp)
}

func entries(m map[string]*attrcache.Entry) string {
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
	var parts []string
	for _, n := range names {
		parts = append(parts, n+"="+entry(m[n]))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// attrScenario runs every attribute call on h, a session or a user of a
// Store with a cipher that seals "pin", and returns what each step saw.
// The steps check the semantics table; comparing the lines of a session
// and of a user shows they follow it alike.
func attrScenario(t *testing.T, b Backend, h attrOwner) []string {
	sc := &scenario{t: t}
	a := func(name, value string, opts ...attrcache.WriteOption) attrcache.Attr {
		return attrcache.Attr{Name: name, Value: v(value), Options: opts}
	}
	// get reads name and records the step; it returns a zero Entry when
	// the read failed, so that checks on it fail rather than panic.
	get := func(what, name string, opts ...attrcache.ReadOption) *attrcache.Entry {
		t.Helper()
		e, err := h.Get(ctx, name, opts...)
		sc.step(what, err, "ok", entry(e))
		if e == nil {
			return &attrcache.Entry{}
		}
		return e
	}
	unchanged := func(what string, before map[string]string) {
		t.Helper()
		sameSnapshot(t, what, before, snapshot(t, b, h.Key()))
	}

	// An owner with no attributes.
	names, err := h.Names(ctx)
	sc.step("Names of nothing", err, "ok", names)
	_, err = h.Get(ctx, "a")
	sc.step("Get of nothing", err, `ErrNotFound["a"]`)
	all, err := h.GetAll(ctx)
	sc.step("GetAll of nothing", err, "ok", len(all))

	// Create.
	sc.step("Create a", h.Create(ctx, "a", v("1")), "ok")
	sc.step("Create a again", h.Create(ctx, "a", v("2")), `ErrExists["a"]`)
	a0 := get("Get a", "a")
	sc.check("a fresh attribute was modified when created", a0.Modified.Equal(a0.Created) && !a0.Created.IsZero())
	// A second: the scenario's next fifty calls must find it live on a
	// loaded machine too.
	sc.step("Create short", h.Create(ctx, "short", v("s"), attrcache.WithExpiration(time.Second)), "ok")
	short0 := get("Get short", "short")
	sc.check("WithExpiration(1s) expires 1s after creation", short0.Expires.Sub(short0.Created) == time.Second)
	sc.step("Create empty", h.Create(ctx, "empty", nil), "ok")
	get("Get empty", "empty")

	// CreateMany: all or nothing; item options override the call's.
	before := snapshot(t, b, h.Key())
	sc.step("CreateMany with conflicts", h.CreateMany(ctx, []attrcache.Attr{a("c", "3"), a("a", "x"), a("empty", "x")}), `ErrExists["a" "empty"]`)
	unchanged("a refused CreateMany", before)
	sc.step("CreateMany", h.CreateMany(ctx, []attrcache.Attr{a("b", "2"), a("c", "3", attrcache.WithoutExpiration())}, attrcache.WithExpiration(time.Hour)), "ok")
	m, err := h.GetMany(ctx, []string{"b", "c", "missing"})
	sc.step("GetMany b c missing", err, "ok", entries(m))
	b0 := get("Get b", "b")
	sc.check("the call's WithExpiration(1h)", b0.Expires.Sub(b0.Created) == time.Hour)

	// Set keeps Created and, without an expiration, the expiry.
	b.Advance(20 * time.Millisecond)
	sc.step("Set b", h.Set(ctx, "b", v("22")), "ok")
	e := get("Get b", "b")
	sc.check("Set keeps Created and the expiry, moves Modified", e.Created.Equal(b0.Created) && e.Expires.Equal(b0.Expires) && e.Modified.After(b0.Modified))
	sc.step("Set b WithExpiration", h.Set(ctx, "b", v("222"), attrcache.WithExpiration(30*time.Minute)), "ok")
	e = get("Get b", "b")
	sc.check("Set WithExpiration(30m) expires 30m after the write", e.Expires.Sub(e.Modified) == 30*time.Minute && e.Created.Equal(b0.Created))
	sc.step("Set b WithoutExpiration", h.Set(ctx, "b", v("2222"), attrcache.WithoutExpiration()), "ok")
	e = get("Get b", "b")
	sc.check("Set WithoutExpiration removes the expiry", e.Expires.IsZero())
	sc.step("SetMany", h.SetMany(ctx, []attrcache.Attr{a("a", "11"), a("d", "4")}), "ok")
	m, err = h.GetMany(ctx, []string{"a", "d"})
	sc.step("GetMany a d", err, "ok", entries(m))

	// Update: only what exists, all or nothing.
	sc.step("Update missing", h.Update(ctx, "zz", v("1")), `ErrNotFound["zz"]`)
	sc.step("Update a", h.Update(ctx, "a", v("111"), attrcache.WithExpiration(time.Minute)), "ok")
	a1 := get("Get a", "a")
	sc.check("Update WithExpiration(1m) keeps Created, expires 1m after the write", a1.Created.Equal(a0.Created) && a1.Expires.Sub(a1.Modified) == time.Minute)
	before = snapshot(t, b, h.Key())
	sc.step("UpdateMany with missing", h.UpdateMany(ctx, []attrcache.Attr{a("a", "x"), a("nope", "x"), a("d", "x"), a("never", "x")}), `ErrNotFound["nope" "never"]`)
	unchanged("a refused UpdateMany", before)
	sc.step("UpdateMany", h.UpdateMany(ctx, []attrcache.Attr{a("a", "1111"), a("d", "44")}), "ok")
	m, err = h.GetMany(ctx, []string{"a", "d"})
	sc.step("GetMany a d", err, "ok", entries(m))
	if e := m["a"]; e != nil {
		sc.check("UpdateMany without an expiration keeps the expiry", e.Expires.Equal(a1.Expires))
	}

	// Incr: decimal text, starts at 0, refuses what is no counter.
	n, err := h.Incr(ctx, "n", 5)
	sc.step("Incr n 5", err, "ok", n)
	n, err = h.Incr(ctx, "n", -7)
	sc.step("Incr n -7", err, "ok", n)
	get("Get n", "n")
	sc.step("Set word", h.Set(ctx, "word", v("12abc")), "ok")
	_, err = h.Incr(ctx, "word", 1)
	sc.step("Incr of a non-integer", err, `ErrInvalid["word"]`)
	sc.step("Set big", h.Set(ctx, "big", v("9007199254740991")), "ok")
	_, err = h.Incr(ctx, "big", 1)
	sc.step("Incr past 2^53-1", err, `ErrInvalid["big"]`)
	get("Get big", "big")
	_, err = h.Incr(ctx, "n", 1, attrcache.WithEncryption())
	sc.step("Incr WithEncryption", err, `ErrInvalid["n"]`)
	n, err = h.Incr(ctx, "m", 1, attrcache.WithExpiration(200*time.Millisecond))
	sc.step("Incr m WithExpiration", err, "ok", n)

	// Reads.
	ok, err := h.Exists(ctx, "a")
	sc.step("Exists a", err, "ok", ok)
	ex, err := h.ExistsMany(ctx, []string{"a", "short", "zz"})
	sc.step("ExistsMany", err, "ok", ex)
	names, err = h.Names(ctx)
	sc.step("Names", err, "ok", names)

	// Expiry: an expired attribute reads as absent and may be created
	// again.
	b.Advance(1100 * time.Millisecond)
	_, err = h.Get(ctx, "short")
	sc.step("Get short after its expiry", err, `ErrNotFound["short"]`)
	ok, err = h.Exists(ctx, "m")
	sc.step("Exists m after its expiry", err, "ok", ok)
	names, err = h.Names(ctx)
	sc.step("Names after expiry", err, "ok", names)
	all, err = h.GetAll(ctx)
	sc.step("GetAll after expiry", err, "ok", entries(all))
	sc.step("Update short after its expiry", h.Update(ctx, "short", v("x")), `ErrNotFound["short"]`)
	sc.step("Create short again", h.Create(ctx, "short", v("again")), "ok")
	e = get("Get short", "short")
	sc.check("an expired attribute created again is new", e.Created.After(short0.Created) && e.Expires.IsZero())
	n, err = h.Incr(ctx, "m", 1)
	sc.step("Incr m after its expiry", err, "ok", n)

	// SetExpiry.
	sc.step("SetExpiry missing", h.SetExpiry(ctx, "zz", time.Minute), `ErrNotFound["zz"]`)
	d0 := get("Get d", "d")
	b.Advance(20 * time.Millisecond)
	sc.step("SetExpiry d", h.SetExpiry(ctx, "d", time.Minute), "ok")
	e = get("Get d", "d")
	sc.check("SetExpiry keeps the value and times", string(e.Value) == string(d0.Value) && e.Created.Equal(d0.Created) && e.Modified.Equal(d0.Modified) && e.Expires.Sub(e.Modified) > time.Minute)
	before = snapshot(t, b, h.Key())
	sc.step("SetExpiryMany with missing", h.SetExpiryMany(ctx, map[string]time.Duration{"a": time.Minute, "nope": time.Minute, "also": time.Minute}), `ErrNotFound["also" "nope"]`)
	unchanged("a refused SetExpiryMany", before)
	sc.step("SetExpiryMany", h.SetExpiryMany(ctx, map[string]time.Duration{"a": time.Minute, "b": time.Minute}), "ok")
	sc.step("SetExpiry 0", h.SetExpiry(ctx, "a", 0), "ErrInvalid")

	// Delete: absent names are no error.
	sc.step("Delete a", h.Delete(ctx, "a"), "ok")
	sc.step("Delete a again", h.Delete(ctx, "a"), "ok")
	sc.step("DeleteMany", h.DeleteMany(ctx, []string{"b", "never", "c"}), "ok")
	names, err = h.Names(ctx)
	sc.step("Names after Delete", err, "ok", names)

	// Bad input: nothing written.
	before = snapshot(t, b, h.Key())
	sc.step("Create an empty name", h.Create(ctx, "", v("1")), "ErrInvalid")
	sc.step("Create a control character", h.Create(ctx, "a\nb", v("1")), "ErrInvalid")
	sc.step("Create the marker's name", h.Create(ctx, "\x00", v("1")), "ErrInvalid")
	sc.step("Create WithExpiration(0)", h.Create(ctx, "x", v("1"), attrcache.WithExpiration(0)), "ErrInvalid")
	sc.step("CreateMany of nothing", h.CreateMany(ctx, nil), "ErrInvalid")
	sc.step("SetMany with a duplicate", h.SetMany(ctx, []attrcache.Attr{a("x", "1"), a("x", "2")}), "ErrInvalid")
	sc.step("DeleteMany with a duplicate", h.DeleteMany(ctx, []string{"d", "d"}), "ErrInvalid")
	_, err = h.GetMany(ctx, []string{"ok", "\t"})
	sc.step("GetMany of a bad name", err, "ErrInvalid")
	unchanged("refused calls", before)

	// JSON helpers.
	type prefs struct {
		Theme string   `json:"theme"`
		Langs []string `json:"langs"`
	}
	sc.step("CreateJSON", attrcache.CreateJSON(ctx, h, "prefs", prefs{"dark", []string{"en"}}), "ok")
	sc.step("CreateJSON again", attrcache.CreateJSON(ctx, h, "prefs", prefs{}), `ErrExists["prefs"]`)
	sc.step("UpdateJSON", attrcache.UpdateJSON(ctx, h, "prefs", prefs{"light", []string{"fr", "en"}}), "ok")
	p, err := attrcache.GetJSON[prefs](ctx, h, "prefs")
	sc.step("GetJSON", err, "ok", p)
	sc.step("UpdateJSON of nothing", attrcache.UpdateJSON(ctx, h, "nojson", 1), `ErrNotFound["nojson"]`)
	sc.step("SetJSON", attrcache.SetJSON(ctx, h, "count", 42, attrcache.WithExpiration(time.Minute)), "ok")
	c, err := attrcache.GetJSON[int](ctx, h, "count")
	sc.step("GetJSON[int]", err, "ok", c)
	_, err = attrcache.GetJSON[int](ctx, h, "prefs")
	sc.step("GetJSON of the wrong type", err, `ErrCorrupt["prefs"]`)
	sc.step("SetJSON of a func", attrcache.SetJSON(ctx, h, "f", func() {}), "ErrInvalid")

	// Sealed values: asked for, or by the Store's WithSealed("pin").
	const secret = "s3cr3t-plaintext"
	sc.step("Create sec WithEncryption", h.Create(ctx, "sec", v(secret), attrcache.WithEncryption()), "ok")
	sec0 := get("Get sec", "sec")
	raw, err := h.Get(ctx, "sec", attrcache.WithoutDecryption())
	sc.step("Get sec WithoutDecryption", err, "ok")
	sc.check("a raw read returns the ciphertext", raw != nil && raw.Encrypted && len(raw.Value) > len(secret) && !bytes.Contains(raw.Value, v(secret)))
	sc.step("Create pin", h.Create(ctx, "pin", v("1234")), "ok")
	get("Get pin", "pin")
	_, err = h.Incr(ctx, "pin", 1)
	sc.step("Incr of a WithSealed name", err, `ErrInvalid["pin"]`)
	_, err = h.Incr(ctx, "sec", 1)
	sc.step("Incr of a sealed value", err, `ErrInvalid["sec"]`)
	b.Advance(20 * time.Millisecond)
	sc.step("SetExpiry of a sealed value", h.SetExpiry(ctx, "sec", time.Minute), "ok")
	e = get("Get sec", "sec")
	sc.check("SetExpiry of a sealed value keeps its value and times", e.Encrypted && string(e.Value) == secret && e.Created.Equal(sec0.Created) && e.Modified.Equal(sec0.Modified))
	sc.step("SetExpiryMany of sealed values", h.SetExpiryMany(ctx, map[string]time.Duration{"sec": 2 * time.Minute, "pin": time.Minute}), "ok")
	m, err = h.GetMany(ctx, []string{"sec", "pin"})
	sc.step("GetMany sec pin", err, "ok", entries(m))
	sc.step("CreateMany sealed by default", h.CreateMany(ctx, []attrcache.Attr{a("s1", secret), a("p1", "plain", attrcache.WithoutEncryption())}, attrcache.WithEncryption()), "ok")
	m, err = h.GetMany(ctx, []string{"s1", "p1"})
	sc.step("GetMany s1 p1", err, "ok", entries(m))
	sc.step("Update sec in clear", h.Update(ctx, "sec", v("clear now")), "ok")
	get("Get sec", "sec")
	sc.step("Update pin WithoutEncryption", h.Update(ctx, "pin", v("5678"), attrcache.WithoutEncryption()), "ok")
	get("Get pin", "pin")
	for f, rec := range snapshot(t, b, h.Key()) {
		if strings.Contains(rec, secret) && f != "p1" {
			t.Errorf("field %q holds the plaintext", f)
		}
	}
	// A ciphertext moved to another name does not open; a plain record
	// planted where the Store seals is refused.
	s1rec := b.Client.HGet(ctx, h.Key(), "s1").Val()
	must(t, b.Client.HSet(ctx, h.Key(), "moved", s1rec, "pin", b.Client.HGet(ctx, h.Key(), "p1").Val()).Err())
	_, err = h.Get(ctx, "moved")
	sc.step("Get of a moved ciphertext", err, `ErrDecrypt["moved"]`)
	_, err = h.Get(ctx, "pin")
	sc.step("Get of a plain record planted under a WithSealed name", err, `ErrDecrypt["pin"]`)
	m, err = h.GetMany(ctx, []string{"p1", "moved", "s1"}, attrcache.WithPartialResults())
	sc.step("GetMany WithPartialResults", err, `ErrDecrypt["moved"]`, entries(m))
	sc.step("DeleteMany of the planted", h.DeleteMany(ctx, []string{"moved", "pin"}), "ok")
	names, err = h.Names(ctx)
	sc.step("Names at the end", err, "ok", names)
	return sc.lines
}

// testUserSemantics runs the attribute scenario on an unbound session, a
// bound session and a user: every call a User has behaves as on a
// Session, step for step.
func testUserSemantics(t *testing.T, b Backend) {
	st := newStore(t, b.Client, attrcache.WithCipher(b.cipher(t)), attrcache.WithSealed("pin"))
	uid := newUID()
	// Sessions of 2 hours: their deadline never cuts an attribute's
	// expiry (an hour at most) short, which a user has no deadline to do.
	owners := []struct {
		name string
		h    attrOwner
	}{
		{"unbound session", start(t, st, 2*time.Hour)},
		{"bound session", startFor(t, st, uid, 2*time.Hour)},
		{"user", st.User(uid)},
	}
	var lines [][]string
	for _, o := range owners {
		t.Run(strings.ReplaceAll(o.name, " ", "_"), func(t *testing.T) {
			lines = append(lines, attrScenario(t, b, o.h))
		})
	}
	if len(lines) != len(owners) {
		return
	}
	for i := 1; i < len(owners); i++ {
		for j := range max(len(lines[0]), len(lines[i])) {
			var want, got string
			if j < len(lines[0]) {
				want = lines[0][j]
			}
			if j < len(lines[i]) {
				got = lines[i][j]
			}
			if want != got {
				t.Errorf("step %d differs:\n %s: %s\n %s: %s", j, owners[0].name, want, owners[i].name, got)
				break
			}
		}
	}
}

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
	var node redis.Cmdable = b.Client
	if cc, ok := b.Client.(*redis.ClusterClient); ok {
		m, err := cc.MasterForKey(ctx, u.Key())
		must(t, err)
		node = m
	}
	var keys []string
	iter := node.Scan(ctx, 0, pattern, 1000).Iterator()
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
	var node redis.Cmdable = b.Client
	if cc, ok := b.Client.(*redis.ClusterClient); ok {
		m, err := cc.MasterForKey(ctx, key)
		must(t, err)
		node = m
	}
	tm, err := node.Time(ctx).Result()
	must(t, err)
	return tm.UnixMilli()
}

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
	st := newStore(t, b.Client, attrcache.WithMaxSessions(capN, policy))
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
