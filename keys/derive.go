package keys

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"sync"

	"github.com/tink-crypto/tink-go/v2/aead/aesgcm"
	"github.com/tink-crypto/tink-go/v2/insecuresecretdataaccess"
	"github.com/tink-crypto/tink-go/v2/keyderivation"
	"github.com/tink-crypto/tink-go/v2/keyderivation/prfbasedkeyderivation"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf/hkdfprf"
	"github.com/tink-crypto/tink-go/v2/secretdata"
	"github.com/tink-crypto/tink-go/v2/tink"
)

const (
	// prefixSize is Tink's output prefix: a version byte and the key id.
	prefixSize = 5
	nonceSize  = 12
	tagSize    = 16
	dekSize    = 32

	// Overhead is how many bytes Envelope.Encrypt adds to a plaintext:
	// Tink's 5-byte key prefix, the 12-byte nonce and the 16-byte tag.
	Overhead = prefixSize + nonceSize + tagSize
)

// Type URLs named in errors and listings.
const (
	derivationKeyType = "type.googleapis.com/google.crypto.tink.PrfBasedDeriverKey"
	aesGCMKeyType     = "type.googleapis.com/google.crypto.tink.AesGcmKey"
)

// kek is one enabled key of the KEK keyset, ready to derive data keys.
type kek struct {
	id      uint32
	variant byte // first prefix byte: 1 for TINK, 0 for CRUNCHY
	newHash func() hash.Hash
	prk     []byte // HKDF-Extract(prfSalt, prfKey), secret
	params  *aesgcm.Parameters
	// macs holds HMAC(prk) states ready for reuse: keying an HMAC costs
	// more than the rest of HKDF-Expand.
	macs sync.Pool
}

// newKEK checks that e is a key Envelope can derive AES-256-GCM data keys
// with and precomputes the HKDF extract step.
func newKEK(e *keyset.Entry, typeURL string) (*kek, error) {
	id := e.KeyID()
	dk, ok := e.Key().(*prfbasedkeyderivation.Key)
	if !ok {
		return nil, fmt.Errorf("%w: key %d is %s; the envelope needs %s keys (HKDF-SHA256 PRF deriving AES256_GCM keys): make such a keyset with '%s' (an AEAD keyset can serve as the master that encrypts it instead)",
			ErrUnsupportedKeyset, id, typeURL, derivationKeyType, kekCommand)
	}
	prfKey, ok := dk.PRFKey().(*hkdfprf.Key)
	if !ok {
		return nil, fmt.Errorf("%w: key %d derives with a PRF other than HKDF; Tink derives keys only with HKDF", ErrUnsupportedKeyset, id)
	}
	prfParams, ok := prfKey.Parameters().(*hkdfprf.Parameters)
	if !ok {
		return nil, fmt.Errorf("%w: key %d has unexpected HKDF parameters", ErrUnsupportedKeyset, id)
	}
	var newHash func() hash.Hash
	switch prfParams.HashType() {
	case hkdfprf.SHA256:
		newHash = sha256.New
	case hkdfprf.SHA512:
		newHash = sha512.New
	default:
		return nil, fmt.Errorf("%w: key %d uses HKDF with %s; Tink derives keys with SHA256 or SHA512 only", ErrUnsupportedKeyset, id, prfParams.HashType())
	}
	dkParams, ok := dk.Parameters().(*prfbasedkeyderivation.Parameters)
	if !ok {
		return nil, fmt.Errorf("%w: key %d has unexpected derivation parameters", ErrUnsupportedKeyset, id)
	}
	gcm, ok := dkParams.DerivedKeyParameters().(*aesgcm.Parameters)
	if !ok || gcm.KeySizeInBytes() != dekSize || gcm.IVSizeInBytes() != nonceSize || gcm.TagSizeInBytes() != tagSize {
		return nil, fmt.Errorf("%w: key %d does not derive AES256_GCM keys (32-byte key, 12-byte nonce, 16-byte tag)", ErrUnsupportedKeyset, id)
	}
	var variant byte
	switch gcm.Variant() {
	case aesgcm.VariantTink:
		variant = 1
	case aesgcm.VariantCrunchy:
		variant = 0
	default:
		// Without a key id in the ciphertext, rotation would mean trying
		// every key, and the prefix is what makes ErrKeyDisabled possible.
		return nil, fmt.Errorf("%w: key %d derives keys with output prefix %s; the envelope needs TINK (or CRUNCHY) so ciphertexts name their key", ErrUnsupportedKeyset, id, gcm.Variant())
	}
	ikm := prfKey.KeyBytes().Data(insecuresecretdataaccess.Token{})
	prk, err := hkdf.Extract(newHash, ikm, prfParams.Salt())
	clear(ikm)
	if err != nil {
		return nil, fmt.Errorf("keys: key %d: HKDF extract failed", id)
	}
	k := &kek{id: id, variant: variant, newHash: newHash, prk: prk, params: gcm}
	k.macs.New = func() any { return hmac.New(k.newHash, k.prk) }
	return k, nil
}

