package test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/keys"
	"github.com/attrcache/attrcache/test/redistest"
	"github.com/attrcache/attrcache/test/suite"
)

func envelope(t testing.TB, h *keyset.Handle) *keys.Envelope {
	t.Helper()
	e, err := keys.NewEnvelope(h)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestEnvelopeOnRealRedis runs the encryption tests with the envelope
// cipher of package keys on a real redis-server: every write path, the
// per-item overrides both ways, and ciphertexts swapped between fields,
// copied to another session, flipped and truncated in Redis.
func TestEnvelopeOnRealRedis(t *testing.T) {
	t.Parallel()
	s := redistest.StartServer(t)
	suite.RunEncryption(t, suite.Backend{
		Client:    s.Client(t),
		NewClient: func() redis.UniversalClient { return redis.NewClient(s.Options()) },
		Advance:   time.Sleep,
		Cipher: func(t testing.TB) attrcache.Cipher {
			h, err := keys.Generate()
			if err != nil {
				t.Fatal(err)
			}
			return envelope(t, h)
		},
	})
}

// TestKeyRotation writes under key A, rotates to B, and reads: old values
// open under the rotated keyset while new ones are sealed with B; once A
// is disabled its values fail with ErrDecrypt naming them, and the reason
// says the key is disabled.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	a, err := keys.Generate()
	must(t, err)
	store := func(h *keyset.Handle) *attrcache.Store {
		st, err := attrcache.New(rdb, attrcache.WithNamespace("rotation"), attrcache.WithCipher(envelope(t, h)))
		must(t, err)
		return st
	}
	const sid = "rotation-session"
	sa, err := store(a).Start(ctx, sid, time.Hour)
	must(t, err)
	must(t, sa.CreateMany(ctx, []attrcache.Attr{{Name: "old1", Value: []byte("one")}, {Name: "old2", Value: []byte("two")}}, attrcache.WithEncryption()))
	keyA := envelope(t, a).PrimaryKeyID()

	b, keyB, err := keys.Rotate(a)
	must(t, err)
	sb := store(b).Session(sid)
	must(t, sb.Create(ctx, "new", []byte("three"), attrcache.WithEncryption()))
	m, err := sb.GetMany(ctx, []string{"old1", "old2", "new"})
	must(t, err)
	for name, want := range map[string]string{"old1": "one", "old2": "two", "new": "three"} {
		if string(m[name].Value) != want {
			t.Fatalf("after rotation %s reads %d bytes, not the value written", name, len(m[name].Value))
		}
	}
	for name, want := range map[string]uint32{"old1": keyA, "new": keyB} {
		raw, err := sb.Get(ctx, name, attrcache.WithoutDecryption())
		must(t, err)
		if id, ok := keys.CiphertextKeyID(raw.Value); !ok || id != want {
			t.Fatalf("%s is sealed under key %d, want %d", name, id, want)
		}
	}
	// Processes still on the old keyset open values sealed under B only
	// once they load it: staged rollouts add first, promote later.
	if _, err := sa.Get(ctx, "new"); !errors.Is(err, attrcache.ErrDecrypt) {
		t.Fatalf("a value sealed under the new key opened with the old keyset: %v", err)
	}

	disabled, err := keys.Disable(b, keyA)
	must(t, err)
	sd := store(disabled).Session(sid)
	if e, err := sd.Get(ctx, "new"); err != nil || string(e.Value) != "three" {
		t.Fatalf("value under the new key after disabling the old one: %v", err)
	}
	_, err = sd.GetMany(ctx, []string{"old1", "old2", "new"})
	if !errors.Is(err, attrcache.ErrDecrypt) || !errors.Is(err, keys.ErrKeyDisabled) {
		t.Fatalf("values under a disabled key: %v, want ErrDecrypt for a disabled key", err)
	}
	var ne *attrcache.NamesError
	if !errors.As(err, &ne) || len(ne.Names) != 2 || ne.Names[0] != "old1" || ne.Names[1] != "old2" {
		t.Fatalf("error %v does not name old1 and old2", err)
	}
	t.Logf("disabled-key error: %v", err)

	// WithPartialResults: the values under the live key come back, the
	// error names the others, so the application can drop them instead
	// of losing the session.
	for _, read := range []func() (map[string]*attrcache.Entry, error){
		func() (map[string]*attrcache.Entry, error) {
			return sd.GetMany(ctx, []string{"old1", "old2", "new"}, attrcache.WithPartialResults())
		},
		func() (map[string]*attrcache.Entry, error) { return sd.GetAll(ctx, attrcache.WithPartialResults()) },
	} {
		m, err := read()
		if !errors.Is(err, attrcache.ErrDecrypt) || !errors.Is(err, keys.ErrKeyDisabled) {
			t.Fatalf("partial read under a disabled key: %v", err)
		}
		if !errors.As(err, &ne) || len(ne.Names) != 2 {
			t.Fatalf("partial read error %v does not name old1 and old2", err)
		}
		if m == nil || string(m["new"].Value) != "three" || m["old1"] != nil || m["old2"] != nil {
			t.Fatalf("partial read returned %v", m)
		}
	}
	must(t, sd.DeleteMany(ctx, ne.Names))
	if _, err := sd.GetAll(ctx); err != nil {
		t.Fatalf("GetAll after dropping the undecryptable attributes: %v", err)
	}
}

