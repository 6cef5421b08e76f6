package suite

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/internal/format"
)

// testSealIntegrity: a sealed record's associated data binds its flags and
// its own expiry, and a Store that seals a name refuses a plain record of
// it, so that someone with write access to Redis can neither relabel a
// sealed value as plain, nor plant a plain one in its place, nor give it
// a later expiry.
func testSealIntegrity(t *testing.T, b Backend) {
	st := newStore(t, b.Client, attrcache.WithCipher(b.cipher(t)), attrcache.WithSealed("role"))
	s := start(t, st, time.Hour)
	must(t, s.Create(ctx, "role", v("member"), attrcache.WithExpiration(time.Minute)))
	must(t, s.Create(ctx, "token", v("t0k3n"), attrcache.WithEncryption(), attrcache.WithExpiration(time.Minute)))
	if e := wantValue(t, s, "role", "member"); !e.Encrypted {
		t.Fatal("a name WithSealed names was stored in clear")
	}
	hash := snapshot(t, b, s.Key())
	m, err := format.ParseMarker(hash[format.MarkerField])
	must(t, err)
	reset := func() { must(t, b.Client.HSet(ctx, s.Key(), "role", hash["role"], "token", hash["token"]).Err()) }

	// The sealed bit cleared: the ciphertext would read as a plain value.
	for _, name := range []string{"role", "token"} {
		flipped := []byte(hash[name])
		flipped[0] &^= 1 << 6
		must(t, b.Client.HSet(ctx, s.Key(), name, flipped).Err())
	}
	_, err = s.Get(ctx, "role")
	wantErr(t, "Get of a sealed record relabelled plain, of a sealed name", err, attrcache.ErrDecrypt)
	wantNames(t, err, "role")
	reset()

	// A plain record with a valid header in place of the sealed one.
	rec, err := format.ParseRecord(hash["role"], m.Created)
	must(t, err)
	rec.Sealed = false
	forged := format.AppendRecord(nil, rec, m.Created, []byte("admin"))
	must(t, b.Client.HSet(ctx, s.Key(), "role", forged).Err())
	_, err = s.Get(ctx, "role")
	wantErr(t, "Get of a plain record planted in place of a sealed one", err, attrcache.ErrDecrypt)
	_, err = s.GetAll(ctx)
	wantErr(t, "GetAll with a planted plain record", err, attrcache.ErrDecrypt)
	if strings.Contains(fmt.Sprint(err), "admin") {
		t.Fatal("the error holds the planted value")
	}
	reset()

	// A later expiry written into the header of a sealed record.
	for _, name := range []string{"role", "token"} {
		r, err := format.ParseRecord(hash[name], m.Created)
		must(t, err)
		r.Expires += int64(time.Hour / time.Millisecond)
		must(t, b.Client.HSet(ctx, s.Key(), name, format.AppendRecord(nil, r, m.Created, []byte(r.Value))).Err())
		_, err = s.Get(ctx, name)
		wantErr(t, "Get of a sealed record given a later expiry", err, attrcache.ErrDecrypt)
	}
	reset()
	wantValue(t, s, "role", "member")
	wantValue(t, s, "token", "t0k3n")

	// A sealed value's expiry moves only by sealing it again: SetExpiry,
	// and a Set that keeps it, still read.
	must(t, s.SetExpiry(ctx, "token", 2*time.Minute))
	e := wantValue(t, s, "token", "t0k3n")
	if d := time.Until(e.Expires); d < time.Minute || d > 2*time.Minute+time.Second {
		t.Fatalf("SetExpiry of a sealed value: it expires in %v, want about 2m", d)
	}
	must(t, s.Set(ctx, "token", v("n3w"), attrcache.WithEncryption()))
	if e2 := wantValue(t, s, "token", "n3w"); !e2.Expires.Equal(e.Expires) {
		t.Fatalf("a Set of a sealed value without WithExpiration moved its expiry from %v to %v", e.Expires, e2.Expires)
	}
	// A counter cannot be sealed.
	_, err = s.Incr(ctx, "role", 1)
	wantErr(t, "Incr of a name WithSealed names", err, attrcache.ErrInvalid)
}

