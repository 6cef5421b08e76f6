package suite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attrcache/attrcache/attrcache"
)

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
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(m)) {
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
