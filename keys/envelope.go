package keys

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Envelope seals values with per-scope data keys derived from a KEK keyset
// (see the package documentation for the design). It has the shape of
// tink.AEAD and of attrcache.Cipher, is safe for concurrent use and keeps
// the keys of the keyset it was made with: to use a rotated keyset, make a
// new Envelope.
type Envelope struct {
	primary  *kek
	keks     map[uint32]*kek             // enabled keys, by id
	inactive map[uint32]keyset.KeyStatus // disabled and destroyed keys, by id
	cache    *scopeCache
}

var _ tink.AEAD = (*Envelope)(nil)

// EnvelopeOption configures NewEnvelope.
type EnvelopeOption func(*envelopeConfig) error

type envelopeConfig struct {
	cacheSize int
}

// WithCacheSize sets how many derived data keys the Envelope keeps, one per
// KEK key and session scope in use; the default is DefaultCacheSize. Each
// takes about a kilobyte. 0 turns the cache off, so every call derives its
// key; a negative n is an error.
func WithCacheSize(n int) EnvelopeOption {
	return func(c *envelopeConfig) error {
		if n < 0 {
			return fmt.Errorf("keys: cache size %d is negative", n)
		}
		c.cacheSize = n
		return nil
	}
}

// NewEnvelope returns an Envelope over the KEK keyset h, whose enabled keys
// must be PRF-based key-derivation keys that derive AES-256-GCM keys with a
// TINK or CRUNCHY output prefix (KeyTemplate makes such keys). Any other
// keyset, an AEAD keyset for example, is refused with ErrUnsupportedKeyset
// and an error naming the key type expected. Disabled and destroyed keys
// may be of any type: they are only remembered, so that Decrypt can say a
// value's key is disabled.
func NewEnvelope(h *keyset.Handle, opts ...EnvelopeOption) (*Envelope, error) {
	cfg := envelopeConfig{cacheSize: DefaultCacheSize}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if h == nil || h.Len() == 0 {
		return nil, errors.New("keys: keyset is empty")
	}
	info := h.KeysetInfo().GetKeyInfo()
	e := &Envelope{
		keks:     make(map[uint32]*kek),
		inactive: make(map[uint32]keyset.KeyStatus),
		cache:    newScopeCache(cfg.cacheSize),
	}
	for i := range h.Len() {
		entry, err := h.Entry(i)
		if err != nil {
			return nil, fmt.Errorf("keys: %v", err)
		}
		if entry.KeyStatus() != keyset.Enabled {
			e.inactive[entry.KeyID()] = entry.KeyStatus()
			continue
		}
		k, err := newKEK(entry, info[i].GetTypeUrl())
		if err != nil {
			return nil, err
		}
		e.keks[k.id] = k
		if entry.IsPrimary() {
			e.primary = k
		}
	}
	if e.primary == nil {
		return nil, errors.New("keys: keyset has no primary key")
	}
	if err := selfCheck(h, e.keks); err != nil {
		return nil, err
	}
	return e, nil
}

// PrimaryKeyID returns the id of the KEK key whose derived keys Encrypt
// uses.
func (e *Envelope) PrimaryKeyID() uint32 { return e.primary.id }

// CiphertextKeyID returns the id of the KEK key a ciphertext names in its
// Tink prefix, and false when ciphertext is too short to be one of
// Envelope's. It does not check that the ciphertext is authentic.
func CiphertextKeyID(ciphertext []byte) (uint32, bool) {
	if len(ciphertext) < Overhead {
		return 0, false
	}
	return binary.BigEndian.Uint32(ciphertext[1:prefixSize]), true
}

// scope returns the part of associatedData before its last NUL byte, or
// all of it when it has none: the same for every attribute of one
// attrcache session.
func scope(associatedData []byte) []byte {
	if i := bytes.LastIndexByte(associatedData, 0); i >= 0 {
		return associatedData[:i]
	}
	return associatedData
}

// Encrypt seals plaintext under the data key the primary KEK key derives
// for the scope of associatedData, and authenticates all of
// associatedData. The ciphertext is Overhead bytes longer than plaintext:
// Tink's 5-byte key prefix, a random 12-byte nonce, the AES-GCM ciphertext
// and the 16-byte tag.
func (e *Envelope) Encrypt(plaintext, associatedData []byte) ([]byte, error) {
	sc := scope(associatedData)
	var buf [128]byte
	key := appendCacheKey(buf[:0], e.primary.id, sc)
	a := e.cache.get(key)
	if a == nil {
		var err error
		if a, err = e.primary.derive(sc); err != nil {
			return nil, err
		}
		if len(sc) <= maxCachedScope {
			a = e.cache.add(key, a)
		}
	}
	ct, err := a.Encrypt(plaintext, associatedData)
	if err != nil {
		// Tink's message says only that the plaintext is too long.
		return nil, fmt.Errorf("keys: encryption failed: %v", err)
	}
	return ct, nil
}

// Decrypt opens a ciphertext made by Encrypt with the same associatedData
// under any enabled key of the keyset. Every failure is ErrDecrypt: a
// ciphertext that is tampered with, truncated, made for other associated
// data (another session or attribute) or not a ciphertext at all. When the
// ciphertext's key is in the keyset but disabled or destroyed the error is
// also ErrKeyDisabled and says so. Decrypt never panics on any input.
func (e *Envelope) Decrypt(ciphertext, associatedData []byte) ([]byte, error) {
	id, ok := CiphertextKeyID(ciphertext)
	if !ok {
		return nil, decryptErrorf("ciphertext is shorter than %d bytes", Overhead)
	}
	k := e.keks[id]
	if k == nil || ciphertext[0] != k.variant {
		if status, found := e.inactive[id]; found {
			return nil, keyStatusError(id, status)
		}
		return nil, decryptErrorf("no enabled key %d in the keyset (or not a ciphertext of this keyset)", id)
	}
	sc := scope(associatedData)
	var buf [128]byte
	key := appendCacheKey(buf[:0], id, sc)
	a := e.cache.get(key)
	hit := a != nil
	if !hit {
		var err error
		if a, err = k.derive(sc); err != nil {
			return nil, decryptErrorf("cannot derive the data key of key %d", id)
		}
	}
	pt, err := a.Decrypt(ciphertext, associatedData)
	if err != nil {
		return nil, decryptErrorf("ciphertext is not authentic under key %d for this associated data (tampered, truncated or moved)", id)
	}
	if !hit && len(sc) <= maxCachedScope {
		// Only a scope that opened a value is cached, so garbage cannot
		// push live sessions out.
		e.cache.add(key, a)
	}
	return pt, nil
}
