package config

import (
	"fmt"
	"log/slog"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/keys"
)

// Encrypted reports whether a keyset is configured.
func (e Encryption) Encrypted() bool { return e.KeysetFile != "" || e.KeysetEnv != "" }

// NewCipher builds the envelope cipher the encryption.* settings describe:
// the keyset from encryption.keyset_file or the variable named by
// encryption.keyset_env, decrypted with the cleartext AEAD keyset in
// encryption.master_keyset_file when one is given. It returns nil and no
// error when no keyset is configured. log receives the warning about key
// files readable by others (nil: slog.Default).
func (c *Config) NewCipher(log *slog.Logger) (attrcache.Cipher, error) {
	e := c.Encryption
	if !e.Encrypted() {
		return nil, nil
	}
	var master tink.AEAD
	if e.MasterKeysetFile != "" {
		h, err := keys.ReadFile(e.MasterKeysetFile, nil, log)
		if err != nil {
			return nil, fmt.Errorf("encryption.master_keyset_file: %w", err)
		}
		if master, err = aead.New(h); err != nil {
			return nil, fmt.Errorf("encryption.master_keyset_file: not an AEAD keyset: %w", err)
		}
	}
	var (
		h   *keyset.Handle
		err error
		key = "encryption.keyset_file"
	)
	if e.KeysetFile != "" {
		h, err = keys.ReadFile(e.KeysetFile, master, log)
	} else {
		key = "encryption.keyset_env"
		h, err = keys.ReadEnv(e.KeysetEnv, master)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	env, err := keys.NewEnvelope(h)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return env, nil
}
