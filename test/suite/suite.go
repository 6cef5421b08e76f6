// Package suite is attrcache's behaviour suite: every row of the semantics
// table of the design, run against any backend. The attrcache unit tests
// run it on miniredis; package test runs it on a real redis-server, on a
// Redis Cluster and behind Sentinel.
package suite

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/internal/format"
)

// Backend is what the suite runs on.
type Backend struct {
	// Client runs the store's scripts and the suite's raw checks.
	Client redis.UniversalClient
	// NewClient returns another client on the same server(s), for
	// wrapping with hooks. It is closed by the suite.
	NewClient func() redis.UniversalClient
	// Advance moves the server's clock forward by d: miniredis jumps,
	// a real server is waited for.
	Advance func(d time.Duration)
	// Cipher makes the cipher of the encryption tests; nil means a fresh
	// Tink AES-256-GCM AEAD (TinkCipher).
	Cipher func(testing.TB) attrcache.Cipher
	// Store, when set, makes the Stores under test in place of
	// attrcache.New on Client: a Store on another client of the same
	// server(s), such as rueidisstore's. Client still serves the raw
	// checks and the Stores a test makes beside the one under test. The
	// tests that hook the Store's own go-redis client skip.
	Store func(t testing.TB, opts ...attrcache.Option) *attrcache.Store
}

// stores maps a Backend's Client to its Store function while Run runs,
// so that newStore(t, b.Client) builds the Store under test.
var stores sync.Map

// useStore registers b.Store for the rest of the test.
func (b Backend) useStore(t *testing.T) {
	if b.Store == nil {
		return
	}
	stores.Store(b.Client, b.Store)
	t.Cleanup(func() { stores.Delete(b.Client) })
}

// skipHooked skips a test that needs a go-redis hook on the client of the
// Store under test.
func (b Backend) skipHooked(t *testing.T) {
	if b.Store != nil {
		t.Skip("needs a go-redis hook on the Store's own client; the Store under test runs on another client")
	}
}

func (b Backend) cipher(t testing.TB) attrcache.Cipher {
	if b.Cipher != nil {
		return b.Cipher(t)
	}
	return TinkCipher(t)
}

// RunEncryption runs the tests that seal values: every write path with
// per-item overrides in both directions, raw reads, and ciphertexts
// moved, swapped, flipped or cut in Redis.
func RunEncryption(t *testing.T, b Backend) {
	b.useStore(t)
	t.Run("Encryption", func(t *testing.T) { testEncryption(t, b) })
	t.Run("NoCipherRead", func(t *testing.T) { testNoCipherRead(t, b) })
}

