package suite

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/attrcache/attrcache/attrcache"
)

func testLifecycle(t *testing.T, b Backend) {
	st := newStore(t, b.Client)
	sid := "sid-" + randHex(16)
	s, err := st.Start(ctx, sid, time.Hour)
	must(t, err)
	if strings.Contains(s.Key(), sid) || strings.Contains(s.Key(), sid[4:]) {
		t.Fatal("session key holds the session id in clear")
	}
	_, err = st.Start(ctx, sid, time.Hour)
	wantErr(t, "second Start", err, attrcache.ErrSessionExists)

	ttl, err := s.TTL(ctx)
	must(t, err)
	if ttl <= 0 || ttl > time.Hour {
		t.Fatalf("TTL %v, want (0, 1h]", ttl)
	}
	names, err := s.Names(ctx)
	must(t, err)
	if len(names) != 0 {
		t.Fatalf("new session has names %q", names)
	}
	must(t, s.Create(ctx, "a", v("1")))
	e := get(t, s, "a")
	exp, err := s.Renew(ctx, 2*time.Hour)
	must(t, err)
	if d := exp.Sub(e.Created); d < 2*time.Hour-time.Minute || d > 2*time.Hour+time.Minute {
		t.Fatalf("Renew expiry %v is %v after the attribute's creation, want about 2h", exp, d)
	}
	ttl, err = s.TTL(ctx)
	must(t, err)
	if ttl <= time.Hour {
		t.Fatalf("TTL after Renew(2h) is %v", ttl)
	}
	// The same id through a new handle reaches the same session.
	wantValue(t, st.Session(sid), "a", "1")

	must(t, s.End(ctx))
	wantErr(t, "Get after End", func() error { _, err := s.Get(ctx, "a"); return err }(), attrcache.ErrSessionNotFound)
	wantErr(t, "End after End", s.End(ctx), attrcache.ErrSessionNotFound)
	// A new session may take the id again and starts empty.
	s2, err := st.Start(ctx, sid, time.Hour)
	must(t, err)
	names, err = s2.Names(ctx)
	must(t, err)
	if len(names) != 0 {
		t.Fatalf("restarted session still has %q", names)
	}
}

// everyCall runs every session call once and returns their errors by
// name. End runs last.
func everyCall(s *attrcache.Session) map[string]error {
	errs := map[string]error{}
	one := []attrcache.Attr{{Name: "a", Value: v("1")}}
	errs["Create"] = s.Create(ctx, "a", v("1"))
	errs["CreateMany"] = s.CreateMany(ctx, one)
	errs["Set"] = s.Set(ctx, "a", v("1"))
	errs["SetMany"] = s.SetMany(ctx, one)
	errs["Update"] = s.Update(ctx, "a", v("1"))
	errs["UpdateMany"] = s.UpdateMany(ctx, one)
	_, errs["Get"] = s.Get(ctx, "a")
	_, errs["GetMany"] = s.GetMany(ctx, []string{"a"})
	_, errs["GetAll"] = s.GetAll(ctx)
	_, errs["Exists"] = s.Exists(ctx, "a")
	_, errs["ExistsMany"] = s.ExistsMany(ctx, []string{"a"})
	_, errs["Names"] = s.Names(ctx)
	errs["Delete"] = s.Delete(ctx, "a")
	errs["DeleteMany"] = s.DeleteMany(ctx, []string{"a"})
	errs["SetExpiry"] = s.SetExpiry(ctx, "a", time.Minute)
	errs["SetExpiryMany"] = s.SetExpiryMany(ctx, map[string]time.Duration{"a": time.Minute})
	_, errs["Renew"] = s.Renew(ctx, time.Hour)
	_, errs["TTL"] = s.TTL(ctx)
	_, errs["Incr"] = s.Incr(ctx, "n", 1)
	errs["End"] = s.End(ctx)
	return errs
}