// testIncr: Incr is atomic like HINCRBY, stores decimal text, refuses
// what is no integer and leaves it as it was, and follows WithExpiration.
func testIncr(t *testing.T, b Backend) {
	st := newStore(t, b.Client, attrcache.WithCipher(b.cipher(t)))
	s := start(t, st, time.Hour)
	n, err := s.Incr(ctx, "cart", 2)
	must(t, err)
	if n != 2 {
		t.Fatalf("Incr of an absent attribute by 2 = %d", n)
	}
	if n, _ = s.Incr(ctx, "cart", -5); n != -3 {
		t.Fatalf("Incr by -5 = %d, want -3", n)
	}
	wantValue(t, s, "cart", "-3")

	const goroutines, each = 40, 25
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*each)
	for range goroutines {
		wg.Go(func() {
			for range each {
				if _, err := s.Incr(ctx, "hits", 1); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Incr: %v", err)
	}
	wantValue(t, s, "hits", strconv.Itoa(goroutines*each))

	// Not an integer, sealed, or past 2^53-1: refused, unchanged.
	must(t, s.Set(ctx, "word", v("ten")))
	must(t, s.Set(ctx, "sealed", v("10"), attrcache.WithEncryption()))
	must(t, s.Set(ctx, "big", v("9007199254740990")))
	for _, c := range []struct{ name, value string }{{"word", "ten"}, {"big", "9007199254740990"}} {
		_, err := s.Incr(ctx, c.name, 5)
		wantErr(t, "Incr of "+c.name, err, attrcache.ErrInvalid)
		wantNames(t, err, c.name)
		wantValue(t, s, c.name, c.value)
	}
	_, err = s.Incr(ctx, "sealed", 1)
	wantErr(t, "Incr of a sealed value", err, attrcache.ErrInvalid)
	wantValue(t, s, "sealed", "10")
	_, err = s.Incr(ctx, "new", 1, attrcache.WithEncryption())
	wantErr(t, "Incr WithEncryption", err, attrcache.ErrInvalid)

	// WithExpiration as for Set: an expired counter starts again at 0.
	_, err = s.Incr(ctx, "burst", 7, attrcache.WithExpiration(300*time.Millisecond))
	must(t, err)
	if n, _ = s.Incr(ctx, "burst", 1); n != 8 {
		t.Fatalf("Incr keeps the counter: %d", n)
	}
	b.Advance(400 * time.Millisecond)
	if n, _ = s.Incr(ctx, "burst", 1); n != 1 {
		t.Fatalf("Incr of an expired counter = %d, want 1", n)
	}
}

// testOwnExpiry: an attribute keeps its own expiry through Rotate and
// SetExpiry; a read reports it, never past the session's end.
func testOwnExpiry(t *testing.T, b Backend) {
	st := newStore(t, b.Client, attrcache.WithCipher(b.cipher(t)))
	s := start(t, st, 500*time.Millisecond)
	must(t, s.CreateMany(ctx, []attrcache.Attr{
		{Name: "hour", Value: v("1"), Options: []attrcache.WriteOption{attrcache.WithExpiration(time.Hour)}},
		{Name: "sealed", Value: v("2"), Options: []attrcache.WriteOption{attrcache.WithExpiration(time.Hour), attrcache.WithEncryption()}},
	}))
	must(t, s.Create(ctx, "later", v("3")))
	must(t, s.SetExpiry(ctx, "later", time.Hour))
	ns, err := s.Rotate(ctx, s.NewID())
	must(t, err)
	b.Advance(300 * time.Millisecond)
	_, err = ns.Renew(ctx, 500*time.Millisecond)
	must(t, err)
	b.Advance(300 * time.Millisecond)
	_, err = ns.Renew(ctx, 500*time.Millisecond)
	must(t, err)
	// 600ms after Start: past the first deadline, the attributes of an
	// hour live on with the renewed session.
	for _, name := range []string{"hour", "sealed", "later"} {
		e := get(t, ns, name)
		if exp, _ := ns.Expiry(); e.Expires.After(exp) {
			t.Fatalf("%s reads as expiring at %v, after its session's %v", name, e.Expires, exp)
		}
	}
}

// testStartWithAttrs: Start WithAttrs creates the session and its first
// attributes in one command, all or nothing.
func testStartWithAttrs(t *testing.T, b Backend) {
	rdb := b.NewClient()
	defer rdb.Close()
	cnt := &counter{}
	rdb.AddHook(cnt)
	st := newStore(t, rdb, attrcache.WithLimits(attrcache.Limits{MaxValueBytes: 16}))
	start(t, st, time.Hour) // the clock sampled, the scripts loaded
	sid := "sid-" + randHex(8)
	before := cnt.n.Load()
	s, err := st.Start(ctx, sid, time.Hour, attrcache.WithAttrs(
		attrcache.Attr{Name: "user", Value: v("alice")},
		attrcache.Attr{Name: "csrf", Value: v("seed"), Options: []attrcache.WriteOption{attrcache.WithExpiration(time.Hour)}},
	))
	must(t, err)
	if n := cnt.n.Load() - before; n != 1 {
		t.Fatalf("Start WithAttrs sent %d commands, want 1", n)
	}
	wantValue(t, s, "user", "alice")
	if e := wantValue(t, s, "csrf", "seed"); e.Expires.IsZero() {
		t.Fatal("an attribute WithAttrs lost its expiry")
	}
	for what, attrs := range map[string][]attrcache.Attr{
		"a value over the limits":    {{Name: "ok", Value: v("1")}, {Name: "big", Value: v(strings.Repeat("x", 17))}},
		"sealed without a cipher":    {{Name: "s", Value: v("1"), Options: []attrcache.WriteOption{attrcache.WithEncryption()}}},
		"a name twice":               {{Name: "a", Value: v("1")}, {Name: "a", Value: v("2")}},
		"a name with a control byte": {{Name: "a\x01", Value: v("1")}},
	} {
		sid := "sid-" + randHex(8)
		_, err := st.Start(ctx, sid, time.Hour, attrcache.WithAttrs(attrs...))
		if err == nil {
			t.Fatalf("Start with %s succeeded", what)
		}
		if n := b.Client.Exists(ctx, st.Session(sid).Key()).Val(); n != 0 {
			t.Fatalf("Start with %s left a key behind", what)
		}
	}
}

// testResendLog: a resend log attrcache did not write is ErrCorrupt for
// writes, and End clears it with the rest.
func testResendLog(t *testing.T, b Backend) {
	st := newStore(t, b.Client)
	sid := "sid-" + randHex(8)
	s, err := st.Start(ctx, sid, time.Hour)
	must(t, err)
	must(t, s.Create(ctx, "a", v("1")))
	must(t, b.Client.HSet(ctx, s.Key(), format.LogField, strings.Repeat("x", 13)).Err())
	wantErr(t, "Set with a corrupt resend log", s.Set(ctx, "a", v("2")), attrcache.ErrCorrupt)
	_, err = s.Renew(ctx, time.Hour)
	wantErr(t, "Renew with a corrupt resend log", err, attrcache.ErrCorrupt)
	wantValue(t, s, "a", "1")
	must(t, s.End(ctx))
	_, err = st.Start(ctx, sid, time.Hour)
	must(t, err)
}