// Run runs every behaviour test on b.
func Run(t *testing.T, b Backend) {
	b.useStore(t)
	t.Run("Lifecycle", func(t *testing.T) { testLifecycle(t, b) })
	t.Run("MissingSession", func(t *testing.T) { testMissingSession(t, b) })
	t.Run("ExpiredSession", func(t *testing.T) { testExpiredSession(t, b) })
	t.Run("Create", func(t *testing.T) { testCreate(t, b) })
	t.Run("CreateExpired", func(t *testing.T) { testCreateExpired(t, b) })
	t.Run("CreateMany", func(t *testing.T) { testCreateMany(t, b) })
	t.Run("Overrides", func(t *testing.T) { testOverrides(t, b) })
	t.Run("Encryption", func(t *testing.T) { testEncryption(t, b) })
	t.Run("NoCipherRead", func(t *testing.T) { testNoCipherRead(t, b) })
	t.Run("Set", func(t *testing.T) { testSet(t, b) })
	t.Run("Update", func(t *testing.T) { testUpdate(t, b) })
	t.Run("Reads", func(t *testing.T) { testReads(t, b) })
	t.Run("Names", func(t *testing.T) { testNames(t, b) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, b) })
	t.Run("SetExpiry", func(t *testing.T) { testSetExpiry(t, b) })
	t.Run("Clamp", func(t *testing.T) { testClamp(t, b) })
	t.Run("Renew", func(t *testing.T) { testRenew(t, b) })
	t.Run("BadInput", func(t *testing.T) { testBadInput(t, b) })
	t.Run("Limits", func(t *testing.T) { testLimits(t, b) })
	t.Run("Corrupt", func(t *testing.T) { testCorrupt(t, b) })
	t.Run("Resend", func(t *testing.T) { testResend(t, b) })
	t.Run("ResendAfterExpiry", func(t *testing.T) { testResendAfterExpiry(t, b) })
	t.Run("OneRoundTrip", func(t *testing.T) { testOneRoundTrip(t, b) })
	t.Run("ConcurrentCreate", func(t *testing.T) { testConcurrentCreate(t, b) })
	t.Run("ConcurrentCreateMany", func(t *testing.T) { testConcurrentCreateMany(t, b) })
	t.Run("ExactlyOnce", func(t *testing.T) { testExactlyOnce(t, b) })
	t.Run("ByteLimits", func(t *testing.T) { testByteLimits(t, b) })
	t.Run("Counters", func(t *testing.T) { testCounters(t, b) })
	t.Run("Reclaim", func(t *testing.T) { testReclaim(t, b) })
	t.Run("MaxLifetime", func(t *testing.T) { testMaxLifetime(t, b) })
	t.Run("ExpiresClamp", func(t *testing.T) { testExpiresClamp(t, b) })
	t.Run("Purge", func(t *testing.T) { testPurge(t, b) })
	t.Run("NilOptions", func(t *testing.T) { testNilOptions(t, b) })
	t.Run("PartialResults", func(t *testing.T) { testPartialResults(t, b) })
	t.Run("ForeignFormat", func(t *testing.T) { testForeignFormat(t, b) })
	t.Run("NameRules", func(t *testing.T) { testNameRules(t, b) })
	t.Run("JSON", func(t *testing.T) { testJSON(t, b) })
	t.Run("Rotate", func(t *testing.T) { testRotate(t, b) })
	t.Run("SealIntegrity", func(t *testing.T) { testSealIntegrity(t, b) })
	t.Run("Incr", func(t *testing.T) { testIncr(t, b) })
	t.Run("OwnExpiry", func(t *testing.T) { testOwnExpiry(t, b) })
	t.Run("StartWithAttrs", func(t *testing.T) { testStartWithAttrs(t, b) })
	t.Run("ResendLog", func(t *testing.T) { testResendLog(t, b) })
	t.Run("Users", func(t *testing.T) { testUsers(t, b) })
}

var ctx = context.Background()

