package keys

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"

	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// FileMode is the mode WriteFile gives a new keyset file, a file written
// AsNewFile, and a rewritten file whose mode let every user in; a
// rewritten file shared with its group keeps that share (see WriteFile).
const FileMode os.FileMode = 0o600

// worldBits are the permission bits of "other" users. ReadFile warns
// about a keyset file that has any of them; group bits are a deliberate
// way to let a service's group read the keyset.
const worldBits os.FileMode = 0o007

// maxKeysetBytes bounds what ReadFile and Parse accept; a keyset of a
// hundred keys is a few tens of kilobytes.
const maxKeysetBytes = 4 << 20

// Parse reads a keyset in Tink's JSON form, or base64 of it (standard or
// URL alphabet, padded or not). With a nil master the keyset must be in
// cleartext; otherwise it must be a Tink encrypted keyset, which master
// (any tink.AEAD, for example a KMS client's) decrypts with empty
// associated data, as Tink's tools write them. Destroyed keys load
// whether their key data was emptied (as Tink for Go and C++ write them)
// or left out (as Tink for Java and tinkey write them). Errors say what is
// wrong (not JSON, encrypted but no master, ...) but never quote the
// input.
func Parse(data []byte, master tink.AEAD) (*keyset.Handle, error) {
	if len(data) > maxKeysetBytes {
		return nil, fmt.Errorf("keys: keyset is over %d bytes", maxKeysetBytes)
	}
	js, err := keysetJSON(data)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(js, &fields); err != nil {
		return nil, errors.New("keys: keyset is not valid JSON")
	}
	_, encrypted := fields["encryptedKeyset"]
	if _, ok := fields["encrypted_keyset"]; ok {
		encrypted = true
	}
	switch {
	case encrypted && master == nil:
		return nil, ErrEncrypted
	case !encrypted && master != nil:
		if _, ok := fields["key"]; ok {
			return nil, errors.New("keys: keyset is in cleartext but a master AEAD was given; it should be encrypted")
		}
		return nil, errors.New("keys: JSON is not a Tink encrypted keyset (no encryptedKeyset field)")
	case !encrypted:
		if _, ok := fields["key"]; !ok {
			return nil, errors.New("keys: JSON is not a Tink keyset (no key field)")
		}
	}
	// Tink's JSON reader reports protojson errors, whose text may quote
	// the input; they are never passed on.
	r := keyset.NewJSONReader(bytes.NewReader(js))
	var ks *tinkpb.Keyset
	if master != nil {
		eks, err := r.ReadEncrypted()
		if err != nil {
			return nil, errors.New("keys: malformed Tink encrypted keyset JSON")
		}
		// Decrypted here rather than by keyset.Read so that destroyed
		// keys can be mended (see handleOf) before Tink validates them.
		// The master's own error (a KMS denying access, say) is passed on.
		plain, err := master.Decrypt(eks.GetEncryptedKeyset(), nil)
		if err != nil {
			return nil, fmt.Errorf("keys: cannot decrypt keyset with the master AEAD (is it the one that encrypted it?): %v", err)
		}
		ks, err = keyset.NewBinaryReader(bytes.NewReader(plain)).Read()
		clear(plain)
		if err != nil {
			return nil, errors.New("keys: the master AEAD decrypted the keyset, but it is not a Tink keyset")
		}
	} else if ks, err = r.Read(); err != nil {
		return nil, errors.New("keys: malformed Tink keyset JSON")
	}
	h, err := handleOf(ks)
	if err != nil {
		return nil, err
	}
	if h.Len() == 0 {
		return nil, errors.New("keys: keyset has no keys")
	}
	return h, nil
}

// handleOf returns a handle of the cleartext keyset ks. Tink for Go
// refuses a key without key data, which is how Tink for Java writes a
// destroyed key; such keys get empty key data, which is how Tink for Go
// writes one, so that keysets from either load.
func handleOf(ks *tinkpb.Keyset) (*keyset.Handle, error) {
	if len(ks.GetKey()) == 0 {
		return nil, errors.New("keys: keyset has no keys")
	}
	for _, k := range ks.GetKey() {
		if k.GetStatus() == tinkpb.KeyStatusType_DESTROYED && k.GetKeyData() == nil {
			k.KeyData = &tinkpb.KeyData{}
		}
	}
	var buf bytes.Buffer
	if err := keyset.NewBinaryWriter(&buf).Write(ks); err != nil {
		return nil, errors.New("keys: cannot serialize keyset")
	}
	serialized := buf.Bytes()
	defer clear(serialized)
	h, err := insecurecleartextkeyset.Read(keyset.NewBinaryReader(bytes.NewReader(serialized)))
	if err != nil {
		// Tink's validation errors name key ids and statuses, not
		// material.
		return nil, fmt.Errorf("keys: cannot read keyset: %v", err)
	}
	return h, nil
}

