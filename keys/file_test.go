package keys_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/attrcache/attrcache/keys"
)

// logBuffer returns a logger whose records land in the returned buffer.
func logBuffer() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

func masterAEAD(t testing.TB) tink.AEAD {
	t.Helper()
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	a, err := aead.New(h)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// sameKeys checks that two keysets open each other's values.
func sameKeys(t *testing.T, h1, h2 *keyset.Handle) {
	t.Helper()
	a := ad("ns", "s", "n")
	ct := seal(t, envelope(t, h1), []byte("v"), a)
	mustOpen(t, envelope(t, h2), ct, a, []byte("v"))
	l1, l2 := keys.List(h1), keys.List(h2)
	if len(l1) != len(l2) {
		t.Fatalf("keyset has %d keys after the trip, want %d", len(l2), len(l1))
	}
	for i := range l1 {
		if l1[i] != l2[i] {
			t.Fatalf("key %d is %+v after the trip, want %+v", i, l2[i], l1[i])
		}
	}
}

// secretValues returns the base64 key material of a cleartext JSON
// keyset, to check that no output holds it.
func secretValues(t *testing.T, js []byte) []string {
	t.Helper()
	var ks struct {
		Key []struct {
			KeyData struct{ Value string } `json:"keyData"`
		} `json:"key"`
	}
	if err := json.Unmarshal(js, &ks); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range ks.Key {
		if len(k.KeyData.Value) < 16 {
			t.Fatalf("key material %q too short to look for", k.KeyData.Value)
		}
		out = append(out, k.KeyData.Value)
	}
	return out
}

func TestWriteFileIsStandardTinkJSON(t *testing.T) {
	h := generate(t)
	h, id, err := keys.Rotate(h)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kek.json")
	if err := keys.WriteFile(path, h, nil); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %#o, want 0600", fi.Mode().Perm())
	}
	js, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ks struct {
		PrimaryKeyID uint32 `json:"primaryKeyId"`
		Key          []struct {
			KeyData struct {
				TypeURL         string `json:"typeUrl"`
				Value           string `json:"value"`
				KeyMaterialType string `json:"keyMaterialType"`
			} `json:"keyData"`
			Status           string `json:"status"`
			KeyID            uint32 `json:"keyId"`
			OutputPrefixType string `json:"outputPrefixType"`
		} `json:"key"`
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ks); err != nil {
		t.Fatalf("written keyset is not Tink's JSON keyset form: %v", err)
	}
	if ks.PrimaryKeyID != id || len(ks.Key) != 2 {
		t.Fatalf("primaryKeyId %d with %d keys, want %d with 2", ks.PrimaryKeyID, len(ks.Key), id)
	}
	for _, k := range ks.Key {
		if k.KeyData.TypeURL != "type.googleapis.com/google.crypto.tink.PrfBasedDeriverKey" ||
			k.KeyData.KeyMaterialType != "SYMMETRIC" || k.Status != "ENABLED" || k.OutputPrefixType != "TINK" ||
			k.KeyData.Value == "" || k.KeyID == 0 {
			t.Errorf("key %+v", k)
		}
	}
	// Tink's own reader loads it.
	th, err := insecurecleartextkeyset.Read(keyset.NewJSONReader(bytes.NewReader(js)))
	if err != nil {
		t.Fatalf("Tink cannot read the written keyset: %v", err)
	}
	sameKeys(t, h, th)

	log, logged := logBuffer()
	back, err := keys.ReadFile(path, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	sameKeys(t, h, back)
	if logged.Len() != 0 {
		t.Errorf("reading a 0600 file logged %q", logged)
	}

	// Writing again replaces the file and leaves no temporary file behind.
	if err := keys.WriteFile(path, generate(t), nil); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("directory holds %d files after two writes, want 1", len(entries))
	}
}

func TestTinkWrittenKeysetLoads(t *testing.T) {
	h := generate(t)
	var buf bytes.Buffer
	if err := insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(&buf)); err != nil {
		t.Fatal(err)
	}
	// tinkey pretty-prints its JSON.
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, buf.Bytes(), "", "    "); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tinkey.json")
	if err := os.WriteFile(path, pretty.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	back, err := keys.ReadFile(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sameKeys(t, h, back)

	// And an encrypted keyset written by Tink itself.
	master := masterAEAD(t)
	var enc bytes.Buffer
	if err := h.Write(keyset.NewJSONWriter(&enc), master); err != nil {
		t.Fatal(err)
	}
	back, err = keys.Parse(enc.Bytes(), master)
	if err != nil {
		t.Fatal(err)
	}
	sameKeys(t, h, back)
}

func TestPermissionWarning(t *testing.T) {
	h := generate(t)
	path := filepath.Join(t.TempDir(), "kek.json")
	if err := keys.WriteFile(path, h, nil); err != nil {
		t.Fatal(err)
	}
	js, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode os.FileMode
		warn bool
	}{
		// Group bits are how a service's group is let in: no warning.
		{0o600, false}, {0o640, false}, {0o660, false}, {0o700, false}, {0o400, false},
		// Every user may read or write: a warning.
		{0o644, true}, {0o604, true}, {0o602, true}, {0o666, true}, {0o601, true},
	} {
		if err := os.Chmod(path, tc.mode); err != nil {
			t.Fatal(err)
		}
		log, logged := logBuffer()
		back, err := keys.ReadFile(path, nil, log)
		if err != nil {
			t.Fatalf("mode %#o: the file must still load: %v", tc.mode, err)
		}
		sameKeys(t, h, back)
		out := logged.String()
		if !tc.warn {
			if out != "" {
				t.Errorf("mode %#o: logged %q, want nothing", tc.mode, out)
			}
			continue
		}
		if !strings.Contains(out, "level=WARN") || !strings.Contains(out, path) {
			t.Errorf("mode %#o: log %q has no warning naming the file", tc.mode, out)
		}
		if !strings.Contains(out, "mode=0"+strconvOctal(tc.mode)) {
			t.Errorf("mode %#o: log %q does not give the mode", tc.mode, out)
		}
		for _, secret := range secretValues(t, js) {
			if strings.Contains(out, secret) {
				t.Fatalf("log holds key material")
			}
		}
	}

	// Without a logger the warning goes to slog.Default.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	defer slog.SetDefault(prev)
	if _, err := keys.ReadFile(path, nil, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "level=WARN") {
		t.Errorf("no warning on slog.Default: %q", buf.String())
	}
}