// newStore returns a store in a namespace of its own.
func newStore(t *testing.T, rdb attrcache.Client, opts ...attrcache.Option) *attrcache.Store {
	t.Helper()
	opts = append([]attrcache.Option{attrcache.WithNamespace("suite-" + randHex(4))}, opts...)
	if f, ok := stores.Load(rdb); ok {
		return f.(func(testing.TB, ...attrcache.Option) *attrcache.Store)(t, opts...)
	}
	st, err := attrcache.New(rdb, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// start begins a fresh session.
func start(t *testing.T, st *attrcache.Store, ttl time.Duration) *attrcache.Session {
	t.Helper()
	s, err := st.Start(ctx, "sid-"+randHex(16), ttl)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func wantNames(t *testing.T, err error, names ...string) {
	t.Helper()
	var ne *attrcache.NamesError
	if !errors.As(err, &ne) {
		t.Fatalf("error %v is not a *NamesError", err)
	}
	if !slices.Equal(ne.Names, names) {
		t.Fatalf("error names %q, want %q", ne.Names, names)
	}
}

func get(t *testing.T, s *attrcache.Session, name string) *attrcache.Entry {
	t.Helper()
	e, err := s.Get(ctx, name)
	if err != nil {
		t.Fatalf("Get(%q): %v", name, err)
	}
	return e
}

func wantValue(t *testing.T, s *attrcache.Session, name, value string) *attrcache.Entry {
	t.Helper()
	e := get(t, s, name)
	if string(e.Value) != value {
		t.Fatalf("Get(%q) value of %d bytes differs from the %d bytes written", name, len(e.Value), len(value))
	}
	return e
}

func wantAbsent(t *testing.T, s *attrcache.Session, name string) {
	t.Helper()
	_, err := s.Get(ctx, name)
	wantErr(t, "Get("+name+")", err, attrcache.ErrNotFound)
}

// snapshot is the session's hash and whether its key exists, for
// "nothing was written" checks.
func snapshot(t *testing.T, b Backend, key string) map[string]string {
	t.Helper()
	m, err := b.Client.HGetAll(ctx, key).Result()
	if err != nil {
		t.Fatalf("HGETALL: %v", err)
	}
	return m
}

func sameSnapshot(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	if !maps.Equal(before, after) {
		t.Fatalf("%s changed the session hash (%d fields before, %d after)", what, len(before), len(after))
	}
}

func v(s string) []byte { return []byte(s) }

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

// TinkCipher returns a fresh Tink AES-256-GCM AEAD: any tink.AEAD is a
// Cipher.
func TinkCipher(t testing.TB) attrcache.Cipher {
	t.Helper()
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	a, err := aead.New(h)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func testEncryption(t *testing.T, b Backend) {
	st := newStore(t, b.Client, attrcache.WithCipher(b.cipher(t)))
	s := start(t, st, time.Hour)
	secret := "plaintext-" + randHex(8)
	must(t, s.Create(ctx, "one", v(secret), attrcache.WithEncryption()))
	must(t, s.CreateMany(ctx, []attrcache.Attr{
		{Name: "sealed", Value: v(secret)},
		{Name: "clear", Value: v(secret), Options: []attrcache.WriteOption{attrcache.WithoutEncryption()}},
	}, attrcache.WithEncryption()))
	must(t, s.SetMany(ctx, []attrcache.Attr{
		{Name: "set-sealed", Value: v(secret), Options: []attrcache.WriteOption{attrcache.WithEncryption()}},
		{Name: "set-clear", Value: v(secret)},
	}))
	for _, name := range []string{"one", "sealed", "set-sealed"} {
		if e := wantValue(t, s, name, secret); !e.Encrypted {
			t.Fatalf("%s not flagged encrypted", name)
		}
		raw, err := s.Get(ctx, name, attrcache.WithoutDecryption())
		must(t, err)
		if !raw.Encrypted || bytes.Contains(raw.Value, v(secret)) {
			t.Fatalf("%s read WithoutDecryption holds the plaintext", name)
		}
	}
	for _, name := range []string{"clear", "set-clear"} {
		if e := wantValue(t, s, name, secret); e.Encrypted {
			t.Fatalf("%s flagged encrypted", name)
		}
	}
	// Update of an encrypted attribute in clear, and back.
	must(t, s.Update(ctx, "one", v("now clear")))
	if e := wantValue(t, s, "one", "now clear"); e.Encrypted {
		t.Fatal("Update without WithEncryption kept the encrypted flag")
	}
	// The sealed bytes never reach Redis in clear.
	for f, rec := range snapshot(t, b, s.Key()) {
		if (f == "sealed" || f == "set-sealed") && strings.Contains(rec, secret) {
			t.Fatalf("field %s holds the plaintext", f)
		}
	}
	all, err := s.GetAll(ctx)
	must(t, err)
	if string(all["sealed"].Value) != secret {
		t.Fatal("GetAll did not decrypt")
	}
	// A ciphertext moved to another attribute or session does not open.
	rec := b.Client.HGet(ctx, s.Key(), "sealed").Val()
	must(t, b.Client.HSet(ctx, s.Key(), "moved", rec).Err())
	_, err = s.Get(ctx, "moved")
	wantErr(t, "Get of a ciphertext moved to another name", err, attrcache.ErrDecrypt)
	wantNames(t, err, "moved")
	other := start(t, st, time.Hour)
	must(t, b.Client.HSet(ctx, other.Key(), "sealed", rec).Err())
	_, err = other.Get(ctx, "sealed")
	wantErr(t, "Get of a ciphertext moved to another session", err, attrcache.ErrDecrypt)
	// Two sealed fields swapped: neither opens under the other's name.
	one := b.Client.HGet(ctx, s.Key(), "set-sealed").Val()
	must(t, b.Client.HSet(ctx, s.Key(), "set-sealed", rec, "swapped", one).Err())
	_, err = s.GetMany(ctx, []string{"set-sealed", "swapped"})
	wantErr(t, "GetMany of swapped ciphertexts", err, attrcache.ErrDecrypt)
	wantNames(t, err, "set-sealed", "swapped")
	// Truncated: inside the ciphertext it does not open; inside the header
	// it is corrupt.
	head, _ := format.HeaderLen(rec)
	for cut, want := range map[int]error{len(rec) - 1: attrcache.ErrDecrypt, 30: attrcache.ErrDecrypt, head - 1: attrcache.ErrCorrupt} {
		must(t, b.Client.HSet(ctx, s.Key(), "cut", rec[:cut]).Err())
		_, err = s.Get(ctx, "cut")
		wantErr(t, fmt.Sprintf("Get of a ciphertext cut to %d bytes", cut), err, want)
	}
	must(t, s.Delete(ctx, "cut"))
	flipped := []byte(rec)
	flipped[len(flipped)-1] ^= 1
	must(t, b.Client.HSet(ctx, s.Key(), "sealed", flipped).Err())
	_, err = s.Get(ctx, "sealed")
	wantErr(t, "Get of a flipped ciphertext", err, attrcache.ErrDecrypt)
	_, err = s.GetAll(ctx)
	wantErr(t, "GetAll with a bad ciphertext", err, attrcache.ErrDecrypt)
	raw, err := s.Get(ctx, "sealed", attrcache.WithoutDecryption())
	must(t, err)
	if !raw.Encrypted {
		t.Fatal("raw read lost the encrypted flag")
	}
}

// testNoCipherRead reads encrypted values through a store without a
// cipher: opening them is ErrNoCipher, reading them raw works.
func testNoCipherRead(t *testing.T, b Backend) {
	sid := "sid-" + randHex(8)
	sealed := newStore(t, b.Client, attrcache.WithCipher(b.cipher(t)))
	s, err := sealed.Start(ctx, sid, time.Hour)
	must(t, err)
	must(t, s.Create(ctx, "a", v("secret"), attrcache.WithEncryption()))
	plain, err := attrcache.New(b.Client, attrcache.WithNamespace(sealed.Namespace()))
	must(t, err)
	p := plain.Session(sid)
	_, err = p.Get(ctx, "a")
	wantErr(t, "Get of an encrypted value without cipher", err, attrcache.ErrNoCipher)
	e, err := p.Get(ctx, "a", attrcache.WithoutDecryption())
	must(t, err)
	if !e.Encrypted || string(e.Value) == "secret" {
		t.Fatal("raw read without cipher")
	}
}

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

func testCorrupt(t *testing.T, b Backend) {
	s := start(t, newStore(t, b.Client), time.Hour)
	must(t, s.Create(ctx, "good", v("1")))
	plants := map[string]string{
		"short":   "\x3fabc", // a header of 19 bytes
		"version": "\x80" + strings.Repeat("\x00", 30),
		"empty":   "",
	}
	for f, rec := range plants {
		must(t, b.Client.HSet(ctx, s.Key(), f, rec).Err())
	}
	for f := range plants {
		_, err := s.Get(ctx, f)
		wantErr(t, "Get of corrupt "+f, err, attrcache.ErrCorrupt)
		wantNames(t, err, f)
		wantErr(t, "Create over corrupt "+f, s.Create(ctx, f, v("x")), attrcache.ErrCorrupt)
		wantErr(t, "Set over corrupt "+f, s.Set(ctx, f, v("x")), attrcache.ErrCorrupt)
		wantErr(t, "Update of corrupt "+f, s.Update(ctx, f, v("x")), attrcache.ErrCorrupt)
		wantErr(t, "SetExpiry of corrupt "+f, s.SetExpiry(ctx, f, time.Minute), attrcache.ErrCorrupt)
		_, err = s.Exists(ctx, f)
		wantErr(t, "Exists of corrupt "+f, err, attrcache.ErrCorrupt)
	}
	_, err := s.GetAll(ctx)
	wantErr(t, "GetAll with corrupt records", err, attrcache.ErrCorrupt)
	_, err = s.GetMany(ctx, []string{"good", "short"})
	wantErr(t, "GetMany with a corrupt record", err, attrcache.ErrCorrupt)
	// Delete clears corrupt records.
	must(t, s.DeleteMany(ctx, []string{"short", "version", "empty"}))
	wantValue(t, s, "good", "1")

	// A marker attrcache did not write, and a key of the wrong type.
	bad := start(t, newStore(t, b.Client), time.Hour)
	must(t, b.Client.HSet(ctx, bad.Key(), "\x00", "junk").Err())
	_, err = bad.Get(ctx, "good")
	wantErr(t, "Get with a corrupt marker", err, attrcache.ErrCorrupt)
	str := newStore(t, b.Client).Session("wrong-type")
	must(t, b.Client.Set(ctx, str.Key(), "not a hash", time.Minute).Err())
	// Every call fails but End, which runs last and clears the corrupt
	// key, so the id can be started again.
	for call, err := range everyCall(str) {
		if call == "End" {
			must(t, err)
			continue
		}
		wantErr(t, call+" on a key of the wrong type", err, attrcache.ErrCorrupt)
	}
	if typ := b.Client.Type(ctx, str.Key()).Val(); typ != "hash" {
		t.Fatalf("End left a key of type %s", typ)
	}
	wantErr(t, "Get after End cleared a corrupt key", func() error { _, err := str.Get(ctx, "a"); return err }(), attrcache.ErrSessionNotFound)
	_, err = newStore(t, b.Client, attrcache.WithNamespace(strings.SplitN(str.Key(), ":s:", 2)[0])).Start(ctx, "wrong-type", time.Hour)
	must(t, err)
}

// twice is a hook that sends each script twice and returns the second
// reply: the server runs the write twice while the caller sees one call,
// as when go-redis resends after a lost reply.
type twice struct{ advance func(time.Duration) }

func (twice) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h twice) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := cmd.Name(); name != "evalsha" && name != "eval" && name != "fcall" {
			return next(ctx, cmd)
		}
		if err := next(ctx, cmd); err != nil {
			return err
		}
		h.advance(5 * time.Millisecond)
		return next(ctx, cmd)
	}
}
func (twice) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func testResend(t *testing.T, b Backend) {
	b.skipHooked(t)
	rdb := b.NewClient()
	defer rdb.Close()
	rdb.AddHook(twice{advance: b.Advance})
	st := newStore(t, rdb)
	s, err := st.Start(ctx, "sid-"+randHex(8), time.Hour)
	must(t, err)
	must(t, s.Create(ctx, "a", v("1"), attrcache.WithExpiration(time.Minute)))
	a := wantValue(t, s, "a", "1")
	must(t, s.CreateMany(ctx, []attrcache.Attr{{Name: "b", Value: v("2")}, {Name: "c", Value: v("3")}}))
	must(t, s.Set(ctx, "b", v("22")))
	must(t, s.Update(ctx, "c", v("33")))
	must(t, s.UpdateMany(ctx, []attrcache.Attr{{Name: "b", Value: v("222")}, {Name: "c", Value: v("333")}}))
	m, err := s.GetMany(ctx, []string{"b", "c"})
	must(t, err)
	if string(m["b"].Value) != "222" || string(m["c"].Value) != "333" {
		t.Fatal("resent writes lost a value")
	}
	must(t, s.SetExpiry(ctx, "a", 2*time.Minute))
	e := get(t, s, "a")
	if d := e.Expires.Sub(a.Created); d < 2*time.Minute || d > 2*time.Minute+time.Second {
		t.Fatalf("a resent SetExpiry moved expiry to %v after creation", d)
	}
	n, err := s.Incr(ctx, "n", 5)
	must(t, err)
	if n != 5 {
		t.Fatalf("a resent Incr returned %d, want 5", n)
	}
	wantValue(t, s, "n", "5")
	must(t, s.Delete(ctx, "a"))
	must(t, s.End(ctx))
	_, err = s.Names(ctx)
	wantErr(t, "Names after a resent End", err, attrcache.ErrSessionNotFound)
}

// testResendAfterExpiry resends writes whose expiry passes before the
// resend arrives: the resend must still recognise its first run, neither
// failing nor writing again (which would make the attribute or session
// live past the expiry the caller asked for).
func testResendAfterExpiry(t *testing.T, b Backend) {
	b.skipHooked(t)
	rdb := b.NewClient()
	defer rdb.Close()
	rdb.AddHook(twice{advance: func(time.Duration) { b.Advance(150 * time.Millisecond) }})
	st := newStore(t, rdb)
	plain, err := attrcache.New(b.Client, attrcache.WithNamespace(st.Namespace()))
	must(t, err)
	const d = 100 * time.Millisecond

	sid := "sid-" + randHex(8)
	_, err = st.Start(ctx, sid, d)
	must(t, err)
	_, err = plain.Session(sid).Names(ctx)
	wantErr(t, "a session whose Start was resent after its end", err, attrcache.ErrSessionNotFound)

	sid = "sid-" + randHex(8)
	p, err := plain.Start(ctx, sid, time.Hour)
	must(t, err)
	must(t, p.CreateMany(ctx, []attrcache.Attr{{Name: "u", Value: v("1")}, {Name: "x", Value: v("1")}}))
	s := st.Session(sid)
	must(t, s.Create(ctx, "c", v("1"), attrcache.WithExpiration(d)))
	must(t, s.Set(ctx, "s", v("1"), attrcache.WithExpiration(d)))
	must(t, s.Update(ctx, "u", v("2"), attrcache.WithExpiration(d)))
	must(t, s.SetExpiry(ctx, "x", d))
	for _, name := range []string{"c", "s", "u", "x"} {
		wantAbsent(t, p, name)
	}
}

// counter counts commands and pipelined commands sent to Redis, and
// keeps the name of the last.
type counter struct {
	n    atomic.Int64
	last atomic.Value // string
}

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		c.last.Store(cmd.Name())
		return next(ctx, cmd)
	}
}
func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		c.last.Store(cmds[len(cmds)-1].Name())
		return next(ctx, cmds)
	}
}

