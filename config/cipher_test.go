package config_test

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/attrcache/attrcache/config"
	"github.com/attrcache/attrcache/keys"
)

func TestNewCipher(t *testing.T) {
	dir := t.TempDir()
	kek, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	plainPath := filepath.Join(dir, "kek.json")
	if err := keys.WriteFile(plainPath, kek, nil); err != nil {
		t.Fatal(err)
	}
	// The same keyset sealed under a master AEAD keyset.
	mh, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	masterPath := filepath.Join(dir, "master.json")
	if err := keys.WriteFile(masterPath, mh, nil); err != nil {
		t.Fatal(err)
	}
	master, err := aead.New(mh)
	if err != nil {
		t.Fatal(err)
	}
	sealedPath := filepath.Join(dir, "kek.sealed.json")
	if err := keys.WriteFile(sealedPath, kek, master); err != nil {
		t.Fatal(err)
	}
	ad := []byte("ns\x00session\x00name")
	ct, err := must(keys.NewEnvelope(kek)).Encrypt([]byte("value"), ad)
	if err != nil {
		t.Fatal(err)
	}

	json, err := os.ReadFile(plainPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("DEMO_KEKSET", string(json))
	for name, environ := range map[string][]string{
		"file":        {"ATTRCACHE_ENCRYPTION_KEYSET_FILE=" + plainPath},
		"sealed file": {"ATTRCACHE_ENCRYPTION_KEYSET_FILE=" + sealedPath, "ATTRCACHE_ENCRYPTION_MASTER_KEYSET_FILE=" + masterPath},
		"env":         {"ATTRCACHE_ENCRYPTION_KEYSET_ENV=DEMO_KEKSET", "DEMO_KEKSET=" + string(json)},
	} {
		cfg, err := config.LoadWith("", environ)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c, err := cfg.NewCipher(nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		pt, err := c.Decrypt(ct, ad)
		if err != nil || string(pt) != "value" {
			t.Fatalf("%s: cipher does not open what the keyset sealed: %v", name, err)
		}
	}

	// No keyset: no cipher, no error.
	cfg, err := config.LoadWith("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := cfg.NewCipher(nil); c != nil || err != nil {
		t.Fatalf("no keyset configured gave %v, %v", c, err)
	}

	// A sealed keyset without its master fails, naming the setting.
	cfg, err = config.LoadWith("", []string{"ATTRCACHE_ENCRYPTION_KEYSET_FILE=" + sealedPath})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.NewCipher(nil); !errors.Is(err, keys.ErrEncrypted) || !strings.Contains(err.Error(), "encryption.keyset_file") ||
		!strings.Contains(err.Error(), "set encryption.master_keyset_file") {
		t.Fatalf("sealed keyset read without master: %v", err)
	}

	// A key file readable by others is used, with a warning.
	if err := os.Chmod(plainPath, 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cfg, err = config.LoadWith("", []string{"ATTRCACHE_ENCRYPTION_KEYSET_FILE=" + plainPath})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.NewCipher(slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "WARN") {
		t.Fatalf("no warning for a 0644 key file: %q", logs.String())
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestNewCipherWrongKinds: a keyset of the wrong kind, either way round,
// says which kind is needed and the command that makes it.
func TestNewCipherWrongKinds(t *testing.T) {
	dir := t.TempDir()
	kekPath := filepath.Join(dir, "kek.json")
	if err := keys.WriteFile(kekPath, must(keys.Generate()), nil); err != nil {
		t.Fatal(err)
	}
	masterPath := filepath.Join(dir, "master.json")
	if err := keys.WriteFile(masterPath, must(keys.GenerateAEAD()), nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		environ []string
		key     string
		command string
	}{
		{"KEK as master", []string{"ATTRCACHE_ENCRYPTION_KEYSET_FILE=" + kekPath, "ATTRCACHE_ENCRYPTION_MASTER_KEYSET_FILE=" + kekPath},
			"encryption.master_keyset_file", "attrcache-keys generate -type aead -out FILE"},
		{"master as KEK", []string{"ATTRCACHE_ENCRYPTION_KEYSET_FILE=" + masterPath},
			"encryption.keyset_file", "attrcache-keys generate -out FILE"},
	} {
		cfg, err := config.LoadWith("", tc.environ)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_, err = cfg.NewCipher(nil)
		if !errors.Is(err, keys.ErrUnsupportedKeyset) || !strings.Contains(err.Error(), tc.key) ||
			!strings.Contains(err.Error(), tc.command) || strings.Contains(err.Error(), "factoryutil") {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// TestNewCipherUsesGivenEnvironment: the variable encryption.keyset_env
// names is read from the environment LoadWith was given, as Validate
// reads it, not from the process environment.
func TestNewCipherUsesGivenEnvironment(t *testing.T) {
	js, err := keys.Marshal(must(keys.Generate()), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadWith("", []string{"ATTRCACHE_ENCRYPTION_KEYSET_ENV=ATTRCACHE_TEST_ONLY_KEYSET", "ATTRCACHE_TEST_ONLY_KEYSET=" + string(js)})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := cfg.NewCipher(nil); err != nil || c == nil {
		t.Fatalf("NewCipher: %v, %v", c, err)
	}
	// Checked as Validate checks, for a Config changed by hand.
	cfg.Encryption.KeysetEnv = "NOT_SET_ANYWHERE"
	_, err = cfg.NewCipher(nil)
	wantKeyError(t, err, "encryption.keyset_env")
}