func strconvOctal(m os.FileMode) string {
	const digits = "01234567"
	p := uint32(m.Perm())
	return string([]byte{digits[p>>6&7], digits[p>>3&7], digits[p&7]})
}

func TestReadEnv(t *testing.T) {
	h := generate(t)
	js, err := keys.Marshal(h, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{
		"json":                   string(js),
		"base64":                 base64.StdEncoding.EncodeToString(js),
		"base64 raw url":         base64.RawURLEncoding.EncodeToString(js),
		"base64 padded, newline": base64.StdEncoding.EncodeToString(js) + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("ATTRCACHE_TEST_KEYSET", v)
			back, err := keys.ReadEnv("ATTRCACHE_TEST_KEYSET", nil)
			if err != nil {
				t.Fatal(err)
			}
			sameKeys(t, h, back)
		})
	}

	t.Setenv("ATTRCACHE_TEST_KEYSET", "")
	if _, err := keys.ReadEnv("ATTRCACHE_TEST_KEYSET", nil); err == nil || !strings.Contains(err.Error(), "ATTRCACHE_TEST_KEYSET") {
		t.Fatalf("empty variable: %v, want an error naming it", err)
	}
	os.Unsetenv("ATTRCACHE_TEST_KEYSET")
	if _, err := keys.ReadEnv("ATTRCACHE_TEST_KEYSET", nil); err == nil {
		t.Fatal("unset variable read")
	}

	// An encrypted keyset in the environment, base64 as a secret store
	// would hand it over.
	master := masterAEAD(t)
	enc, err := keys.Marshal(h, master)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("ATTRCACHE_TEST_KEYSET", base64.StdEncoding.EncodeToString(enc))
	back, err := keys.ReadEnv("ATTRCACHE_TEST_KEYSET", master)
	if err != nil {
		t.Fatal(err)
	}
	sameKeys(t, h, back)
}

func TestEncryptedKeysetFile(t *testing.T) {
	h := generate(t)
	master := masterAEAD(t)
	path := filepath.Join(t.TempDir(), "kek.enc.json")
	if err := keys.WriteFile(path, h, master); err != nil {
		t.Fatal(err)
	}
	js, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(js, &fields); err != nil {
		t.Fatal(err)
	}
	if _, ok := fields["encryptedKeyset"]; !ok {
		t.Fatalf("no encryptedKeyset field in %v", fields)
	}
	if _, ok := fields["key"]; ok {
		t.Fatal("encrypted keyset file holds cleartext keys")
	}
	cleartext, err := keys.Marshal(h, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range secretValues(t, cleartext) {
		if bytes.Contains(js, []byte(secret)) {
			t.Fatal("encrypted keyset file holds key material")
		}
	}

	back, err := keys.ReadFile(path, master, nil)
	if err != nil {
		t.Fatal(err)
	}
	sameKeys(t, h, back)

	if _, err := keys.ReadFile(path, nil, nil); !errors.Is(err, keys.ErrEncrypted) || !strings.Contains(err.Error(), path) {
		t.Errorf("encrypted file without master: %v, want ErrEncrypted naming the file", err)
	}
	if _, err := keys.ReadFile(path, masterAEAD(t), nil); err == nil {
		t.Error("encrypted file opened with another master")
	}
	cpath := filepath.Join(t.TempDir(), "clear.json")
	if err := keys.WriteFile(cpath, h, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.ReadFile(cpath, master, nil); err == nil || !strings.Contains(err.Error(), "cleartext") {
		t.Errorf("cleartext file with a master: %v", err)
	}
}

func TestParseErrorsQuoteNothing(t *testing.T) {
	const secret = "U0VDUkVUU0VDUkVUU0VDUkVU"
	for _, in := range []string{
		"",
		"   ",
		"not json " + secret,
		`{"key": "` + secret + `"`,
		`{"primaryKeyId": 1, "key": [{"keyData": {"typeUrl": "x", "value": "` + secret + `!!"}}]}`,
		`{"primaryKeyId": 1, "key": []}`,
		`{"something": "` + secret + `"}`,
		base64.StdEncoding.EncodeToString([]byte("not json " + secret)),
		`[1, 2, 3]`,
	} {
		_, err := keys.Parse([]byte(in), nil)
		if err == nil {
			t.Errorf("Parse(%q) succeeded", in)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("Parse error quotes the input: %v", err)
		}
	}
	if _, err := keys.Parse([]byte(`{"encryptedKeyset": "`+secret+`!"}`), masterAEAD(t)); err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("Parse(malformed encrypted) = %v", err)
	}
	if _, err := keys.ReadFile(filepath.Join(t.TempDir(), "missing.json"), nil, nil); err == nil {
		t.Error("ReadFile of a missing file succeeded")
	}
	if _, err := keys.ReadFile(t.TempDir(), nil, nil); err == nil {
		t.Error("ReadFile of a directory succeeded")
	}
}
