package attrcache_test

import (
	"context"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/attrcache/attrcache/attrcache"
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

// The seed's first scenario: a user logs in and the application hangs one
// attribute off the new session.
func Example_create() {
	rdb, done := exampleClient()
	defer done()
	ctx := context.Background()

	store, err := attrcache.New(rdb)
	if err != nil {
		panic(err)
	}
	// The session id is whatever the SSO tier issued at login (the UST).
	sess, err := store.Start(ctx, "ust-0a1b2c3d4e5f", 30*time.Minute)
	if err != nil {
		panic(err)
	}
	if err := sess.Create(ctx, "my-attribute", []byte("my-value")); err != nil {
		panic(err)
	}

	e, err := sess.Get(ctx, "my-attribute")
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s = %s\n", e.Name, e.Value)

	// A second Create of a live name is refused: use Set to replace.
	err = sess.Create(ctx, "my-attribute", []byte("other"))
	fmt.Println(err)
	// Output:
	// my-attribute = my-value
	// attrcache: attribute already exists: my-attribute
}

// The seed's second scenario: three attributes in one call, one encrypted
// and one expiring, each overriding the call's defaults; then read them
// back, list, update, delete and end the session.
func Example_createMany() {
	rdb, done := exampleClient()
	defer done()
	ctx := context.Background()

	// Any tink.AEAD is a Cipher; package keys provides the envelope cipher
	// production code should use.
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		panic(err)
	}
	cipher, err := aead.New(h)
	if err != nil {
		panic(err)
	}
	store, err := attrcache.New(rdb, attrcache.WithCipher(cipher))
	if err != nil {
		panic(err)
	}
	sess, err := store.Start(ctx, "ust-9f8e7d6c5b4a", time.Hour)
	if err != nil {
		panic(err)
	}

	err = sess.CreateMany(ctx, []attrcache.Attr{
		{Name: "my-attr1", Value: []byte("my-value1")},
		{Name: "my-attr2", Value: []byte("my-value2"), Options: []attrcache.WriteOption{attrcache.WithEncryption()}},
		{Name: "my-attr3", Value: []byte("my-value3"), Options: []attrcache.WriteOption{attrcache.WithExpiration(time.Hour)}},
	})
	if err != nil {
		panic(err)
	}

	m, err := sess.GetMany(ctx, []string{"my-attr1", "my-attr2", "my-attr3", "my-attr4"})
	if err != nil {
		panic(err)
	}
	for _, name := range []string{"my-attr1", "my-attr2", "my-attr3", "my-attr4"} {
		if e := m[name]; e != nil {
			fmt.Printf("%s = %s (encrypted: %t, expires: %t)\n", name, e.Value, e.Encrypted, !e.Expires.IsZero())
		} else {
			fmt.Printf("%s absent\n", name)
		}
	}

	names, _ := sess.Names(ctx)
	fmt.Println(names)

	_ = sess.Update(ctx, "my-attr1", []byte("new-value1"))
	e, _ := sess.Get(ctx, "my-attr1")
	fmt.Printf("%s = %s\n", e.Name, e.Value)

	_ = sess.Delete(ctx, "my-attr3")
	names, _ = sess.Names(ctx)
	fmt.Println(names)

	_ = sess.End(ctx)
	_, err = sess.Get(ctx, "my-attr1")
	fmt.Println(err)
	// Output:
	// my-attr1 = my-value1 (encrypted: false, expires: false)
	// my-attr2 = my-value2 (encrypted: true, expires: false)
	// my-attr3 = my-value3 (encrypted: false, expires: true)
	// my-attr4 absent
	// [my-attr1 my-attr2 my-attr3]
	// my-attr1 = new-value1
	// [my-attr1 my-attr2]
	// attrcache: session not found
}
