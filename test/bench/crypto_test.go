package bench

import (
	"testing"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/keys"
	"github.com/attrcache/attrcache/test/suite"
)

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

// sealedValueSize is the value size of BenchmarkEncrypted.
const sealedValueSize = 256

// BenchmarkEncrypted: Create of a sealedValueSize-byte value sealed
// (WithEncryption) vs in clear, each in a quiet session of sessionAttrs
// attributes, one per call, with a Tink AES-256-GCM AEAD and with
// keys.Envelope (which derives a key per session). Sealing is the
// client's work: the server stores 33 bytes more.
func BenchmarkEncrypted(b *testing.B) {
	e := newEnv(b)
	v := value(sealedValueSize)
	for _, c := range []struct {
		name   string
		cipher attrcache.Cipher
	}{{"tink-aes256gcm", suite.TinkCipher(b)}, {"keys-envelope", envelope(b)}} {
		b.Run(c.name, func(b *testing.B) {
			st := newStore(b, e.rdb, attrcache.WithCipher(c.cipher))
			p := e.pools(b, calls+1, e.unbound(st, typical()), e.unbound(st, typical()))
			sealed, clear := p[0], p[1]
			compare(b, e, calls,
				side{cmds: writeCmds, op: func(i int) error { return sealed[i].Create(ctx, "fresh", v, attrcache.WithEncryption()) }},
				side{cmds: writeCmds, op: func(i int) error { return clear[i].Create(ctx, "fresh", v) }})
		})
	}
}
