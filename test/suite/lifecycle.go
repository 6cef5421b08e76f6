package suite

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attrcache/attrcache/attrcache"
)

// testMaxLifetime: Renew never takes a session past WithMaxLifetime, says
// so in its returned expiry, and the session ends there whatever the
// renewals.
func testMaxLifetime(t *testing.T, b Backend) {
	st := newStore(t, b.Client)
	s, err := st.Start(ctx, "sid-"+randHex(8), time.Hour, attrcache.WithMaxLifetime(900*time.Millisecond))
	must(t, err)
	ttl, err := s.TTL(ctx)
	must(t, err)
	if ttl > 900*time.Millisecond || ttl < 500*time.Millisecond {
		t.Fatalf("TTL %v of a session started for 1h with a 900ms lifetime", ttl)
	}
	exp, err := s.Renew(ctx, time.Hour)
	must(t, err)
	if d := time.Until(exp); d > 900*time.Millisecond {
		t.Fatalf("Renew(1h) returned an expiry %v away, past the 900ms lifetime", d)
	}
	if got, ok := s.Expiry(); !ok || !got.Equal(exp) {
		t.Fatalf("Expiry() = %v, %v after Renew returned %v", got, ok, exp)
	}
	must(t, s.Create(ctx, "a", v("1"), attrcache.WithExpiration(time.Hour)))
	if e := get(t, s, "a"); e.Expires.After(exp) {
		t.Fatalf("an attribute expires %v, after its session's lifetime %v", e.Expires, exp)
	}
	b.Advance(400 * time.Millisecond)
	_, err = s.Renew(ctx, time.Hour)
	must(t, err)
	b.Advance(600 * time.Millisecond)
	_, err = s.Get(ctx, "a")
	wantErr(t, "Get past the session's lifetime", err, attrcache.ErrSessionNotFound)
	_, err = s.Renew(ctx, time.Hour)
	wantErr(t, "Renew past the session's lifetime", err, attrcache.ErrSessionNotFound)

	_, err = st.Start(ctx, "sid-"+randHex(8), time.Hour, attrcache.WithMaxLifetime(0))
	wantErr(t, "Start WithMaxLifetime(0)", err, attrcache.ErrInvalid)
}

// testExpiresClamp: a read never reports an attribute's expiry after its
// session's, even when a Renew made the session shorter than the expiry
// the attribute was given.
func testExpiresClamp(t *testing.T, b Backend) {
	s := start(t, newStore(t, b.Client), time.Hour)
	must(t, s.Create(ctx, "a", v("1"), attrcache.WithExpiration(50*time.Minute)))
	exp, err := s.Renew(ctx, time.Minute)
	must(t, err)
	for _, e := range []*attrcache.Entry{get(t, s, "a"), func() *attrcache.Entry {
		all, err := s.GetAll(ctx)
		must(t, err)
		return all["a"]
	}()} {
		if e.Expires.After(exp) {
			t.Fatalf("Entry.Expires %v is after the session's expiry %v", e.Expires, exp)
		}
	}
}

// testPurge: Purge removes the key whatever it holds; End clears a session
// whose marker attrcache cannot read.
func testPurge(t *testing.T, b Backend) {
	st := newStore(t, b.Client)
	s := start(t, st, time.Hour)
	must(t, s.Create(ctx, "a", v("1")))
	must(t, s.Purge(ctx))
	if n := b.Client.Exists(ctx, s.Key()).Val(); n != 0 {
		t.Fatal("Purge left the key")
	}
	must(t, s.Purge(ctx)) // absent is fine

	junk := start(t, st, time.Hour)
	must(t, b.Client.HSet(ctx, junk.Key(), "\x00", "junk").Err())
	_, err := junk.Get(ctx, "a")
	wantErr(t, "Get with a junk marker", err, attrcache.ErrCorrupt)
	must(t, junk.End(ctx))
	_, err = junk.Get(ctx, "a")
	wantErr(t, "Get after End cleared a junk marker", err, attrcache.ErrSessionNotFound)

	// A hash with fields and no marker is corrupt too; End clears it.
	bare := st.Session("sid-" + randHex(8))
	must(t, b.Client.HSet(ctx, bare.Key(), "a", "x").Err())
	_, err = bare.GetAll(ctx)
	wantErr(t, "GetAll of a hash without a marker", err, attrcache.ErrCorrupt)
	must(t, bare.End(ctx))
	_, err = bare.GetAll(ctx)
	wantErr(t, "GetAll after End cleared a hash without a marker", err, attrcache.ErrSessionNotFound)
	wantErr(t, "End of nothing", st.Session("sid-"+randHex(8)).End(ctx), attrcache.ErrSessionNotFound)
}

