package keys

import (
	"bytes"
	"crypto/hkdf"
	"strings"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead/aesgcm"
	"github.com/tink-crypto/tink-go/v2/keyderivation/prfbasedkeyderivation"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf/hkdfprf"
)

// sha512Keyset makes a KEK keyset whose PRF is HKDF-SHA512 with a salt,
// which KeyTemplate does not make but Tink allows.
func sha512Keyset(t *testing.T) *keyset.Handle {
	t.Helper()
	prfParams, err := hkdfprf.NewParameters(32, hkdfprf.SHA512, []byte("prf salt"))
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := aesgcm.NewParameters(aesgcm.ParametersOpts{KeySizeInBytes: 32, IVSizeInBytes: 12, TagSizeInBytes: 16, Variant: aesgcm.VariantTink})
	if err != nil {
		t.Fatal(err)
	}
	params, err := prfbasedkeyderivation.NewParameters(prfParams, gcm)
	if err != nil {
		t.Fatal(err)
	}
	m := keyset.NewManager()
	id, err := m.AddNewKeyFromParameters(params)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetPrimary(id); err != nil {
		t.Fatal(err)
	}
	h, err := m.Handle()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestExpandIsHKDF holds kek.expand to crypto/hkdf.Expand; NewEnvelope's
// self-check holds it to Tink.
func TestExpandIsHKDF(t *testing.T) {
	h256, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]*keyset.Handle{"SHA256": h256, "SHA512": sha512Keyset(t)} {
		e, err := NewEnvelope(h)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		k := e.primary
		for _, info := range []string{"", "a", "attrcache\x00digest", strings.Repeat("x", 200)} {
			want, err := hkdf.Expand(k.newHash, k.prk, info, dekSize)
			if err != nil {
				t.Fatal(err)
			}
			// Twice, to go through a pooled HMAC as well.
			for range 2 {
				if got := k.expand([]byte(info)); !bytes.Equal(got, want) {
					t.Fatalf("%s: expand(%q) differs from HKDF-Expand", name, info)
				}
			}
		}
		ad := []byte("ns\x00s\x00n")
		ct, err := e.Encrypt([]byte("v"), ad)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Decrypt(ct, ad); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

func TestSelfCheckCatchesDrift(t *testing.T) {
	h, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	entry, err := h.Primary()
	if err != nil {
		t.Fatal(err)
	}
	k, err := newKEK(entry, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := selfCheck(h, map[uint32]*kek{k.id: k}); err != nil {
		t.Fatal(err)
	}
	k, err = newKEK(entry, "")
	if err != nil {
		t.Fatal(err)
	}
	k.prk[0] ^= 1 // before any HMAC is keyed with it
	if err := selfCheck(h, map[uint32]*kek{k.id: k}); err == nil {
		t.Fatal("self-check passed with a wrong derivation")
	}
}
