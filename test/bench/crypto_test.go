package bench

import (
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/keys"
)

// sealedValueSize is the value size of the encryption benchmarks.
const sealedValueSize = 256

// headerSize is the attrcache record header (see attrcache/record.go):
// a stored plaintext record is headerSize+len(value) bytes.
const headerSize = 19

// tinkAEAD is a plain Tink AES-256-GCM AEAD: one key for every value.
func tinkAEAD(b *testing.B) attrcache.Cipher {
	b.Helper()
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		b.Fatal(err)
	}
	a, err := aead.New(h)
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// envelope is the cipher of package keys: a data key derived per session
// from a key-derivation keyset.
func envelope(b *testing.B) attrcache.Cipher {
	b.Helper()
	h, err := keys.Generate()
	if err != nil {
		b.Fatal(err)
	}
	env, err := keys.NewEnvelope(h)
	if err != nil {
		b.Fatal(err)
	}
	return env
}

// cipherCase is one way of storing values: in clear (cipher nil) or
// sealed with cipher.
type cipherCase struct {
	name   string
	cipher attrcache.Cipher
}

func cipherCases(b *testing.B) []cipherCase {
	return []cipherCase{
		{"plaintext", nil},
		{"tink-aes256gcm", tinkAEAD(b)},
		{"keys-envelope", envelope(b)},
	}
}

// store returns a Store on e's client for c, and the write options that
// make it seal.
func (c cipherCase) store(b *testing.B, e *env) (*attrcache.Store, []attrcache.WriteOption) {
	b.Helper()
	if c.cipher == nil {
		return e.store, nil
	}
	st, err := attrcache.New(e.rdb, attrcache.WithLimits(bigLimits), attrcache.WithCipher(c.cipher))
	if err != nil {
		b.Fatal(err)
	}
	return st, []attrcache.WriteOption{attrcache.WithEncryption()}
}

// reportStored reports the stored size of sess's attribute name and what
// sealing added to the plaintext record.
func reportStored(b *testing.B, sess *session, name string, valueLen int) {
	b.Helper()
	n, err := sess.rdb.HStrLen(ctx, sess.Key(), name).Result()
	if err != nil || n == 0 {
		b.Fatalf("HSTRLEN %s: %d, %v", name, n, err)
	}
	b.ReportMetric(float64(n), "stored-B/value")
	b.ReportMetric(float64(n-int64(headerSize+valueLen)), "extra-B/value")
}

// BenchmarkEncrypted: Create and CreateMany(100) of sealedValueSize-byte
// values, in clear and sealed by a Tink AES-256-GCM AEAD and by
// keys.Envelope. Sessions grow to perSession attributes and are emptied
// outside the timer, as in BenchmarkCreate; the Envelope meets each new
// session's scope once.
func BenchmarkEncrypted(b *testing.B) {
	e := newEnv(b)
	cases := cipherCases(b)
	ns, v := names(perSession), value(sealedValueSize)
	batch := attrs(ns, v)
	b.Run("Create", func(b *testing.B) {
		for _, c := range cases {
			b.Run(c.name, func(b *testing.B) {
				st, opts := c.store(b, e)
				sess := e.sessionOf(b, st)
				loop(b, e.rdb, writeCmds, perSession, func() { sess.empty(b) }, func(i int) error {
					return sess.Create(ctx, ns[i], v, opts...)
				})
				reportStored(b, sess, ns[0], len(v))
			})
		}
	})
	b.Run("CreateMany-100", func(b *testing.B) {
		for _, c := range cases {
			b.Run(c.name, func(b *testing.B) {
				st, opts := c.store(b, e)
				sess := e.sessionOf(b, st)
				loop(b, e.rdb, writeCmds, 1, func() { sess.empty(b) }, func(int) error {
					return sess.CreateMany(ctx, batch, opts...)
				})
				reportStored(b, sess, ns[0], len(v))
			})
		}
	})
}
