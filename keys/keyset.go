package keys

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/aead/aesgcm"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyderivation"
	"github.com/tink-crypto/tink-go/v2/keyderivation/prfbasedkeyderivation"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	"github.com/tink-crypto/tink-go/v2/prf/hkdfprf"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// The commands that make each kind of keyset, quoted in errors about a
// keyset of the wrong kind.
const (
	kekCommand  = "attrcache-keys generate -out FILE"
	aeadCommand = "attrcache-keys generate -type aead -out FILE"
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

// AEADKeyTemplate returns the template of a master key: Tink's AES256_GCM
// AEAD key. A keyset of such keys is what encrypts a KEK keyset on disk
// (ReadFile with a master, encryption.master_keyset_file in package
// config, attrcache-keys -master-keyset); it cannot be a KEK itself.
func AEADKeyTemplate() *tinkpb.KeyTemplate { return aead.AES256GCMKeyTemplate() }

// GenerateAEAD returns a new AEAD keyset with one key, made from
// AEADKeyTemplate, as its primary: a master keyset.
func GenerateAEAD() (*keyset.Handle, error) {
	h, err := keyset.NewHandle(AEADKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("keys: cannot generate keyset: %v", err)
	}
	return h, nil
}

// NewAEAD returns the tink.AEAD of an AEAD keyset, to use as the master
// that encrypts a KEK keyset. Any other keyset, attrcache's own KEK
// keyset included, is refused with ErrUnsupportedKeyset and an error that
// says what the keyset holds and which command makes an AEAD keyset.
func NewAEAD(h *keyset.Handle) (tink.AEAD, error) {
	if h == nil || h.Len() == 0 {
		return nil, errors.New("keys: keyset is empty")
	}
	a, err := aead.New(h)
	if err == nil {
		return a, nil
	}
	p, perr := h.Primary()
	if perr != nil {
		return nil, errors.New("keys: keyset has no primary key")
	}
	if _, ok := p.Key().(*prfbasedkeyderivation.Key); ok {
		return nil, fmt.Errorf("%w: this is a key-derivation keyset (%s keys, the kind attrcache seals values with), not an AEAD keyset; a master keyset must be an AEAD keyset such as AES256_GCM: make one with '%s'",
			ErrUnsupportedKeyset, derivationKeyType, aeadCommand)
	}
	return nil, fmt.Errorf("%w: primary key %d is %s, which Tink cannot use as an AEAD; a master keyset must be an AEAD keyset such as AES256_GCM: make one with '%s'",
		ErrUnsupportedKeyset, p.KeyID(), typeURLOf(h, p.KeyID()), aeadCommand)
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
		return fmt.Errorf("%w: primary key %d is %s, not a %s key; attrcache's keyset (the KEK) is made with '%s'",
			ErrUnsupportedKeyset, p.KeyID(), typeURLOf(h, p.KeyID()), derivationKeyType, kekCommand)
	}
	return nil
}

// Promote returns a copy of h in which the enabled key id is the primary.
// It returns ErrKeyNotFound when h has no such key and ErrDestroyed for a
// destroyed key.
func Promote(h *keyset.Handle, id uint32) (*keyset.Handle, error) {
	return changeKey(h, id, func(m *keyset.Manager, e *keyset.Entry) error {
		switch e.KeyStatus() {
		case keyset.Enabled:
		case keyset.Destroyed:
			return fmt.Errorf("%w: key %d has no key material left, so it cannot be primary", ErrDestroyed, id)
		default:
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
// ErrPrimary for the primary key, ErrKeyNotFound when h has no such key
// and ErrDestroyed for a destroyed key. Disabling a disabled key is not an
// error.
func Disable(h *keyset.Handle, id uint32) (*keyset.Handle, error) {
	return changeKey(h, id, func(m *keyset.Manager, e *keyset.Entry) error {
		if e.IsPrimary() {
			return fmt.Errorf("%w: key %d; make another key primary first", ErrPrimary, id)
		}
		if e.KeyStatus() == keyset.Destroyed {
			return fmt.Errorf("%w: key %d is past disabling; nothing to do", ErrDestroyed, id)
		}
		if err := m.Disable(id); err != nil {
			return fmt.Errorf("keys: cannot disable key %d: %v", id, err)
		}
		return nil
	})
}

// Enable returns a copy of h in which the disabled key id is enabled again.
// It returns ErrKeyNotFound when h has no such key and ErrDestroyed for a
// destroyed key, whose material is gone.
func Enable(h *keyset.Handle, id uint32) (*keyset.Handle, error) {
	return changeKey(h, id, func(m *keyset.Manager, e *keyset.Entry) error {
		if e.KeyStatus() == keyset.Destroyed {
			return fmt.Errorf("%w: key %d has no key material left, so it cannot be enabled again", ErrDestroyed, id)
		}
		if err := m.Enable(id); err != nil {
			return fmt.Errorf("keys: cannot enable key %d: %v", id, err)
		}
		return nil
	})
}

// Destroy returns a copy of h in which key id is destroyed: its key
// material is removed and its status is DESTROYED, as Tink's key managers
// destroy keys. Its id stays in the keyset, so Envelope.Decrypt still
// names the key of a value sealed under it (ErrKeyDisabled, "destroyed"),
// and the key can never be enabled again. Destroy a key that leaked:
// disabling it would leave its material in every copy of the keyset. It
// returns ErrPrimary for the primary key and ErrKeyNotFound when h has no
// such key. Destroying a destroyed key is not an error.
func Destroy(h *keyset.Handle, id uint32) (*keyset.Handle, error) {
	if h == nil || h.Len() == 0 {
		return nil, errors.New("keys: keyset is empty")
	}
	e := findEntry(h, id)
	if e == nil {
		return nil, notFound(h, id)
	}
	if e.IsPrimary() {
		return nil, fmt.Errorf("%w: key %d still seals new values; make another key primary (rotate, or promote one), then destroy this one", ErrPrimary, id)
	}
	// Tink's Manager has no Destroy; the key is rewritten in a copy of the
	// keyset as Tink for Go writes destroyed keys: status DESTROYED, empty
	// key data.
	ks := insecurecleartextkeyset.KeysetMaterial(h)
	for _, k := range ks.GetKey() {
		if k.GetKeyId() == id {
			k.Status = tinkpb.KeyStatusType_DESTROYED
			k.KeyData = &tinkpb.KeyData{}
		}
	}
	return handleOf(ks)
}

// changeKey applies change to a manager over a copy of h, given h's entry
// for key id, and returns the changed keyset.
func changeKey(h *keyset.Handle, id uint32, change func(*keyset.Manager, *keyset.Entry) error) (*keyset.Handle, error) {
	if h == nil || h.Len() == 0 {
		return nil, errors.New("keys: keyset is empty")
	}
	e := findEntry(h, id)
	if e == nil {
		return nil, notFound(h, id)
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

// notFound is ErrKeyNotFound for id, listing the keys h does hold so the
// caller can see which id was meant.
func notFound(h *keyset.Handle, id uint32) error {
	var held []string
	for _, k := range List(h) {
		s := strconv.FormatUint(uint64(k.ID), 10)
		switch {
		case k.Primary:
			s += " (primary)"
		case k.Status != keyset.Enabled:
			s += " (" + strings.ToLower(statusName(k.Status)) + ")"
		}
		held = append(held, s)
	}
	return fmt.Errorf("%w: %d; the keyset holds %s", ErrKeyNotFound, id, strings.Join(held, ", "))
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
	// type.googleapis.com/google.crypto.tink.PrfBasedDeriverKey; empty for
	// a destroyed key, whose key data is gone.
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
