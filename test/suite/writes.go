package suite

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attrcache/attrcache/attrcache"
)

func testSet(t *testing.T, b Backend) {
	s := start(t, newStore(t, b.Client), time.Hour)
	must(t, s.Set(ctx, "a", v("1"), attrcache.WithExpiration(10*time.Minute)))
	first := wantValue(t, s, "a", "1")
	b.Advance(20 * time.Millisecond)
	must(t, s.Set(ctx, "a", v("2")))
	e := wantValue(t, s, "a", "2")
	if !e.Created.Equal(first.Created) {
		t.Fatalf("Set changed Created from %v to %v", first.Created, e.Created)
	}
	if !e.Modified.After(first.Modified) {
		t.Fatalf("Set did not move Modified (%v -> %v)", first.Modified, e.Modified)
	}
	if !e.Expires.Equal(first.Expires) {
		t.Fatalf("Set without expiration changed Expires from %v to %v", first.Expires, e.Expires)
	}
	must(t, s.Set(ctx, "a", v("3"), attrcache.WithExpiration(time.Minute)))
	e = get(t, s, "a")
	if d := e.Expires.Sub(e.Modified); d != time.Minute {
		t.Fatalf("Set with expiration: expires %v after modification, want 1m", d)
	}
	must(t, s.Set(ctx, "a", v("4"), attrcache.WithoutExpiration()))
	if e = get(t, s, "a"); !e.Expires.IsZero() {
		t.Fatal("Set WithoutExpiration kept an expiry")
	}
	must(t, s.SetMany(ctx, []attrcache.Attr{{Name: "a", Value: v("5")}, {Name: "b", Value: v("6")}}))
	wantValue(t, s, "a", "5")
	wantValue(t, s, "b", "6")
}

func testUpdate(t *testing.T, b Backend) {
	s := start(t, newStore(t, b.Client), time.Hour)
	err := s.Update(ctx, "a", v("1"))
	wantErr(t, "Update of an absent attribute", err, attrcache.ErrNotFound)
	wantNames(t, err, "a")
	wantAbsent(t, s, "a")

	must(t, s.Create(ctx, "a", v("1"), attrcache.WithExpiration(5*time.Minute)))
	first := get(t, s, "a")
	b.Advance(20 * time.Millisecond)
	must(t, s.Update(ctx, "a", v("2")))
	e := wantValue(t, s, "a", "2")
	if !e.Created.Equal(first.Created) || !e.Expires.Equal(first.Expires) || !e.Modified.After(first.Modified) {
		t.Fatalf("Update times %+v after %+v", e, first)
	}

	must(t, s.Create(ctx, "b", v("1")))
	must(t, s.Create(ctx, "gone", v("1"), attrcache.WithExpiration(100*time.Millisecond)))
	b.Advance(200 * time.Millisecond)
	before := snapshot(t, b, s.Key())
	err = s.UpdateMany(ctx, []attrcache.Attr{{Name: "a", Value: v("x")}, {Name: "gone", Value: v("x")}, {Name: "b", Value: v("x")}, {Name: "never", Value: v("x")}})
	wantErr(t, "UpdateMany with missing", err, attrcache.ErrNotFound)
	wantNames(t, err, "gone", "never")
	sameSnapshot(t, "a refused UpdateMany", before, snapshot(t, b, s.Key()))
	must(t, s.UpdateMany(ctx, []attrcache.Attr{{Name: "a", Value: v("x")}, {Name: "b", Value: v("y")}}, attrcache.WithExpiration(time.Minute)))
	e = wantValue(t, s, "b", "y")
	if d := e.Expires.Sub(e.Modified); d != time.Minute {
		t.Fatalf("UpdateMany with expiration: %v", d)
	}
}

func testReads(t *testing.T, b Backend) {
	s := start(t, newStore(t, b.Client), time.Hour)
	must(t, s.CreateMany(ctx, []attrcache.Attr{{Name: "a", Value: v("1")}, {Name: "b", Value: v("2")}}))
	must(t, s.Create(ctx, "short", v("3"), attrcache.WithExpiration(100*time.Millisecond)))
	b.Advance(200 * time.Millisecond)
	m, err := s.GetMany(ctx, []string{"a", "missing", "short", "b"})
	must(t, err)
	if len(m) != 4 || m["missing"] != nil || m["short"] != nil || string(m["a"].Value) != "1" || string(m["b"].Value) != "2" {
		t.Fatalf("GetMany = %v", m)
	}
	must(t, s.Create(ctx, "short2", v("3"), attrcache.WithExpiration(100*time.Millisecond)))
	b.Advance(200 * time.Millisecond)
	all, err := s.GetAll(ctx)
	must(t, err)
	if len(all) != 2 || string(all["a"].Value) != "1" || all["a"].Name != "a" {
		t.Fatalf("GetAll = %v", all)
	}
	ex, err := s.ExistsMany(ctx, []string{"a", "short", "zz"})
	must(t, err)
	if !maps.Equal(ex, map[string]bool{"a": true, "short": false, "zz": false}) {
		t.Fatalf("ExistsMany = %v", ex)
	}
	ok, err := s.Exists(ctx, "b")
	must(t, err)
	if !ok {
		t.Fatal("Exists(b) = false")
	}
}