// testNilOptions: a nil option in any position is ignored, never a panic.
func testNilOptions(t *testing.T, b Backend) {
	st, err := attrcache.New(b.Client, attrcache.Option{}, attrcache.WithNamespace("suite-"+randHex(4)), attrcache.Option{})
	must(t, err)
	s, err := st.Start(ctx, "sid-"+randHex(8), time.Hour, nil)
	must(t, err)
	must(t, s.Create(ctx, "a", v("1"), nil))
	must(t, s.Set(ctx, "a", v("2"), nil, attrcache.WithExpiration(time.Minute), nil))
	must(t, s.CreateMany(ctx, []attrcache.Attr{{Name: "b", Value: v("1"), Options: []attrcache.WriteOption{nil}}}, nil))
	must(t, s.SetMany(ctx, []attrcache.Attr{{Name: "b", Value: v("2"), Options: []attrcache.WriteOption{nil, nil}}}, nil))
	must(t, s.Update(ctx, "a", v("3"), nil))
	must(t, s.UpdateMany(ctx, []attrcache.Attr{{Name: "a", Value: v("4"), Options: []attrcache.WriteOption{nil}}}, nil))
	e, err := s.Get(ctx, "a", nil)
	must(t, err)
	if string(e.Value) != "4" || e.Expires.IsZero() {
		t.Fatalf("after writes with nil options: %v", e)
	}
	_, err = s.GetMany(ctx, []string{"a", "b"}, nil)
	must(t, err)
	_, err = s.GetAll(ctx, nil, nil)
	must(t, err)
	must(t, attrcache.SetJSON(ctx, s, "j", 1, nil))
	_, err = attrcache.GetJSON[int](ctx, s, "j", nil)
	must(t, err)
}

// testPartialResults: WithPartialResults returns the readable attributes
// beside an error naming the others, instead of failing the whole read.
func testPartialResults(t *testing.T, b Backend) {
	st := newStore(t, b.Client, attrcache.WithCipher(b.cipher(t)))
	sid := "sid-" + randHex(8)
	s, err := st.Start(ctx, sid, time.Hour)
	must(t, err)
	must(t, s.CreateMany(ctx, []attrcache.Attr{
		{Name: "clear", Value: v("1"), Options: []attrcache.WriteOption{attrcache.WithoutEncryption()}},
		{Name: "sealed", Value: v("2")}, {Name: "flipped", Value: v("3")},
	}, attrcache.WithEncryption()))
	rec := []byte(b.Client.HGet(ctx, s.Key(), "flipped").Val())
	rec[len(rec)-1] ^= 1
	must(t, b.Client.HSet(ctx, s.Key(), "flipped", rec, "junk", "\x20x").Err())

	_, err = s.GetAll(ctx)
	wantErr(t, "GetAll with bad records", err, attrcache.ErrCorrupt)

	// Without a cipher, the sealed values are what cannot be read.
	plain, err := attrcache.New(b.Client, attrcache.WithNamespace(st.Namespace()))
	must(t, err)
	pm, err := plain.Session(sid).GetMany(ctx, []string{"clear", "sealed"}, attrcache.WithPartialResults())
	wantErr(t, "GetMany WithPartialResults without a cipher", err, attrcache.ErrNoCipher)
	wantNames(t, err, "sealed")
	if pm == nil || string(pm["clear"].Value) != "1" || pm["sealed"] != nil {
		t.Fatalf("GetMany WithPartialResults without a cipher returned %v", pm)
	}
	for _, read := range []struct {
		what string
		do   func(...attrcache.ReadOption) (map[string]*attrcache.Entry, error)
	}{
		{"GetAll", func(o ...attrcache.ReadOption) (map[string]*attrcache.Entry, error) { return s.GetAll(ctx, o...) }},
		{"GetMany", func(o ...attrcache.ReadOption) (map[string]*attrcache.Entry, error) {
			return s.GetMany(ctx, []string{"clear", "sealed", "flipped", "junk"}, o...)
		}},
	} {
		m, err := read.do(attrcache.WithPartialResults())
		if !errors.Is(err, attrcache.ErrDecrypt) || !errors.Is(err, attrcache.ErrCorrupt) {
			t.Fatalf("%s WithPartialResults: %v, want ErrDecrypt and ErrCorrupt", read.what, err)
		}
		var ne *attrcache.NamesError
		if !errors.As(err, &ne) {
			t.Fatalf("%s: %v is not a *NamesError", read.what, err)
		}
		if string(m["clear"].Value) != "1" || string(m["sealed"].Value) != "2" || m["flipped"] != nil || m["junk"] != nil {
			t.Fatalf("%s WithPartialResults returned %v", read.what, m)
		}
		if len(ne.Names) != 1 || ne.Names[0] != "junk" {
			t.Fatalf("%s: the first error names %q, want the corrupt record", read.what, ne.Names)
		}
		if strings.Contains(err.Error(), "\x20x") {
			t.Fatal("the error quotes a stored value")
		}
	}
}