func testMissingSession(t *testing.T, b Backend) {
	st := newStore(t, b.Client)
	s := st.Session("never-started-" + randHex(8))
	for call, err := range everyCall(s) {
		wantErr(t, call+" on a never-started session", err, attrcache.ErrSessionNotFound)
	}
	if n := b.Client.Exists(ctx, s.Key()).Val(); n != 0 {
		t.Fatal("calls on a never-started session created its key")
	}

	ended := start(t, st, time.Hour)
	must(t, ended.Create(ctx, "x", v("1")))
	must(t, ended.End(ctx))
	for call, err := range everyCall(ended) {
		wantErr(t, call+" on an ended session", err, attrcache.ErrSessionNotFound)
	}
	for f := range snapshot(t, b, ended.Key()) {
		if f != "\x00" && f != "\x01" {
			t.Fatalf("an ended session's key holds field %q", f)
		}
	}
}

func testExpiredSession(t *testing.T, b Backend) {
	st := newStore(t, b.Client)
	sid := "sid-" + randHex(16)
	s, err := st.Start(ctx, sid, 200*time.Millisecond)
	must(t, err)
	must(t, s.Create(ctx, "a", v("1")))
	b.Advance(300 * time.Millisecond)
	// The key outlives the session by a grace period (for resent
	// Starts); nothing may change it meanwhile.
	before := snapshot(t, b, s.Key())
	for call, err := range everyCall(s) {
		wantErr(t, call+" on an expired session", err, attrcache.ErrSessionNotFound)
	}
	sameSnapshot(t, "calls on an expired session", before, snapshot(t, b, s.Key()))
	if ttl := b.Client.PTTL(ctx, s.Key()).Val(); ttl > 31*time.Second {
		t.Fatalf("an expired session's key lingers %v, want at most the 30s grace", ttl)
	}
	// Its id can be started again, and the new session starts empty.
	s2, err := st.Start(ctx, sid, time.Hour)
	must(t, err)
	names, err := s2.Names(ctx)
	must(t, err)
	if len(names) != 0 {
		t.Fatalf("a session restarted after expiry holds %q", names)
	}
}

func testCreate(t *testing.T, b Backend) {
	s := start(t, newStore(t, b.Client), time.Hour)
	must(t, s.Create(ctx, "name", v("value")))
	e := wantValue(t, s, "name", "value")
	if e.Name != "name" || e.Created.IsZero() || !e.Modified.Equal(e.Created) || !e.Expires.IsZero() || e.Encrypted {
		t.Fatalf("fresh entry %+v", e)
	}
	err := s.Create(ctx, "name", v("other"))
	wantErr(t, "Create over a live attribute", err, attrcache.ErrExists)
	wantNames(t, err, "name")
	wantValue(t, s, "name", "value")

	// Empty values and binary values are values.
	must(t, s.Create(ctx, "empty", nil))
	wantValue(t, s, "empty", "")
	bin := string([]byte{0, 255, 1, '\n', 0})
	must(t, s.Create(ctx, "binary", v(bin)))
	wantValue(t, s, "binary", bin)

	must(t, s.Create(ctx, "short", v("x"), attrcache.WithExpiration(90*time.Second)))
	e = get(t, s, "short")
	if d := e.Expires.Sub(e.Created); d != 90*time.Second {
		t.Fatalf("Expires-Created = %v, want 1m30s", d)
	}
}

func testCreateExpired(t *testing.T, b Backend) {
	s := start(t, newStore(t, b.Client), time.Hour)
	must(t, s.Create(ctx, "a", v("old"), attrcache.WithExpiration(200*time.Millisecond)))
	first := get(t, s, "a")
	b.Advance(300 * time.Millisecond)
	wantAbsent(t, s, "a")
	// Reads change nothing: the expired record waits for a write's
	// reclaim, and is gone after the next write.
	if !b.Client.HExists(ctx, s.Key(), "a").Val() {
		t.Fatal("a read deleted an expired attribute")
	}
	must(t, s.Set(ctx, "other", v("1")))
	if b.Client.HExists(ctx, s.Key(), "a").Val() {
		t.Fatal("a write did not reclaim an expired attribute")
	}
	must(t, s.Delete(ctx, "other"))
	must(t, s.Create(ctx, "b", v("old"), attrcache.WithExpiration(200*time.Millisecond)))
	b.Advance(300 * time.Millisecond)
	ok, err := s.Exists(ctx, "b")
	must(t, err)
	if ok {
		t.Fatal("Exists reports an expired attribute")
	}
	// An expired attribute is replaced by Create, with new times.
	must(t, s.Create(ctx, "a", v("new")))
	e := wantValue(t, s, "a", "new")
	if !e.Created.After(first.Created) || !e.Expires.IsZero() {
		t.Fatalf("recreated entry %+v, first %+v", e, first)
	}
}