func testNames(t *testing.T, b Backend) {
	s := start(t, newStore(t, b.Client), time.Hour)
	in := []string{"zeta", "alpha", "Élan", "mid", "Zulu", "日本", "a b", "a"}
	for _, n := range in {
		must(t, s.Create(ctx, n, v(n)))
	}
	must(t, s.Create(ctx, "expired", v("x"), attrcache.WithExpiration(100*time.Millisecond)))
	b.Advance(200 * time.Millisecond)
	names, err := s.Names(ctx)
	must(t, err)
	want := slices.Clone(in)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("Names = %q, want %q", names, want)
	}
}

func testDelete(t *testing.T, b Backend) {
	s := start(t, newStore(t, b.Client), time.Hour)
	must(t, s.CreateMany(ctx, []attrcache.Attr{{Name: "a", Value: v("1")}, {Name: "b", Value: v("2")}, {Name: "c", Value: v("3")}}))
	must(t, s.Delete(ctx, "a"))
	wantAbsent(t, s, "a")
	must(t, s.Delete(ctx, "a"))
	must(t, s.DeleteMany(ctx, []string{"b", "never", "c"}))
	names, err := s.Names(ctx)
	must(t, err)
	if len(names) != 0 {
		t.Fatalf("names left after delete: %q", names)
	}
	// The session itself survives losing its last attribute.
	must(t, s.Create(ctx, "a", v("again")))
}

func testSetExpiry(t *testing.T, b Backend) {
	s := start(t, newStore(t, b.Client), time.Hour)
	must(t, s.Create(ctx, "a", v("1")))
	first := get(t, s, "a")
	must(t, s.SetExpiry(ctx, "a", 150*time.Millisecond))
	e := wantValue(t, s, "a", "1")
	if !e.Created.Equal(first.Created) || !e.Modified.Equal(first.Modified) || e.Expires.IsZero() {
		t.Fatalf("SetExpiry changed %+v into %+v", first, e)
	}
	b.Advance(250 * time.Millisecond)
	wantAbsent(t, s, "a")
	err := s.SetExpiry(ctx, "a", time.Minute)
	wantErr(t, "SetExpiry of an expired attribute", err, attrcache.ErrNotFound)
	wantNames(t, err, "a")

	must(t, s.CreateMany(ctx, []attrcache.Attr{{Name: "x", Value: v("1")}, {Name: "y", Value: v("2")}}))
	before := snapshot(t, b, s.Key())
	err = s.SetExpiryMany(ctx, map[string]time.Duration{"x": time.Minute, "nope": time.Minute, "y": time.Minute, "also": time.Minute})
	wantErr(t, "SetExpiryMany with missing", err, attrcache.ErrNotFound)
	wantNames(t, err, "also", "nope")
	sameSnapshot(t, "a refused SetExpiryMany", before, snapshot(t, b, s.Key()))
	must(t, s.SetExpiryMany(ctx, map[string]time.Duration{"x": time.Minute, "y": 2 * time.Minute}))
	m, err := s.GetMany(ctx, []string{"x", "y"})
	must(t, err)
	if m["x"].Expires.IsZero() || !m["y"].Expires.After(m["x"].Expires) {
		t.Fatalf("SetExpiryMany: x %v, y %v", m["x"].Expires, m["y"].Expires)
	}
}

// testClamp: an attribute keeps its own expiry, but a read never reports
// it past the session's end, and nothing of a session outlives it.
func testClamp(t *testing.T, b Backend) {
	s := start(t, newStore(t, b.Client), 800*time.Millisecond)
	must(t, s.Create(ctx, "c", v("1"), attrcache.WithExpiration(time.Hour)))
	must(t, s.Set(ctx, "s", v("1"), attrcache.WithExpiration(time.Hour)))
	must(t, s.Create(ctx, "x", v("1")))
	must(t, s.SetExpiry(ctx, "x", time.Hour))
	m, err := s.GetMany(ctx, []string{"c", "s", "x"})
	must(t, err)
	exp, _ := s.Expiry()
	for name, e := range m {
		if d := e.Expires.Sub(e.Created); d <= 0 || d > 800*time.Millisecond || e.Expires.After(exp) {
			t.Fatalf("%s reads as expiring %v after creation, want no later than the session's 800ms", name, d)
		}
	}
	b.Advance(900 * time.Millisecond)
	_, err = s.Get(ctx, "c")
	wantErr(t, "Get after the session's end", err, attrcache.ErrSessionNotFound)
}