func testOneRoundTrip(t *testing.T, b Backend) {
	b.skipHooked(t)
	rdb := b.NewClient()
	defer rdb.Close()
	c := &counter{}
	rdb.AddHook(c)
	st := newStore(t, rdb, attrcache.WithCipher(b.cipher(t)))
	batch := func(prefix string) []attrcache.Attr {
		out := make([]attrcache.Attr, 100)
		for i := range out {
			out[i] = attrcache.Attr{Name: fmt.Sprintf("%s%03d", prefix, i), Value: v("value")}
		}
		return out
	}
	names := func(prefix string) []string {
		out := make([]string, 100)
		for i := range out {
			out[i] = fmt.Sprintf("%s%03d", prefix, i)
		}
		return out
	}
	expiries := map[string]time.Duration{}
	for _, n := range names("m") {
		expiries[n] = time.Minute
	}
	var s *attrcache.Session
	calls := []struct {
		name string
		fn   func() error
	}{
		{"Start", func() error { var err error; s, err = st.Start(ctx, "sid-"+randHex(8), time.Hour); return err }},
		{"Create", func() error { return s.Create(ctx, "one", v("1"), attrcache.WithEncryption()) }},
		{"CreateMany(100)", func() error { return s.CreateMany(ctx, batch("m"), attrcache.WithEncryption()) }},
		{"Set", func() error { return s.Set(ctx, "one", v("2")) }},
		{"SetMany(100)", func() error { return s.SetMany(ctx, batch("m")) }},
		{"Update", func() error { return s.Update(ctx, "one", v("3")) }},
		{"UpdateMany(100)", func() error { return s.UpdateMany(ctx, batch("m")) }},
		{"Get", func() error { _, err := s.Get(ctx, "one"); return err }},
		{"GetMany(100)", func() error { _, err := s.GetMany(ctx, names("m")); return err }},
		{"GetAll", func() error { _, err := s.GetAll(ctx); return err }},
		{"Exists", func() error { _, err := s.Exists(ctx, "one"); return err }},
		{"ExistsMany(100)", func() error { _, err := s.ExistsMany(ctx, names("m")); return err }},
		{"Names", func() error { _, err := s.Names(ctx); return err }},
		{"SetExpiry", func() error { return s.SetExpiry(ctx, "one", time.Minute) }},
		{"SetExpiryMany(100)", func() error { return s.SetExpiryMany(ctx, expiries) }},
		{"Delete", func() error { return s.Delete(ctx, "one") }},
		{"DeleteMany(100)", func() error { return s.DeleteMany(ctx, names("m")) }},
		{"Renew", func() error { _, err := s.Renew(ctx, time.Hour); return err }},
		{"TTL", func() error { _, err := s.TTL(ctx); return err }},
		{"End", func() error { return s.End(ctx) }},
	}
	// First pass loads the scripts (EVALSHA, NOSCRIPT, EVAL); the second counts.
	for pass := range 2 {
		for _, call := range calls {
			c.n.Store(0)
			if err := call.fn(); err != nil {
				t.Fatalf("pass %d %s: %v", pass, call.name, err)
			}
			if n := c.n.Load(); pass == 1 && n != 1 {
				t.Errorf("%s sent %d commands, want 1", call.name, n)
			}
			// Reads are plain commands, never scripts.
			last, _ := c.last.Load().(string)
			read := strings.HasPrefix(call.name, "Get") || strings.HasPrefix(call.name, "Exists") || call.name == "Names" || call.name == "TTL"
			script := last == "evalsha" || last == "eval" || last == "fcall"
			if pass == 1 && read == script {
				t.Errorf("%s sent %s", call.name, last)
			}
		}
	}
}