// scriptCounter counts the scripts a client sends.
type scriptCounter struct{ n atomic.Int64 }

func (c *scriptCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *scriptCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		switch cmd.Name() {
		case "fcall", "evalsha", "eval":
			c.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (c *scriptCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// scriptedServer starts a server and returns a client that counts the
// scripts it sends, and a cipher with a new keyset.
func scriptedServer(t *testing.T) (*redis.Client, *scriptCounter, attrcache.Cipher) {
	t.Helper()
	rdb := redistest.StartServer(t).Client(t)
	scripts := &scriptCounter{}
	rdb.AddHook(scripts)
	h, err := keys.Generate()
	must(t, err)
	return rdb, scripts, envelope(t, h)
}

// TestSealedBatchKeepsExpiries: an UpdateMany of sealed values that keep
// their records' own expiry keeps every one of them, whatever the batch's
// size; a batch of 64 or more reads the expiries first and runs one
// script where a smaller one runs two (the first answers RESEAL).
func TestSealedBatchKeepsExpiries(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 30*time.Second)
	rdb, scripts, cipher := scriptedServer(t)
	st := newStore(t, rdb, attrcache.WithCipher(cipher))
	for _, c := range []struct{ n, scripts int64 }{{3, 2}, {64, 1}, {200, 1}} {
		s, err := st.Start(ctx, attrcache.NewSessionID(), time.Hour)
		must(t, err)
		attrs := make([]attrcache.Attr, c.n)
		names := make([]string, c.n)
		for i := range attrs {
			names[i] = fmt.Sprintf("a%03d", i)
			attrs[i] = attrcache.Attr{Name: names[i], Value: []byte("old"),
				Options: []attrcache.WriteOption{attrcache.WithExpiration(time.Duration(10+i) * time.Minute)}}
		}
		must(t, s.CreateMany(ctx, attrs, attrcache.WithEncryption()))
		before, err := s.GetMany(ctx, names)
		must(t, err)
		for i := range attrs {
			attrs[i] = attrcache.Attr{Name: names[i], Value: []byte(fmt.Sprintf("new %d", i))}
		}
		sent := scripts.n.Load()
		must(t, s.UpdateMany(ctx, attrs, attrcache.WithEncryption()))
		if got := scripts.n.Load() - sent; got != c.scripts {
			t.Errorf("a sealed UpdateMany of %d keeping expiries ran %d scripts, want %d", c.n, got, c.scripts)
		}
		after, err := s.GetMany(ctx, names)
		must(t, err)
		for i, name := range names {
			e := after[name]
			switch {
			case e == nil:
				t.Fatalf("batch of %d: %s is gone after UpdateMany", c.n, name)
			case string(e.Value) != fmt.Sprintf("new %d", i) || !e.Encrypted:
				t.Fatalf("batch of %d: %s reads %d bytes, encrypted %v", c.n, name, len(e.Value), e.Encrypted)
			case !e.Expires.Equal(before[name].Expires):
				t.Fatalf("batch of %d: %s expires at %v after UpdateMany, %v before", c.n, name, e.Expires, before[name].Expires)
			}
		}
	}
}

// TestSetExpiryOfSealedNames: when the Store seals a name (WithSealed),
// SetExpiry goes straight to reading the record and replacing it sealed
// for the new expiry, one script; a record sealed by WithEncryption alone
// takes the set-expiry script first, which answers RESEAL.
func TestSetExpiryOfSealedNames(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t, 30*time.Second)
	rdb, scripts, cipher := scriptedServer(t)
	byName := newStore(t, rdb, attrcache.WithCipher(cipher), attrcache.WithSealed("token"))
	byCall := newStore(t, rdb, attrcache.WithCipher(cipher))
	for _, c := range []struct {
		name    string
		st      *attrcache.Store
		scripts int64
	}{{"WithSealed", byName, 1}, {"WithEncryption", byCall, 2}} {
		s, err := c.st.Start(ctx, attrcache.NewSessionID(), time.Hour)
		must(t, err)
		must(t, s.Create(ctx, "token", []byte("secret"), attrcache.WithEncryption()))
		sent := scripts.n.Load()
		must(t, s.SetExpiry(ctx, "token", 10*time.Minute))
		if got := scripts.n.Load() - sent; got != c.scripts {
			t.Errorf("%s: SetExpiry of a sealed value ran %d scripts, want %d", c.name, got, c.scripts)
		}
		e, err := s.Get(ctx, "token")
		must(t, err)
		if string(e.Value) != "secret" || !e.Encrypted || time.Until(e.Expires) < 9*time.Minute || time.Until(e.Expires) > 10*time.Minute {
			t.Errorf("%s: after SetExpiry(10m) the value reads %d bytes, encrypted %v, expiring in %v",
				c.name, len(e.Value), e.Encrypted, time.Until(e.Expires))
		}
	}
}
