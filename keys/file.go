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
	"path/filepath"
	"runtime"

	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// FileMode is the mode WriteFile gives keyset files, and the widest mode
// ReadFile accepts without a warning.
const FileMode os.FileMode = 0o600

// maxKeysetBytes bounds what ReadFile and Parse accept; a keyset of a
// hundred keys is a few tens of kilobytes.
const maxKeysetBytes = 4 << 20

// Parse reads a keyset in Tink's JSON form, or base64 of it (standard or
// URL alphabet, padded or not). With a nil master the keyset must be in
// cleartext; otherwise it must be a Tink encrypted keyset, which master
// (any tink.AEAD, for example a KMS client's) decrypts with empty
// associated data, as Tink's tools write them. Errors say what is wrong
// (not JSON, encrypted but no master, ...) but never quote the input.
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
		return nil, errors.New("keys: keyset is encrypted; a master AEAD is needed to read it")
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
	r := keyset.NewJSONReader(bytes.NewReader(js))
	var h *keyset.Handle
	if master != nil {
		// Parsed apart from decryption so that a JSON error, whose text
		// may quote the input, is never passed on, while the master's
		// error (a KMS denying access, say) is.
		eks, err := r.ReadEncrypted()
		if err != nil {
			return nil, errors.New("keys: malformed Tink encrypted keyset JSON")
		}
		h, err = keyset.Read(&keyset.MemReaderWriter{EncryptedKeyset: eks}, master)
		if err != nil {
			return nil, fmt.Errorf("keys: cannot decrypt keyset with the master AEAD (is it the one that encrypted it?): %v", err)
		}
	} else {
		// insecurecleartextkeyset reports JSON errors without their text.
		h, err = insecurecleartextkeyset.Read(r)
		if err != nil {
			return nil, fmt.Errorf("keys: cannot read keyset: %v", err)
		}
	}
	if h.Len() == 0 {
		return nil, errors.New("keys: keyset has no keys")
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

// ReadFile reads a keyset file in Tink's JSON form (see Parse; master nil
// for a cleartext keyset). A file whose permissions are wider than FileMode
// is read all the same, and a WARNING naming the path and mode is logged
// to log, or to slog.Default when log is nil.
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
	if perm := fi.Mode().Perm(); perm&^FileMode != 0 && runtime.GOOS != "windows" {
		log.Warn("keys: keyset file permissions are wider than 0600; restrict them with chmod 600",
			"path", path, "mode", fmt.Sprintf("%#o", perm))
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeysetBytes+1))
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
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

// WriteFile writes h to path in Tink's JSON form (see Marshal; master nil
// for cleartext) with mode FileMode. It writes a temporary file in the same
// directory, syncs it and renames it over path, so readers see the old
// keyset or the new one, never a torn file.
func WriteFile(path string, h *keyset.Handle, master tink.AEAD) error {
	data, err := Marshal(h, master)
	if err != nil {
		return err
	}
	defer clear(data)
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(FileMode); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("keys: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		done = true
		return fmt.Errorf("keys: %w", err)
	}
	done = true
	// Make the rename itself durable; not every system can sync a
	// directory, and the keyset is written either way.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