// testRenew: a session kept alive by renewals keeps every attribute
// until its own expiry: a renewal neither cuts it short nor extends it.
func testRenew(t *testing.T, b Backend) {
	s := start(t, newStore(t, b.Client), 400*time.Millisecond)
	must(t, s.Create(ctx, "keep", v("1")))
	must(t, s.Create(ctx, "hour", v("2"), attrcache.WithExpiration(10*time.Second)))
	must(t, s.Create(ctx, "short", v("3"), attrcache.WithExpiration(900*time.Millisecond)))
	began := time.Now()
	for time.Since(began) < 1300*time.Millisecond {
		b.Advance(150 * time.Millisecond)
		_, err := s.Renew(ctx, 400*time.Millisecond)
		must(t, err)
		if el := time.Since(began); el < 800*time.Millisecond {
			wantValue(t, s, "short", "3")
		} else if el > time.Second {
			wantAbsent(t, s, "short")
		}
		for _, e := range []*attrcache.Entry{wantValue(t, s, "keep", "1"), wantValue(t, s, "hour", "2")} {
			if exp, _ := s.Expiry(); e.Expires.After(exp) {
				t.Fatalf("%s reads as expiring at %v, after the session's %v", e.Name, e.Expires, exp)
			}
		}
	}
}

func testBadInput(t *testing.T, b Backend) {
	st := newStore(t, b.Client, attrcache.WithLimits(attrcache.Limits{MaxNameBytes: 16, MaxValueBytes: 32, MaxBatch: 4}))
	s := start(t, st, time.Hour)
	must(t, s.Create(ctx, "existing", v("1")))
	before := snapshot(t, b, s.Key())
	long := strings.Repeat("n", 17)
	big := v(strings.Repeat("v", 33))
	a := func(name string, value []byte, opts ...attrcache.WriteOption) attrcache.Attr {
		return attrcache.Attr{Name: name, Value: value, Options: opts}
	}
	cases := []struct {
		what string
		err  error
		want error
	}{
		{"empty name", s.Create(ctx, "", v("1")), attrcache.ErrInvalid},
		{"invalid UTF-8", s.Create(ctx, "a\xffb", v("1")), attrcache.ErrInvalid},
		{"control character", s.Set(ctx, "a\nb", v("1")), attrcache.ErrInvalid},
		{"NUL (the marker)", s.Set(ctx, "\x00", v("1")), attrcache.ErrInvalid},
		{"line separator", s.Set(ctx, "a\u2028b", v("1")), attrcache.ErrInvalid},
		{"name over MaxNameBytes", s.Create(ctx, long, v("1")), attrcache.ErrInvalid},
		{"value over MaxValueBytes", s.Create(ctx, "a", big), attrcache.ErrInvalid},
		{"value over MaxValueBytes in a batch", s.SetMany(ctx, []attrcache.Attr{a("a", v("1")), a("b", big)}), attrcache.ErrInvalid},
		{"duplicate names", s.CreateMany(ctx, []attrcache.Attr{a("a", v("1")), a("a", v("2"))}), attrcache.ErrInvalid},
		{"duplicate names in DeleteMany", s.DeleteMany(ctx, []string{"existing", "existing"}), attrcache.ErrInvalid},
		{"batch over MaxBatch", s.SetMany(ctx, []attrcache.Attr{a("a", nil), a("b", nil), a("c", nil), a("d", nil), a("e", nil)}), attrcache.ErrInvalid},
		{"empty batch", s.CreateMany(ctx, nil), attrcache.ErrInvalid},
		{"zero expiration", s.Create(ctx, "a", v("1"), attrcache.WithExpiration(0)), attrcache.ErrInvalid},
		{"negative expiration", s.Set(ctx, "a", v("1"), attrcache.WithExpiration(-time.Second)), attrcache.ErrInvalid},
		{"sub-millisecond expiration", s.Set(ctx, "a", v("1"), attrcache.WithExpiration(time.Microsecond)), attrcache.ErrInvalid},
		{"overflowing expiration", s.Set(ctx, "a", v("1"), attrcache.WithExpiration(time.Duration(1<<62))), attrcache.ErrInvalid},
		{"bad item expiration", s.CreateMany(ctx, []attrcache.Attr{a("a", v("1")), a("b", v("1"), attrcache.WithExpiration(-1))}), attrcache.ErrInvalid},
		{"bad SetExpiry", s.SetExpiry(ctx, "existing", 0), attrcache.ErrInvalid},
		{"bad SetExpiryMany", s.SetExpiryMany(ctx, map[string]time.Duration{"existing": time.Minute, "b": -1}), attrcache.ErrInvalid},
		{"encryption without cipher", s.Update(ctx, "existing", v("1"), attrcache.WithEncryption()), attrcache.ErrNoCipher},
		{"bad Get name", func() error { _, err := s.Get(ctx, ""); return err }(), attrcache.ErrInvalid},
		{"bad GetMany name", func() error { _, err := s.GetMany(ctx, []string{"ok", "\t"}); return err }(), attrcache.ErrInvalid},
		{"bad Renew ttl", func() error { _, err := s.Renew(ctx, 0); return err }(), attrcache.ErrInvalid},
	}
	for _, c := range cases {
		wantErr(t, c.what, c.err, c.want)
		if c.err != nil && strings.Contains(c.err.Error(), strings.Repeat("v", 33)) {
			t.Fatalf("%s: error text holds the value", c.what)
		}
	}
	sameSnapshot(t, "refused calls", before, snapshot(t, b, s.Key()))
	ttl, err := s.TTL(ctx)
	must(t, err)
	if ttl <= 59*time.Minute {
		t.Fatalf("a refused Renew changed the TTL to %v", ttl)
	}

	_, err = st.Start(ctx, "", time.Hour)
	wantErr(t, "Start with empty id", err, attrcache.ErrInvalid)
	sid := "sid-" + randHex(8)
	_, err = st.Start(ctx, sid, 0)
	wantErr(t, "Start with zero ttl", err, attrcache.ErrInvalid)
	_, err = st.Start(ctx, sid, attrcache.MaxExpiration+time.Hour)
	wantErr(t, "Start with absurd ttl", err, attrcache.ErrInvalid)
	if n := b.Client.Exists(ctx, st.Session(sid).Key()).Val(); n != 0 {
		t.Fatal("a refused Start wrote the session")
	}

	for _, bad := range []string{"", "a{b}", "a\nb", strings.Repeat("n", 65)} {
		if _, err := attrcache.New(b.Client, attrcache.WithNamespace(bad)); !errors.Is(err, attrcache.ErrInvalid) {
			t.Fatalf("namespace %q accepted (%v)", bad, err)
		}
	}
	if _, err := attrcache.New(b.Client, attrcache.WithLimits(attrcache.Limits{MaxBatch: -1})); !errors.Is(err, attrcache.ErrInvalid) {
		t.Fatalf("negative limit accepted (%v)", err)
	}
}

