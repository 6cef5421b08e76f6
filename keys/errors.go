package keys

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tink-crypto/tink-go/v2/keyset"
)

// Sentinel errors, checked with errors.Is. Error texts may name key ids,
// key types, file paths and environment variable names; never key
// material, plaintext or ciphertext.
var (
	// ErrDecrypt is returned, possibly wrapped, by Envelope.Decrypt for
	// every ciphertext it cannot open: tampered, truncated, moved to other
	// associated data, sealed under a key the keyset does not hold or has
	// disabled, or not a ciphertext at all.
	ErrDecrypt = errors.New("keys: decryption failed")

	// ErrKeyDisabled is returned, together with ErrDecrypt, by
	// Envelope.Decrypt when the ciphertext names a key that is in the
	// keyset but disabled or destroyed.
	ErrKeyDisabled = errors.New("keys: key is disabled")

	// ErrUnsupportedKeyset is returned when a keyset is not of the kind a
	// call needs, for example an AEAD keyset given to NewEnvelope, which
	// needs PRF-based key-derivation keys. The error text names the key
	// type found and the one expected.
	ErrUnsupportedKeyset = errors.New("keys: unsupported keyset")

	// ErrKeyNotFound is returned by Promote, Disable, Enable and Destroy
	// when the keyset has no key with the given id; the error text lists
	// the ids it does hold.
	ErrKeyNotFound = errors.New("keys: no such key")

	// ErrPrimary is returned by Disable and Destroy when asked to disable
	// or destroy the primary key: promote another key first.
	ErrPrimary = errors.New("keys: key is the primary")

	// ErrDestroyed is returned by Enable, Promote and Disable for a key
	// that Destroy has destroyed: its key material is gone for good.
	ErrDestroyed = errors.New("keys: key is destroyed")

	// ErrEncrypted is returned, possibly wrapped, by Parse, ReadFile and
	// ReadEnv for a Tink encrypted keyset when no master AEAD was given
	// to open it.
	ErrEncrypted = errors.New("keys: keyset is encrypted; a master AEAD is needed to read it")

	// ErrSymlink is wrapped by WriteFile's error when the path is a
	// symbolic link and FollowSymlink was not given; nothing is written.
	ErrSymlink = errors.New("keys: the keyset file is a symbolic link")
)

// decryptError reports why a ciphertext did not open. It is ErrDecrypt,
// and ErrKeyDisabled too when the key is disabled or destroyed.
type decryptError struct {
	reason   string
	disabled bool
}

func (e *decryptError) Error() string { return ErrDecrypt.Error() + ": " + e.reason }

func (e *decryptError) Is(target error) bool {
	return target == ErrDecrypt || (e.disabled && target == ErrKeyDisabled)
}

func decryptErrorf(format string, args ...any) error {
	return &decryptError{reason: fmt.Sprintf(format, args...)}
}

func keyStatusError(id uint32, status keyset.KeyStatus) error {
	return &decryptError{
		reason:   fmt.Sprintf("key %d is %s in the keyset", id, strings.ToLower(statusName(status))),
		disabled: true,
	}
}