// expand is HKDF-Expand(prk, info, 32) (RFC 5869, section 2.3). With 32
// bytes at most one hash long, that is the first 32 bytes of
// T(1) = HMAC(prk, info || 0x01). It is written out, rather than calling
// crypto/hkdf.Expand, to reuse keyed HMAC states, which makes it five times
// cheaper; the tests hold it to crypto/hkdf and to Tink.
func (k *kek) expand(info []byte) []byte {
	m := k.macs.Get().(hash.Hash)
	m.Reset()
	m.Write(info)
	m.Write([]byte{1})
	var t [sha512.Size]byte
	okm := m.Sum(t[:0])
	k.macs.Put(m)
	out := make([]byte, dekSize)
	copy(out, okm)
	clear(t[:])
	return out
}

// deriveKey returns the data key of scope: the key Tink's KeysetDeriver
// derives from this KEK key with salt = scope.
func (k *kek) deriveKey(scope []byte) (*aesgcm.Key, error) {
	b := k.expand(scope)
	key, err := aesgcm.NewKey(secretdata.NewBytesFromData(b, insecuresecretdataaccess.Token{}), k.id, k.params)
	clear(b)
	if err != nil {
		return nil, fmt.Errorf("keys: key %d: cannot make data key", k.id)
	}
	return key, nil
}

// derive returns the AEAD of scope's data key.
func (k *kek) derive(scope []byte) (tink.AEAD, error) {
	key, err := k.deriveKey(scope)
	if err != nil {
		return nil, err
	}
	a, err := aesgcm.NewAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("keys: key %d: cannot make data key AEAD", k.id)
	}
	return a, nil
}

// selfCheckSalt is the scope of the probe key selfCheck derives.
var selfCheckSalt = []byte("attrcache keys derivation self-check")

// selfCheck derives a probe data key for every enabled key both with Tink's
// KeysetDeriver and with kek.deriveKey and fails unless they are equal, so
// the shortcut can never silently drift from Tink's definition.
func selfCheck(h *keyset.Handle, keks map[uint32]*kek) error {
	deriver, err := keyderivation.New(h)
	if err != nil {
		return fmt.Errorf("%w: Tink cannot derive keys with this keyset", ErrUnsupportedKeyset)
	}
	derived, err := deriver.DeriveKeyset(selfCheckSalt)
	if err != nil {
		return fmt.Errorf("%w: Tink cannot derive keys with this keyset", ErrUnsupportedKeyset)
	}
	if derived.Len() != len(keks) {
		return fmt.Errorf("keys: derivation self-check: Tink derived %d keys, want %d", derived.Len(), len(keks))
	}
	for i := range derived.Len() {
		e, err := derived.Entry(i)
		if err != nil {
			return fmt.Errorf("keys: derivation self-check: %v", err)
		}
		k := keks[e.KeyID()]
		if k == nil {
			return fmt.Errorf("keys: derivation self-check: Tink derived key %d, which is not an enabled key", e.KeyID())
		}
		mine, err := k.deriveKey(selfCheckSalt)
		if err != nil {
			return err
		}
		if !mine.Equal(e.Key()) {
			return fmt.Errorf("keys: derivation self-check: key %d derives a different data key than Tink does", k.id)
		}
	}
	return nil
}