func testLimits(t *testing.T, b Backend) {
	st := newStore(t, b.Client, attrcache.WithLimits(attrcache.Limits{MaxAttributes: 3}))
	s := start(t, st, time.Hour)
	must(t, s.CreateMany(ctx, []attrcache.Attr{{Name: "a", Value: v("1")}, {Name: "b", Value: v("2")}}))
	before := snapshot(t, b, s.Key())
	err := s.CreateMany(ctx, []attrcache.Attr{{Name: "c", Value: v("3")}, {Name: "d", Value: v("4")}})
	wantErr(t, "CreateMany past MaxAttributes", err, attrcache.ErrTooManyAttributes)
	wantErr(t, "SetMany past MaxAttributes", s.SetMany(ctx, []attrcache.Attr{{Name: "a", Value: v("1")}, {Name: "c", Value: v("3")}, {Name: "d", Value: v("4")}}), attrcache.ErrTooManyAttributes)
	sameSnapshot(t, "refused writes past MaxAttributes", before, snapshot(t, b, s.Key()))
	must(t, s.Create(ctx, "c", v("3")))
	wantErr(t, "Create past MaxAttributes", s.Create(ctx, "d", v("4")), attrcache.ErrTooManyAttributes)
	// Replacing does not add.
	must(t, s.Set(ctx, "c", v("33")))
	// Expired attributes stop counting.
	must(t, s.SetExpiry(ctx, "a", 100*time.Millisecond))
	b.Advance(200 * time.Millisecond)
	must(t, s.Create(ctx, "d", v("4")))
	names, err := s.Names(ctx)
	must(t, err)
	if !slices.Equal(names, []string{"b", "c", "d"}) {
		t.Fatalf("names %q", names)
	}
}
