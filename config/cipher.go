package config

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/keys"
)

// Encrypted reports whether a keyset is configured.
func (e Encryption) Encrypted() bool { return e.KeysetFile != "" || e.KeysetEnv != "" }

// NewCipher builds the envelope cipher the encryption.* settings describe:
// the keyset from encryption.keyset_file or the variable named by
// encryption.keyset_env (looked up in the environment Load was given),
// decrypted with the cleartext AEAD keyset in
// encryption.master_keyset_file when one is given. It returns nil and no
// error when no keyset is configured. It first checks the encryption.*
// settings as Validate does. A keyset of the wrong kind (an AEAD keyset as
// the keyset, the KEK as the master) is refused with an error wrapping
// keys.ErrUnsupportedKeyset that names the kind needed and the
// attrcache-keys command that makes one. Errors name the setting and
// never hold key material. log receives the warning about key files that
// every user may read (nil: slog.Default).
func (c *Config) NewCipher(log *slog.Logger) (attrcache.Cipher, error) {
	e := c.Encryption
	if !e.Encrypted() {
		return nil, nil
	}
	p := &problems{c: c}
	c.checkEncryption(p)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	var master tink.AEAD
	if e.MasterKeysetFile != "" {
		h, err := keys.ReadFile(e.MasterKeysetFile, nil, log)
		if err != nil {
			return nil, fmt.Errorf("config: encryption.master_keyset_file: %w", err)
		}
		if master, err = keys.NewAEAD(h); err != nil {
			return nil, fmt.Errorf("config: encryption.master_keyset_file: %w", err)
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
		val, _ := c.env(e.KeysetEnv)
		if h, err = keys.Parse([]byte(val), master); err != nil {
			err = fmt.Errorf("%w (in $%s)", err, e.KeysetEnv)
		}
	}
	if errors.Is(err, keys.ErrEncrypted) {
		err = fmt.Errorf("%w; set encryption.master_keyset_file to the master keyset it is sealed under", err)
	}
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", key, err)
	}
	env, err := keys.NewEnvelope(h)
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", key, err)
	}
	return env, nil
}