func testConcurrentCreate(t *testing.T, b Backend) {
	s := start(t, newStore(t, b.Client), time.Hour)
	const n = 50
	var wg sync.WaitGroup
	var won, lost atomic.Int64
	var other atomic.Value
	for i := range n {
		wg.Go(func() {
			err := s.Create(ctx, "contended", v(fmt.Sprint(i)))
			switch {
			case err == nil:
				won.Add(1)
			case errors.Is(err, attrcache.ErrExists):
				lost.Add(1)
			default:
				other.Store(err)
			}
		})
	}
	wg.Wait()
	if err := other.Load(); err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if won.Load() != 1 || lost.Load() != n-1 {
		t.Fatalf("%d creates won and %d lost, want 1 and %d", won.Load(), lost.Load(), n-1)
	}
}

func testConcurrentCreateMany(t *testing.T, b Backend) {
	s := start(t, newStore(t, b.Client), time.Hour)
	const n = 50
	// Goroutine i creates k[i], k[i+1], k[i+2] with value "g<i>":
	// neighbouring batches overlap.
	name := func(i int) string { return fmt.Sprintf("k%02d", i) }
	ok := make([]bool, n)
	var wg sync.WaitGroup
	var other atomic.Value
	for i := range n {
		wg.Go(func() {
			val := v(fmt.Sprintf("g%d", i))
			err := s.CreateMany(ctx, []attrcache.Attr{{Name: name(i), Value: val}, {Name: name(i + 1), Value: val}, {Name: name(i + 2), Value: val}})
			switch {
			case err == nil:
				ok[i] = true
			case !errors.Is(err, attrcache.ErrExists):
				other.Store(err)
			}
		})
	}
	wg.Wait()
	if err := other.Load(); err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	all, err := s.GetAll(ctx)
	must(t, err)
	won := 0
	for i := range n {
		want := fmt.Sprintf("g%d", i)
		held := 0
		for j := i; j < i+3; j++ {
			if e := all[name(j)]; e != nil && string(e.Value) == want {
				held++
			}
		}
		switch {
		case ok[i] && held != 3:
			t.Fatalf("batch %d succeeded but holds %d of its 3 names", i, held)
		case !ok[i] && held != 0:
			t.Fatalf("batch %d failed but wrote %d of its names", i, held)
		}
		if ok[i] {
			won++
		}
	}
	if won == 0 {
		t.Fatal("no batch landed")
	}
	for nm, e := range all {
		var g int
		if _, err := fmt.Sscanf(string(e.Value), "g%d", &g); err != nil || !ok[g] {
			t.Fatalf("%s holds a value of a failed batch", nm)
		}
	}
}