// testForeignFormat: a session written in another format (format 2, of an
// older attrcache) is ErrCorrupt, never read as something else, and End
// clears it so the id can start again.
func testForeignFormat(t *testing.T, b Backend) {
	st := newStore(t, b.Client)
	sid := "sid-" + randHex(8)
	s := st.Session(sid)
	marker := "\x02L" + strings.Repeat("\x00", 54)
	must(t, b.Client.HSet(ctx, s.Key(), "\x00", marker, "a", "\x20"+strings.Repeat("\x00", 18)+"old").Err())
	_, err := s.Get(ctx, "a")
	wantErr(t, "Get of a format 2 session", err, attrcache.ErrCorrupt)
	wantErr(t, "Set on a format 2 session", s.Set(ctx, "a", v("1")), attrcache.ErrCorrupt)
	must(t, s.End(ctx))
	_, err = st.Start(ctx, sid, time.Hour)
	must(t, err)
}

// testNameRules: names that could mislead a reader of logs are refused;
// names are compared byte for byte, not normalised.
func testNameRules(t *testing.T, b Backend) {
	s := start(t, newStore(t, b.Client), time.Hour)
	for _, bad := range []string{"admin\u202e", "\ufeffrole", "a\u200db", "x\u2066y", "\U000e0001tag", "priv\ue000", "un\U0010ffff", "a\u00adb", "a\u0085b"} {
		wantErr(t, fmt.Sprintf("Create(%+q)", bad), s.Create(ctx, bad, v("1")), attrcache.ErrInvalid)
	}
	for _, good := range []string{"café", "日本語", "emoji-🙂", "a b", "x_y-z.1:2/3"} {
		must(t, s.Create(ctx, good, v(good)))
	}
	nfd := "cafe\u0301"
	must(t, s.Create(ctx, nfd, v("decomposed")))
	wantValue(t, s, "café", "café")
	wantValue(t, s, nfd, "decomposed")
}

// testJSON: the typed helpers round-trip values, and their errors name the
// attribute but never quote the value.
func testJSON(t *testing.T, b Backend) {
	type prefs struct {
		Theme string   `json:"theme"`
		Langs []string `json:"langs"`
	}
	s := start(t, newStore(t, b.Client), time.Hour)
	in := prefs{Theme: "dark", Langs: []string{"en", "fr"}}
	must(t, attrcache.CreateJSON(ctx, s, "prefs", in))
	out, err := attrcache.GetJSON[prefs](ctx, s, "prefs")
	must(t, err)
	if out.Theme != in.Theme || !slices.Equal(out.Langs, in.Langs) {
		t.Fatalf("GetJSON = %+v", out)
	}
	wantErr(t, "CreateJSON over a live attribute", attrcache.CreateJSON(ctx, s, "prefs", in), attrcache.ErrExists)
	must(t, attrcache.SetJSON(ctx, s, "n", 42, attrcache.WithExpiration(time.Minute)))
	must(t, attrcache.UpdateJSON(ctx, s, "n", 43))
	n, err := attrcache.GetJSON[int](ctx, s, "n")
	must(t, err)
	if n != 43 {
		t.Fatalf("GetJSON[int] = %d", n)
	}

	const secret = "s3cr3t-value"
	must(t, s.Set(ctx, "notjson", v(secret+"{")))
	_, err = attrcache.GetJSON[prefs](ctx, s, "notjson")
	wantErr(t, "GetJSON of a value that is not JSON", err, attrcache.ErrCorrupt)
	wantNames(t, err, "notjson")
	must(t, s.Set(ctx, "wrongtype", v(`{"theme":"`+secret+`"}`)))
	_, err = attrcache.GetJSON[int](ctx, s, "wrongtype")
	wantErr(t, "GetJSON of the wrong type", err, attrcache.ErrCorrupt)
	err2 := attrcache.SetJSON(ctx, s, "bad", func() {})
	wantErr(t, "SetJSON of a func", err2, attrcache.ErrInvalid)
	for _, e := range []error{err, err2} {
		if strings.Contains(e.Error(), secret) {
			t.Fatalf("error quotes the value: %v", e)
		}
	}
}

