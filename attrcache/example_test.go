package attrcache_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/keys"
)

// exampleClient stands in for the go-redis client an application already
// has; here it talks to an in-process miniredis.
func exampleClient() (*redis.Client, func()) {
	mr, err := miniredis.Run()
	if err != nil {
		panic(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	return rdb, func() { rdb.Close(); mr.Close() }
}

// exampleCipher is the envelope cipher of package keys, on a fresh
// keyset; a service reads its keyset from a file or the environment
// (keys.ReadFile, keys.ReadEnv, or package config).
func exampleCipher() attrcache.Cipher {
	kek, err := keys.Generate()
	if err != nil {
		panic(err)
	}
	c, err := keys.NewEnvelope(kek)
	if err != nil {
		panic(err)
	}
	return c
}

// A Store lives on the client the application already has; options set
// the key namespace, the cipher, the logger and the limits.
func ExampleNew() {
	rdb, done := exampleClient()
	defer done()

	store, err := attrcache.New(rdb,
		attrcache.WithNamespace("sso"),
		attrcache.WithCipher(exampleCipher()),
		attrcache.WithLogger(slog.New(slog.DiscardHandler)),
		attrcache.WithLimits(attrcache.Limits{MaxAttributes: 200}),
	)
	if err != nil {
		panic(err)
	}
	fmt.Println(store.Namespace())
	// Output:
	// sso
}

// At login: a fresh id, a session that lives 30 minutes unless renewed
// and 12 hours at most whatever the renewals.
func ExampleStore_Start() {
	rdb, done := exampleClient() // README: rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379", ContextTimeoutEnabled: true})
	defer done()                 // README: -
	ctx := context.Background()
	store, _ := attrcache.New(rdb)

	sid := attrcache.NewSessionID() // 256 bits from crypto/rand: the cookie's value
	sess, err := store.Start(ctx, sid, 30*time.Minute, attrcache.WithMaxLifetime(12*time.Hour))
	if err != nil {
		panic(err)
	}
	ttl, _ := sess.TTL(ctx)
	fmt.Println(len(sid), ttl.Round(time.Minute))

	_, err = store.Start(ctx, sid, 30*time.Minute)
	fmt.Println(errors.Is(err, attrcache.ErrSessionExists))
	// Output:
	// 43 30m0s
	// true
}

// The product page's first scenario: one attribute on a session.
func ExampleSession_Create() {
	rdb, done := exampleClient()
	defer done()
	ctx := context.Background()
	store, _ := attrcache.New(rdb)
	sess, _ := store.Start(ctx, attrcache.NewSessionID(), 30*time.Minute)

	if err := sess.Create(ctx, "my-attribute", []byte("my-value")); err != nil {
		panic(err)
	}
	e, _ := sess.Get(ctx, "my-attribute")
	fmt.Printf("%s = %s\n", e.Name, e.Value)

	// A second Create of a live name is refused: Set replaces.
	err := sess.Create(ctx, "my-attribute", []byte("other"))
	var ne *attrcache.NamesError
	fmt.Println(errors.Is(err, attrcache.ErrExists), errors.As(err, &ne), ne.Names)
	// Output:
	// my-attribute = my-value
	// true true [my-attribute]
}

// The product page's second scenario: three attributes in one atomic
// call, one sealed with the envelope cipher of package keys and one
// expiring, each overriding the call's defaults.
func ExampleSession_CreateMany() {
	rdb, done := exampleClient() // README: -
	defer done()                 // README: -
	ctx := context.Background()
	store, _ := attrcache.New(rdb, attrcache.WithCipher(exampleCipher())) // README: store, _ := attrcache.New(rdb, attrcache.WithCipher(envelope)) // keys.NewEnvelope(kek)
	sess, _ := store.Start(ctx, attrcache.NewSessionID(), time.Hour)

	err := sess.CreateMany(ctx, []attrcache.Attr{
		{Name: "my-attr1", Value: []byte("my-value1")},
		{Name: "my-attr2", Value: []byte("my-value2"), Options: []attrcache.WriteOption{attrcache.WithEncryption()}},
		{Name: "my-attr3", Value: []byte("my-value3"), Options: []attrcache.WriteOption{attrcache.WithExpiration(time.Hour)}},
	})
	if err != nil {
		panic(err)
	}
	m, _ := sess.GetMany(ctx, []string{"my-attr1", "my-attr2", "my-attr3", "my-attr4"})
	for _, name := range []string{"my-attr1", "my-attr2", "my-attr3", "my-attr4"} {
		if e := m[name]; e != nil {
			fmt.Printf("%s = %s (encrypted: %t, expires: %t)\n", name, e.Value, e.Encrypted, !e.Expires.IsZero())
		} else {
			fmt.Printf("%s absent\n", name)
		}
	}
	// The stored bytes of the sealed one are a Tink ciphertext.
	raw, _ := sess.Get(ctx, "my-attr2", attrcache.WithoutDecryption())
	fmt.Println(len(raw.Value) - len("my-value2"))
	// Output:
	// my-attr1 = my-value1 (encrypted: false, expires: false)
	// my-attr2 = my-value2 (encrypted: true, expires: false)
	// my-attr3 = my-value3 (encrypted: false, expires: true)
	// my-attr4 absent
	// 33
}

// Reads tell "absent" from "session gone" with errors.Is.
func ExampleSession_Get() {
	rdb, done := exampleClient()
	defer done()
	ctx := context.Background()
	store, _ := attrcache.New(rdb)
	sess, _ := store.Start(ctx, attrcache.NewSessionID(), time.Hour)
	_ = sess.Create(ctx, "role", []byte("editor"))

	e, err := sess.Get(ctx, "role")
	fmt.Println(string(e.Value), err)
	_, err = sess.Get(ctx, "cart")
	fmt.Println(errors.Is(err, attrcache.ErrNotFound))
	_ = sess.End(ctx)
	_, err = sess.Get(ctx, "role")
	fmt.Println(errors.Is(err, attrcache.ErrSessionNotFound))
	// Output:
	// editor <nil>
	// true
	// true
}

// Set creates or replaces, keeping Created; without WithExpiration a
// replaced attribute keeps its expiry.
func ExampleSession_Set() {
	rdb, done := exampleClient()
	defer done()
	ctx := context.Background()
	store, _ := attrcache.New(rdb)
	sess, _ := store.Start(ctx, attrcache.NewSessionID(), time.Hour)

	_ = sess.Set(ctx, "cart", []byte("1 item"), attrcache.WithExpiration(20*time.Minute))
	first, _ := sess.Get(ctx, "cart")
	_ = sess.Set(ctx, "cart", []byte("2 items"))
	e, _ := sess.Get(ctx, "cart")
	fmt.Println(string(e.Value), e.Created.Equal(first.Created), e.Expires.Equal(first.Expires))
	// Output:
	// 2 items true true
}

// At a change of privilege (a login on a session that existed before, a
// step-up), move the session to a new id: the old id is dead, every
// attribute moves with its encryption, times and expiry.
func ExampleSession_Rotate() {
	rdb, done := exampleClient()
	defer done()
	ctx := context.Background()
	store, _ := attrcache.New(rdb, attrcache.WithCipher(exampleCipher()))
	sess, _ := store.Start(ctx, attrcache.NewSessionID(), time.Hour)
	_ = sess.Create(ctx, "csrf", []byte("seed"), attrcache.WithEncryption())

	rotated, err := sess.Rotate(ctx, attrcache.NewSessionID())
	if err != nil {
		panic(err)
	}
	e, _ := rotated.Get(ctx, "csrf")
	fmt.Println(string(e.Value), e.Encrypted)
	_, err = sess.Get(ctx, "csrf")
	fmt.Println(errors.Is(err, attrcache.ErrSessionNotFound))
	// Output:
	// seed true
	// true
}

// Typed values: any JSON-encodable Go value.
func ExampleGetJSON() {
	rdb, done := exampleClient()
	defer done()
	ctx := context.Background()
	store, _ := attrcache.New(rdb)
	sess, _ := store.Start(ctx, attrcache.NewSessionID(), time.Hour)

	type profile struct {
		Roles []string `json:"roles"`
		MFA   bool     `json:"mfa"`
	}
	_ = attrcache.SetJSON(ctx, sess, "profile", profile{Roles: []string{"admin"}, MFA: true})
	p, err := attrcache.GetJSON[profile](ctx, sess, "profile")
	fmt.Println(p.Roles, p.MFA, err)
	// Output:
	// [admin] true <nil>
}

// The near cache: repeated reads of an unchanged session answer from the
// application's memory; writes on this Store evict the session, and
// Redis invalidates it for everyone else.
func ExampleNewNearCache() {
	near := attrcache.NewNearCache(redis.CacheConfig{MaxEntries: 100_000, MaxStaleness: 5 * time.Second})
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", Protocol: 3, ClientSideCache: near})
	defer rdb.Close()
	store, err := attrcache.New(rdb)
	if err != nil {
		panic(err)
	}
	_ = store // reads through store are cached; near.Stats() counts hits and misses
}

// A counter in a session, safe from concurrent requests: Incr is atomic
// as Redis's HINCRBY is, and the value reads back as decimal text.
func ExampleSession_Incr() {
	rdb, done := exampleClient() // README: -
	defer done()                 // README: -
	ctx := context.Background()
	store, _ := attrcache.New(rdb)
	sess, _ := store.Start(ctx, attrcache.NewSessionID(), 30*time.Minute)

	n, _ := sess.Incr(ctx, "cart-items", 2)
	n, _ = sess.Incr(ctx, "cart-items", 1, attrcache.WithExpiration(time.Hour))
	e, _ := sess.Get(ctx, "cart-items")
	fmt.Println(n, string(e.Value))
	// Output:
	// 3 3
}

// Users: attributes every session of a user shares, the user's live
// sessions, and "log out everywhere else".
func ExampleUser_EndSessions() {
	rdb, done := exampleClient() // README: -
	defer done()                 // README: -
	ctx := context.Background()
	store, _ := attrcache.New(rdb, attrcache.WithMaxSessions(5, attrcache.EndOldest))
	alice := store.User("alice@example.com") // no I/O; only a digest of the id reaches Redis

	// Two logins: the ids carry alice's slot, so her sessions, her
	// registry and her attributes change together, in one script.
	laptop, _ := store.Start(ctx, alice.NewSessionID(), time.Hour, attrcache.WithUser("alice@example.com"))
	phone, _ := store.Start(ctx, alice.NewSessionID(), time.Hour, attrcache.WithUser("alice@example.com"))
	_ = alice.Set(ctx, "theme", []byte("dark")) // shared by both sessions, kept after they end

	refs, _ := alice.Sessions(ctx)
	fmt.Println("live sessions:", len(refs))

	// The password changed on the laptop: end every other session.
	n, _ := alice.EndSessions(ctx, laptop)
	_, err := phone.Get(ctx, "anything")
	fmt.Println("ended:", n, errors.Is(err, attrcache.ErrSessionNotFound))
	e, _ := alice.Get(ctx, "theme")
	fmt.Println("theme:", string(e.Value))
	// Output:
	// live sessions: 2
	// ended: 1 true
	// theme: dark
}