func testCreateMany(t *testing.T, b Backend) {
	s := start(t, newStore(t, b.Client), time.Hour)
	must(t, s.CreateMany(ctx, []attrcache.Attr{{Name: "a", Value: v("1")}, {Name: "b", Value: v("2")}}))
	wantValue(t, s, "a", "1")
	wantValue(t, s, "b", "2")

	before := snapshot(t, b, s.Key())
	err := s.CreateMany(ctx, []attrcache.Attr{{Name: "c", Value: v("3")}, {Name: "b", Value: v("x")}, {Name: "d", Value: v("4")}, {Name: "a", Value: v("y")}})
	wantErr(t, "CreateMany with conflicts", err, attrcache.ErrExists)
	wantNames(t, err, "b", "a")
	sameSnapshot(t, "a refused CreateMany", before, snapshot(t, b, s.Key()))
	wantAbsent(t, s, "c")

	// A batch of 100 lands whole.
	var batch []attrcache.Attr
	for i := range 100 {
		batch = append(batch, attrcache.Attr{Name: fmt.Sprintf("n%03d", i), Value: v(fmt.Sprint(i))})
	}
	must(t, s.CreateMany(ctx, batch))
	names, err := s.Names(ctx)
	must(t, err)
	if len(names) != 102 {
		t.Fatalf("%d names after a batch of 100, want 102", len(names))
	}
}

func testOverrides(t *testing.T, b Backend) {
	s := start(t, newStore(t, b.Client), time.Hour)
	err := s.CreateMany(ctx, []attrcache.Attr{
		{Name: "default", Value: v("1")},
		{Name: "forever", Value: v("2"), Options: []attrcache.WriteOption{attrcache.WithoutExpiration()}},
		{Name: "short", Value: v("3"), Options: []attrcache.WriteOption{attrcache.WithExpiration(time.Minute)}},
	}, attrcache.WithExpiration(time.Hour-time.Minute))
	must(t, err)
	m, err := s.GetMany(ctx, []string{"default", "forever", "short"})
	must(t, err)
	if d := m["default"].Expires.Sub(m["default"].Created); d != time.Hour-time.Minute {
		t.Fatalf("default expiry %v", d)
	}
	if !m["forever"].Expires.IsZero() {
		t.Fatalf("item WithoutExpiration has expiry %v", m["forever"].Expires)
	}
	if d := m["short"].Expires.Sub(m["short"].Created); d != time.Minute {
		t.Fatalf("item expiry %v, want 1m", d)
	}

	// Encryption asked by the call or by one item with no cipher: nothing written.
	before := snapshot(t, b, s.Key())
	err = s.CreateMany(ctx, []attrcache.Attr{{Name: "p", Value: v("1")}, {Name: "q", Value: v("2"), Options: []attrcache.WriteOption{attrcache.WithEncryption()}}})
	wantErr(t, "item WithEncryption without cipher", err, attrcache.ErrNoCipher)
	err = s.SetMany(ctx, []attrcache.Attr{{Name: "p", Value: v("1")}}, attrcache.WithEncryption())
	wantErr(t, "call WithEncryption without cipher", err, attrcache.ErrNoCipher)
	wantErr(t, "Create WithEncryption without cipher", s.Create(ctx, "p", v("1"), attrcache.WithEncryption()), attrcache.ErrNoCipher)
	sameSnapshot(t, "writes refused for want of a cipher", before, snapshot(t, b, s.Key()))
	// An item may turn the call's encryption off: with no cipher it is written.
	err = s.CreateMany(ctx, []attrcache.Attr{{Name: "p", Value: v("1"), Options: []attrcache.WriteOption{attrcache.WithoutEncryption()}}}, attrcache.WithEncryption())
	must(t, err)
	if e := wantValue(t, s, "p", "1"); e.Encrypted {
		t.Fatal("item WithoutEncryption stored encrypted")
	}
}
