package keys_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/attrcache/attrcache/keys"
)

// keyMaterial returns the base64 key material of key id in a cleartext
// JSON keyset, "" when the key has none.
func keyMaterial(t *testing.T, js []byte, id uint32) string {
	t.Helper()
	var ks struct {
		Key []struct {
			KeyData *struct{ Value string } `json:"keyData"`
			KeyID   uint32                  `json:"keyId"`
			Status  string                  `json:"status"`
		} `json:"key"`
	}
	if err := json.Unmarshal(js, &ks); err != nil {
		t.Fatal(err)
	}
	for _, k := range ks.Key {
		if k.KeyID == id && k.KeyData != nil {
			return k.KeyData.Value
		}
	}
	return ""
}

func TestDestroy(t *testing.T) {
	h := generate(t)
	old := keys.List(h)[0].ID
	a := ad("ns", "s", "n")
	sealed := seal(t, envelope(t, h), []byte("v"), a)
	h, _, err := keys.Rotate(h)
	if err != nil {
		t.Fatal(err)
	}
	before, err := keys.Marshal(h, nil)
	if err != nil {
		t.Fatal(err)
	}
	material := keyMaterial(t, before, old)
	if len(material) < 16 {
		t.Fatalf("key %d has no material to destroy: %q", old, material)
	}

	d, err := keys.Destroy(h, old)
	if err != nil {
		t.Fatal(err)
	}
	var got keys.KeyInfo
	for _, k := range keys.List(d) {
		if k.ID == old {
			got = k
		}
	}
	if got.ID != old || got.Status != keyset.Destroyed || got.Primary || got.Type != "" {
		t.Fatalf("destroyed key lists as %+v", got)
	}
	if len(keys.List(d)) != 2 {
		t.Fatalf("Destroy dropped or added keys: %+v", keys.List(d))
	}
	after, err := keys.Marshal(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(after, []byte(material)) || keyMaterial(t, after, old) != "" {
		t.Fatal("the destroyed key's material is still in the keyset")
	}
	if !bytes.Contains(after, []byte(`"DESTROYED"`)) {
		t.Fatalf("keyset does not mark the key destroyed: %s", after)
	}
	if _, err := keys.Marshal(h, nil); err != nil {
		t.Fatal(err)
	} else if again, _ := keys.Marshal(h, nil); !bytes.Contains(again, []byte(material)) {
		t.Fatal("Destroy changed its input")
	}

	// A value sealed under the destroyed key names it; the others open.
	env := envelope(t, d)
	err = mustFail(t, env, sealed, a, "value of a destroyed key")
	if !errors.Is(err, keys.ErrKeyDisabled) || !strings.Contains(err.Error(), "destroyed") || !strings.Contains(err.Error(), strconv.FormatUint(uint64(old), 10)) {
		t.Fatalf("Decrypt under a destroyed key: %v", err)
	}
	mustOpen(t, env, seal(t, env, []byte("w"), a), a, []byte("w"))

	// A destroyed key is for good.
	if _, err := keys.Enable(d, old); !errors.Is(err, keys.ErrDestroyed) {
		t.Errorf("Enable(destroyed) = %v, want ErrDestroyed", err)
	}
	if _, err := keys.Promote(d, old); !errors.Is(err, keys.ErrDestroyed) {
		t.Errorf("Promote(destroyed) = %v, want ErrDestroyed", err)
	}
	if _, err := keys.Disable(d, old); !errors.Is(err, keys.ErrDestroyed) {
		t.Errorf("Disable(destroyed) = %v, want ErrDestroyed", err)
	}
	if again, err := keys.Destroy(d, old); err != nil || len(keys.List(again)) != 2 {
		t.Errorf("destroying twice: %v", err)
	}
	primary := envelope(t, d).PrimaryKeyID()
	if _, err := keys.Destroy(d, primary); !errors.Is(err, keys.ErrPrimary) {
		t.Errorf("Destroy(primary) = %v, want ErrPrimary", err)
	}

	// The keyset still rotates, and goes through files, in clear and
	// sealed.
	r, _, err := keys.Rotate(d)
	if err != nil {
		t.Fatal(err)
	}
	envelope(t, r)
	for name, master := range map[string]tink.AEAD{"clear": nil, "sealed": masterAEAD(t)} {
		path := filepath.Join(t.TempDir(), "kek.json")
		if err := keys.WriteFile(path, r, master); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		back, err := keys.ReadFile(path, master, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if l := keys.List(back); len(l) != 3 || l[0].ID != old || l[0].Status != keyset.Destroyed {
			t.Fatalf("%s: read back %+v", name, l)
		}
	}
}

// TestDestroyedKeyWithoutKeyData loads a keyset whose destroyed key has no
// keyData at all, as Tink for Java and tinkey write them.
func TestDestroyedKeyWithoutKeyData(t *testing.T) {
	h, _, err := keys.Rotate(generate(t))
	if err != nil {
		t.Fatal(err)
	}
	old := keys.List(h)[0].ID
	js, err := keys.Marshal(h, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ks map[string]any
	if err := json.Unmarshal(js, &ks); err != nil {
		t.Fatal(err)
	}
	for _, k := range ks["key"].([]any) {
		k := k.(map[string]any)
		if uint32(k["keyId"].(float64)) == old {
			delete(k, "keyData")
			k["status"] = "DESTROYED"
		}
	}
	javaStyle, err := json.Marshal(ks)
	if err != nil {
		t.Fatal(err)
	}
	master := masterAEAD(t)
	for name, parse := range map[string]func() (*keyset.Handle, error){
		"clear": func() (*keyset.Handle, error) { return keys.Parse(javaStyle, nil) },
		"base64": func() (*keyset.Handle, error) {
			return keys.Parse([]byte(base64.StdEncoding.EncodeToString(javaStyle)), nil)
		},
		"sealed": func() (*keyset.Handle, error) {
			back, err := keys.Parse(javaStyle, nil)
			if err != nil {
				return nil, err
			}
			sealed, err := keys.Marshal(back, master)
			if err != nil {
				return nil, err
			}
			return keys.Parse(sealed, master)
		},
	} {
		back, err := parse()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if l := keys.List(back); len(l) != 2 || l[0].Status != keyset.Destroyed || l[0].ID != old {
			t.Fatalf("%s: %+v", name, l)
		}
		envelope(t, back)
	}
}

func TestKeyNotFoundListsKeys(t *testing.T) {
	h := generate(t)
	first := keys.List(h)[0].ID
	h, second, err := keys.Add(h)
	if err != nil {
		t.Fatal(err)
	}
	if h, err = keys.Disable(h, second); err != nil {
		t.Fatal(err)
	}
	missing := first + second + 1
	for name, call := range map[string]func() error{
		"Promote": func() error { _, err := keys.Promote(h, missing); return err },
		"Disable": func() error { _, err := keys.Disable(h, missing); return err },
		"Enable":  func() error { _, err := keys.Enable(h, missing); return err },
		"Destroy": func() error { _, err := keys.Destroy(h, missing); return err },
	} {
		err := call()
		if !errors.Is(err, keys.ErrKeyNotFound) {
			t.Fatalf("%s(unknown) = %v, want ErrKeyNotFound", name, err)
		}
		for _, want := range []string{
			strconv.FormatUint(uint64(missing), 10),
			strconv.FormatUint(uint64(first), 10) + " (primary)",
			strconv.FormatUint(uint64(second), 10) + " (disabled)",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not say %q", name, err, want)
			}
		}
	}
}

func TestAEADKeysets(t *testing.T) {
	m, err := keys.GenerateAEAD()
	if err != nil {
		t.Fatal(err)
	}
	if l := keys.List(m); len(l) != 1 || !l[0].Primary || l[0].Algorithm != "AES256_GCM" {
		t.Fatalf("GenerateAEAD made %+v", l)
	}
	a, err := keys.NewAEAD(m)
	if err != nil {
		t.Fatal(err)
	}
	// It serves as a master, both ways.
	kek := generate(t)
	sealed, err := keys.Marshal(kek, a)
	if err != nil {
		t.Fatal(err)
	}
	back, err := keys.Parse(sealed, a)
	if err != nil {
		t.Fatal(err)
	}
	sameKeys(t, kek, back)

	// A KEK given as the master says what it is and how to make a master.
	_, err = keys.NewAEAD(kek)
	if !errors.Is(err, keys.ErrUnsupportedKeyset) || !strings.Contains(err.Error(), "attrcache-keys generate -type aead -out FILE") ||
		!strings.Contains(err.Error(), "key-derivation") || strings.Contains(err.Error(), "factoryutil") {
		t.Errorf("NewAEAD(KEK) = %v", err)
	}
	// An AEAD keyset given as the KEK says how to make a KEK.
	for name, err := range map[string]error{
		"NewEnvelope": func() error { _, err := keys.NewEnvelope(m); return err }(),
		"Rotate":      func() error { _, _, err := keys.Rotate(m); return err }(),
	} {
		if !errors.Is(err, keys.ErrUnsupportedKeyset) || !strings.Contains(err.Error(), "attrcache-keys generate -out FILE") {
			t.Errorf("%s(AEAD keyset) = %v", name, err)
		}
	}
	// Tink's own AES128_GCM is an AEAD too.
	h128, err := keyset.NewHandle(aead.AES128GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.NewAEAD(h128); err != nil {
		t.Errorf("NewAEAD(AES128_GCM) = %v", err)
	}
	if _, err := keys.NewAEAD(nil); err == nil {
		t.Error("NewAEAD(nil) succeeded")
	}
}

func TestLooksLikeKeyset(t *testing.T) {
	js, err := keys.Marshal(generate(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		string(js),
		"  " + string(js),
		string(js[:20]), // truncated
		base64.StdEncoding.EncodeToString(js),
		base64.RawURLEncoding.EncodeToString(js),
		base64.StdEncoding.EncodeToString(js)[:16],
		base64.StdEncoding.EncodeToString([]byte("\n  " + string(js))),
		`{"encryptedKeyset": "x"}`,
	} {
		if !keys.LooksLikeKeyset(s) {
			t.Errorf("LooksLikeKeyset(%.30q...) = false", s)
		}
	}
	for _, s := range []string{
		"", "APP_KEYSET", "ATTRCACHE_KEYSET", "/etc/attrcache/kek.json", "kek.json", "s3cretPW", "my keyset",
		// Names and paths of base64 characters whose first bytes decode
		// to '{'.
		"exports/keys/kek.json", "ex/keys/kek-2024.json", "exPORTED_KEYSET_1", "ezKEYSET_FOR_APP_1",
	} {
		if keys.LooksLikeKeyset(s) {
			t.Errorf("LooksLikeKeyset(%q) = true", s)
		}
	}
}