// testRotate moves a session to a new id: every live attribute with its
// value, encryption, times and expiry; the old id is dead; a taken new id
// leaves the old session as it was.
func testRotate(t *testing.T, b Backend) {
	st := newStore(t, b.Client, attrcache.WithCipher(b.cipher(t)))
	s, err := st.Start(ctx, "sid-"+randHex(8), time.Hour, attrcache.WithMaxLifetime(2*time.Hour))
	must(t, err)
	must(t, s.CreateMany(ctx, []attrcache.Attr{
		{Name: "clear", Value: v("c")},
		{Name: "sealed", Value: v("secret"), Options: []attrcache.WriteOption{attrcache.WithEncryption()}},
		{Name: "short", Value: v("s"), Options: []attrcache.WriteOption{attrcache.WithExpiration(10 * time.Minute)}},
		{Name: "gone", Value: v("g"), Options: []attrcache.WriteOption{attrcache.WithExpiration(100 * time.Millisecond)}},
	}))
	b.Advance(200 * time.Millisecond)

	// A taken id: refused, the old session goes on untouched and writable.
	takenSid := "taken-" + randHex(8)
	_, err = st.Start(ctx, takenSid, time.Hour)
	must(t, err)
	snap := snapshot(t, b, s.Key())
	_, err = s.Rotate(ctx, takenSid)
	wantErr(t, "Rotate to a taken id", err, attrcache.ErrSessionExists)
	if !sameAttrFields(snap, snapshot(t, b, s.Key())) {
		t.Fatal("a refused Rotate changed the old session's attributes")
	}
	must(t, s.Set(ctx, "clear", v("c")))
	_, err = s.Rotate(ctx, "")
	wantErr(t, "Rotate to an empty id", err, attrcache.ErrInvalid)

	before, err := s.GetAll(ctx)
	must(t, err)
	ttl0, err := s.TTL(ctx)
	must(t, err)

	newSid := attrcache.NewSessionID()
	ns, err := s.Rotate(ctx, newSid)
	must(t, err)
	after, err := ns.GetAll(ctx)
	must(t, err)
	if len(after) != 3 {
		t.Fatalf("rotated session holds %d attributes, want 3", len(after))
	}
	for name, e := range before {
		f := after[name]
		if f == nil || !bytes.Equal(f.Value, e.Value) || f.Encrypted != e.Encrypted || !f.Created.Equal(e.Created) ||
			!f.Modified.Equal(e.Modified) || !f.Expires.Equal(e.Expires) {
			t.Fatalf("%s moved from %v to %v", name, e, f)
		}
	}
	// The sealed value was sealed again: the stored bytes differ, and the
	// old ciphertext does not open under the new id.
	raw, err := ns.Get(ctx, "sealed", attrcache.WithoutDecryption())
	must(t, err)
	if strings.Contains(string(raw.Value), "secret") {
		t.Fatal("the moved ciphertext holds the plaintext")
	}
	ttl1, err := ns.TTL(ctx)
	must(t, err)
	if ttl1 > ttl0 || ttl0-ttl1 > time.Minute {
		t.Fatalf("TTL %v after the rotation, %v before: the deadline moved", ttl1, ttl0)
	}
	old := s
	// The new session is an ordinary session.
	must(t, ns.Create(ctx, "new", v("n")))
	exp, err := ns.Renew(ctx, 10*time.Hour)
	must(t, err)
	if time.Until(exp) > 2*time.Hour {
		t.Fatalf("the rotated session renews to %v, past its 2h lifetime", time.Until(exp))
	}
	_, err = ns.Rotate(ctx, newSid)
	wantErr(t, "Rotate to its own id", err, attrcache.ErrInvalid)

	// Every call on the old id fails as on an ended session, but End:
	// a logout with the old id, sent while the rotation ran, ends the
	// session under its new id too.
	for call, err := range everyCall(old) {
		if call == "End" {
			must(t, err)
			continue
		}
		wantErr(t, call+" on the old id after Rotate", err, attrcache.ErrSessionNotFound)
	}
	_, err = ns.Get(ctx, "new")
	wantErr(t, "Get on the new id after End on the old", err, attrcache.ErrSessionNotFound)
	wantErr(t, "End on the old id once more", old.End(ctx), attrcache.ErrSessionNotFound)
}

// sameAttrFields compares the attribute fields of two snapshots of a
// session hash (the marker and the resend log aside).
func sameAttrFields(a, b map[string]string) bool {
	n := 0
	for k, v := range a {
		if k[0] < 0x20 {
			continue
		}
		n++
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	for k := range b {
		if k[0] >= 0x20 {
			n--
		}
	}
	return n == 0
}
