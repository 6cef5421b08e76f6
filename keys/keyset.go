package keys

import (
	"errors"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/aead/aesgcm"
	"github.com/tink-crypto/tink-go/v2/keyderivation"
	"github.com/tink-crypto/tink-go/v2/keyderivation/prfbasedkeyderivation"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	"github.com/tink-crypto/tink-go/v2/prf/hkdfprf"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
)

// KeyTemplate returns the template of a KEK key: a Tink PRF-based
// key-derivation key with an HKDF-SHA256 PRF that derives AES256_GCM keys
// with Tink's 5-byte output prefix. Keysets made from it by Tink in any
// language work with NewEnvelope.
func KeyTemplate() *tinkpb.KeyTemplate {
	t, err := keyderivation.CreatePRFBasedKeyTemplate(prf.HKDFSHA256PRFKeyTemplate(), aead.AES256GCMKeyTemplate())
	if err != nil {
		// Both templates are Tink's own; this cannot fail in a working build.
		panic(fmt.Sprintf("keys: Tink rejects its own key-derivation template: %v", err))
	}
	return t
}

// Generate returns a new KEK keyset with one key, made from KeyTemplate,
// as its primary.
func Generate() (*keyset.Handle, error) {
	h, err := keyset.NewHandle(KeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("keys: cannot generate keyset: %v", err)
	}
	return h, nil
}

// Rotate returns a copy of the KEK keyset h with a new key from KeyTemplate
// as its primary, and the new key's id. The other keys keep their status,
// so values sealed under them still open. h itself is not changed.
//
// With several processes sharing the keyset, prefer Add, roll the keyset
// out, then Promote: see the package documentation.
func Rotate(h *keyset.Handle) (*keyset.Handle, uint32, error) {
	return addKey(h, true)
}

// Add returns a copy of the KEK keyset h with a new, enabled key from
// KeyTemplate that is not primary yet, and the new key's id: the first
// half of a rotation across many processes.
func Add(h *keyset.Handle) (*keyset.Handle, uint32, error) {
	return addKey(h, false)
}

func addKey(h *keyset.Handle, primary bool) (*keyset.Handle, uint32, error) {
	if err := checkKEK(h); err != nil {
		return nil, 0, err
	}
	m := keyset.NewManagerFromHandle(h)
	id, err := m.Add(KeyTemplate())
	if err != nil {
		return nil, 0, fmt.Errorf("keys: cannot add key: %v", err)
	}
	if primary {
		if err := m.SetPrimary(id); err != nil {
			return nil, 0, fmt.Errorf("keys: cannot make key %d primary: %v", id, err)
		}
	}
	nh, err := m.Handle()
	if err != nil {
		return nil, 0, fmt.Errorf("keys: %v", err)
	}
	return nh, id, nil
}

// checkKEK refuses keysets whose primary key is not a key-derivation key,
// so that Rotate does not mix a key-derivation key into, say, an AEAD
// keyset.
func checkKEK(h *keyset.Handle) error {
	if h == nil || h.Len() == 0 {
		return errors.New("keys: keyset is empty")
	}
	p, err := h.Primary()
	if err != nil {
		return errors.New("keys: keyset has no primary key")
	}
	if _, ok := p.Key().(*prfbasedkeyderivation.Key); !ok {
		return fmt.Errorf("%w: primary key %d is %s, not a %s key", ErrUnsupportedKeyset, p.KeyID(), typeURLOf(h, p.KeyID()), derivationKeyType)
	}
	return nil
}

// Promote returns a copy of h in which the enabled key id is the primary.
// It returns ErrKeyNotFound when h has no such key.
func Promote(h *keyset.Handle, id uint32) (*keyset.Handle, error) {
	return changeKey(h, id, func(m *keyset.Manager, e *keyset.Entry) error {
		if e.KeyStatus() != keyset.Enabled {
			return fmt.Errorf("keys: key %d is %s; enable it before making it primary", id, statusName(e.KeyStatus()))
		}
		if err := m.SetPrimary(id); err != nil {
			return fmt.Errorf("keys: cannot make key %d primary: %v", id, err)
		}
		return nil
	})
}

// Disable returns a copy of h in which key id is disabled: values sealed
// under it no longer open, and fail with ErrKeyDisabled. It returns
// ErrPrimary for the primary key and ErrKeyNotFound when h has no such key.
// Disabling a disabled key is not an error.
func Disable(h *keyset.Handle, id uint32) (*keyset.Handle, error) {
	return changeKey(h, id, func(m *keyset.Manager, e *keyset.Entry) error {
		if e.IsPrimary() {
			return fmt.Errorf("%w: key %d; make another key primary first", ErrPrimary, id)
		}
		if err := m.Disable(id); err != nil {
			return fmt.Errorf("keys: cannot disable key %d: %v", id, err)
		}
		return nil
	})
}

