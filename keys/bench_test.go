package keys_test

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyderivation"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/attrcache/attrcache/keys"
)

// benchAD is associated data shaped like attrcache's: a namespace, a
// 43-byte base64url session digest and an attribute name.
func benchAD(session int) []byte {
	d := strconv.Itoa(session)
	for len(d) < 43 {
		d += "x"
	}
	return ad("attrcache", d, "roles")
}

// benchKeyset is a keyset rotated a few times, as in production: the cost
// must not grow with the number of old keys.
func benchKeyset(b *testing.B) *keyset.Handle {
	h := generate(b)
	for range 3 {
		var err error
		if h, _, err = keys.Rotate(h); err != nil {
			b.Fatal(err)
		}
	}
	return h
}

// BenchmarkEnvelopeEncrypt seals a 256-byte value. hit: the session's data
// key is cached; miss: the key is derived on every call.
func BenchmarkEnvelopeEncrypt(b *testing.B) {
	pt := make([]byte, 256)
	b.Run("hit", func(b *testing.B) {
		e := envelope(b, benchKeyset(b))
		a := benchAD(1)
		b.SetBytes(int64(len(pt)))
		var ct []byte
		for b.Loop() {
			var err error
			if ct, err = e.Encrypt(pt, a); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(ct)-len(pt)), "overhead-bytes")
	})
	b.Run("miss", func(b *testing.B) {
		e := envelope(b, benchKeyset(b))
		ads := make([][]byte, 1<<16)
		for i := range ads {
			ads[i] = benchAD(i)
		}
		b.SetBytes(int64(len(pt)))
		i := 0
		var ct []byte
		for b.Loop() {
			var err error
			// 65,536 sessions in turn through a 10,000-key cache: every
			// call misses and evicts.
			if ct, err = e.Encrypt(pt, ads[i&(len(ads)-1)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(len(ct)-len(pt)), "overhead-bytes")
	})
	b.Run("hit-parallel", func(b *testing.B) {
		e := envelope(b, benchKeyset(b))
		ads := make([][]byte, 1000)
		for i := range ads {
			ads[i] = benchAD(i)
		}
		b.SetBytes(int64(len(pt)))
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := e.Encrypt(pt, ads[i%len(ads)]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
}

// BenchmarkEnvelopeDecrypt opens a 256-byte value, its session's data key
// cached (hit) or not (miss).
func BenchmarkEnvelopeDecrypt(b *testing.B) {
	pt := make([]byte, 256)
	b.Run("hit", func(b *testing.B) {
		e := envelope(b, benchKeyset(b))
		a := benchAD(1)
		ct := seal(b, e, pt, a)
		b.SetBytes(int64(len(pt)))
		for b.Loop() {
			if _, err := e.Decrypt(ct, a); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(ct)-len(pt)), "overhead-bytes")
	})
	b.Run("miss", func(b *testing.B) {
		h := benchKeyset(b)
		sealer := envelope(b, h)
		ads := make([][]byte, 1<<13)
		cts := make([][]byte, len(ads))
		for i := range ads {
			ads[i] = benchAD(i)
			cts[i] = seal(b, sealer, pt, ads[i])
		}
		// 8,192 sessions in turn through a 1,024-key cache: every call
		// misses.
		e := envelope(b, h, keys.WithCacheSize(1024))
		b.SetBytes(int64(len(pt)))
		i := 0
		for b.Loop() {
			j := i & (len(cts) - 1)
			if _, err := e.Decrypt(cts[j], ads[j]); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(len(cts[0])-len(pt)), "overhead-bytes")
	})
}

// BenchmarkBaseline measures what the Envelope is compared with: Tink's
// per-value KMS envelope (with a local AEAD standing in for the KMS), and a
// cache miss done through keyderivation's DeriveKeyset and aead.New instead
// of Envelope's own HKDF step.
func BenchmarkBaseline(b *testing.B) {
	pt := make([]byte, 256)
	a := benchAD(1)
	kekHandle, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		b.Fatal(err)
	}
	kek, err := aead.New(kekHandle)
	if err != nil {
		b.Fatal(err)
	}
	env := aead.NewKMSEnvelopeAEAD2(aead.AES256GCMKeyTemplate(), kek)
	b.Run("kms-envelope-seal", func(b *testing.B) {
		var ct []byte
		for b.Loop() {
			if ct, err = env.Encrypt(pt, a); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(ct)-len(pt)), "overhead-bytes")
	})
	b.Run("kms-envelope-open", func(b *testing.B) {
		ct, err := env.Encrypt(pt, a)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := env.Decrypt(ct, a); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tink-derive-keyset-miss", func(b *testing.B) {
		// One key: DeriveKeyset derives every enabled key, so a rotated
		// keyset would cost a multiple of this.
		deriver, err := keyderivation.New(generate(b))
		if err != nil {
			b.Fatal(err)
		}
		ads := make([][]byte, 1<<12)
		for i := range ads {
			ads[i] = benchAD(i)
		}
		i := 0
		for b.Loop() {
			a := ads[i&(len(ads)-1)]
			dh, err := deriver.DeriveKeyset(scopeOf(a))
			if err != nil {
				b.Fatal(err)
			}
			p, err := aead.New(dh)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := p.Encrypt(pt, a); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// scopeOf is the associated data up to its last NUL byte.
func scopeOf(ad []byte) []byte {
	return ad[:bytes.LastIndexByte(ad, 0)]
}