// keysetJSON returns data when it is JSON and its base64 decoding when it
// is base64 of JSON.
func keysetJSON(data []byte) ([]byte, error) {
	t := bytes.TrimSpace(data)
	if len(t) == 0 {
		return nil, errors.New("keys: keyset is empty")
	}
	if t[0] == '{' {
		return t, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(string(t))
		if err != nil {
			continue
		}
		if b = bytes.TrimSpace(b); len(b) > 0 && b[0] == '{' {
			return b, nil
		}
		break
	}
	return nil, errors.New("keys: keyset is neither Tink JSON nor base64 of it")
}

// LooksLikeKeyset reports whether s has the shape of what Parse reads:
// JSON, or base64 whose first bytes decode to the start of a JSON object
// ('{', then a quoted member name), even when truncated or malformed. It
// does not parse s. Package config uses it to refuse, without echoing it,
// a keyset typed where the name of a variable or of a file belongs.
func LooksLikeKeyset(s string) bool {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "{") {
		return true
	}
	// Sixteen base64 characters are twelve bytes: room for '{', some
	// white space and the '"' of the first member, which a name or a
	// path made of base64 characters ("exports/kek.json" decodes to a
	// '{' too) does not have; and short enough for a truncated value.
	if len(t) < 16 {
		return false
	}
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(t[:16])
		if err != nil {
			continue
		}
		b = bytes.TrimLeft(b, " \t\r\n")
		if rest, ok := bytes.CutPrefix(b, []byte("{")); ok && bytes.HasPrefix(bytes.TrimLeft(rest, " \t\r\n"), []byte(`"`)) {
			return true
		}
	}
	return false
}

// ReadFile reads a keyset file in Tink's JSON form (see Parse; master nil
// for a cleartext keyset), following symbolic links. A file that every
// user may read or write (any of the permission bits 0007) is read all the
// same, and a WARNING naming the path and mode is logged to log, or to
// slog.Default when log is nil; group permissions draw no warning, since
// they are how a service's group is let in.
func ReadFile(path string, master tink.AEAD, log *slog.Logger) (*keyset.Handle, error) {
	if log == nil {
		log = slog.Default()
	}
	// Checked before opening, so that a FIFO or device does not block us.
	if fi, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("keys: %s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&worldBits != 0 && runtime.GOOS != "windows" {
		log.Warn("keys: every user may read or write this keyset file; restrict it, for example with chmod o-rwx",
			"path", path, "mode", fmt.Sprintf("%#o", perm))
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeysetBytes+1))
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	defer clear(data)
	h, err := Parse(data, master)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return h, nil
}

// ReadEnv reads a keyset from the environment variable name, holding Tink
// JSON or base64 of it (see Parse; master nil for a cleartext keyset). An
// unset or empty variable is an error that names it.
func ReadEnv(name string, master tink.AEAD) (*keyset.Handle, error) {
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return nil, fmt.Errorf("keys: environment variable %s is not set", name)
	}
	h, err := Parse([]byte(v), master)
	if err != nil {
		return nil, fmt.Errorf("%w (in $%s)", err, name)
	}
	return h, nil
}

// Marshal returns h in Tink's JSON keyset form: in cleartext when master
// is nil, else as a Tink encrypted keyset sealed by master with empty
// associated data. The result holds key material (encrypted or not): keep
// it out of logs.
func Marshal(h *keyset.Handle, master tink.AEAD) ([]byte, error) {
	if h == nil || h.Len() == 0 {
		return nil, errors.New("keys: keyset is empty")
	}
	var buf bytes.Buffer
	w := keyset.NewJSONWriter(&buf)
	if master != nil {
		if err := h.Write(w, master); err != nil {
			return nil, errors.New("keys: cannot encrypt keyset with the master AEAD")
		}
	} else if err := insecurecleartextkeyset.Write(h, w); err != nil {
		return nil, fmt.Errorf("keys: cannot write keyset: %v", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}