// Enable returns a copy of h in which the disabled key id is enabled again.
// It returns ErrKeyNotFound when h has no such key.
func Enable(h *keyset.Handle, id uint32) (*keyset.Handle, error) {
	return changeKey(h, id, func(m *keyset.Manager, _ *keyset.Entry) error {
		if err := m.Enable(id); err != nil {
			return fmt.Errorf("keys: cannot enable key %d: %v", id, err)
		}
		return nil
	})
}

// changeKey applies change to a manager over a copy of h, given h's entry
// for key id, and returns the changed keyset.
func changeKey(h *keyset.Handle, id uint32, change func(*keyset.Manager, *keyset.Entry) error) (*keyset.Handle, error) {
	if h == nil || h.Len() == 0 {
		return nil, errors.New("keys: keyset is empty")
	}
	e := findEntry(h, id)
	if e == nil {
		return nil, fmt.Errorf("%w: %d", ErrKeyNotFound, id)
	}
	m := keyset.NewManagerFromHandle(h)
	if err := change(m, e); err != nil {
		return nil, err
	}
	nh, err := m.Handle()
	if err != nil {
		return nil, fmt.Errorf("keys: %v", err)
	}
	return nh, nil
}

func findEntry(h *keyset.Handle, id uint32) *keyset.Entry {
	for i := range h.Len() {
		if e, err := h.Entry(i); err == nil && e.KeyID() == id {
			return e
		}
	}
	return nil
}

// KeyInfo describes one key of a keyset, without its key material.
type KeyInfo struct {
	// ID is the key id, which Tink writes in the prefix of every
	// ciphertext the key makes.
	ID uint32
	// Status is Enabled, Disabled or Destroyed.
	Status keyset.KeyStatus
	// Primary is true for the one key that seals new values.
	Primary bool
	// Type is the key's Tink type URL, for example
	// type.googleapis.com/google.crypto.tink.PrfBasedDeriverKey.
	Type string
	// OutputPrefix is Tink's output prefix type: TINK, CRUNCHY, LEGACY or
	// RAW.
	OutputPrefix string
	// Algorithm summarises the key's parameters when this package knows
	// them, for example "HKDF-SHA256 -> AES256_GCM"; empty otherwise.
	Algorithm string
}

// List describes the keys of h in keyset order. It never reveals key
// material; a nil or empty h has no keys.
func List(h *keyset.Handle) []KeyInfo {
	if h == nil || h.Len() == 0 {
		return nil
	}
	info := h.KeysetInfo().GetKeyInfo()
	out := make([]KeyInfo, 0, h.Len())
	for i := range h.Len() {
		e, err := h.Entry(i)
		if err != nil {
			continue
		}
		ki := KeyInfo{ID: e.KeyID(), Status: e.KeyStatus(), Primary: e.IsPrimary()}
		if i < len(info) {
			ki.Type = info[i].GetTypeUrl()
			ki.OutputPrefix = info[i].GetOutputPrefixType().String()
		}
		ki.Algorithm = algorithm(e)
		out = append(out, ki)
	}
	return out
}

// algorithm names the parameters of the key types this package deals with.
func algorithm(e *keyset.Entry) string {
	switch k := e.Key().(type) {
	case *prfbasedkeyderivation.Key:
		p, ok := k.Parameters().(*prfbasedkeyderivation.Parameters)
		if !ok {
			return ""
		}
		from := "PRF"
		if hp, ok := p.PRFParameters().(*hkdfprf.Parameters); ok {
			from = "HKDF-" + hp.HashType().String()
		}
		to := "?"
		if gp, ok := p.DerivedKeyParameters().(*aesgcm.Parameters); ok {
			to = fmt.Sprintf("AES%d_GCM", gp.KeySizeInBytes()*8)
		}
		return from + " -> " + to
	case *aesgcm.Key:
		if gp, ok := k.Parameters().(*aesgcm.Parameters); ok {
			return fmt.Sprintf("AES%d_GCM", gp.KeySizeInBytes()*8)
		}
	}
	return ""
}

func typeURLOf(h *keyset.Handle, id uint32) string {
	for _, ki := range h.KeysetInfo().GetKeyInfo() {
		if ki.GetKeyId() == id {
			return ki.GetTypeUrl()
		}
	}
	return "of unknown type"
}

// statusName spells a key status the way Tink's JSON does.
func statusName(s keyset.KeyStatus) string {
	switch s {
	case keyset.Enabled:
		return "ENABLED"
	case keyset.Disabled:
		return "DISABLED"
	case keyset.Destroyed:
		return "DESTROYED"
	}
	return "UNKNOWN"
}
