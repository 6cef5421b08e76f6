// Package suite is attrcache's behaviour suite: every row of the semantics
// table of the design, run against any backend. The attrcache unit tests
// run it on miniredis; package test runs it on a real redis-server, on a
// Redis Cluster and behind Sentinel.
package suite

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
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
