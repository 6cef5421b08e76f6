package keys

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
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

// A WriteOption changes how WriteFile treats what it finds at the path.
type WriteOption func(*writeOptions)

type writeOptions struct {
	follow bool // write through a symbolic link
	fresh  bool // a new keyset: FileMode and the writer's owner
}

// FollowSymlink lets WriteFile write through a symbolic link at the path:
// the file the link resolves to is replaced, and the link stays. Without
// it a link is refused with ErrSymlink, since writing through it puts the
// keyset wherever the link points, in a file whose mode was chosen for
// something else.
func FollowSymlink() WriteOption { return func(o *writeOptions) { o.follow = true } }

// AsNewFile makes WriteFile write a new keyset, as generating one does:
// the file gets FileMode and belongs to the writing user, whatever file
// it replaces. The mode and owner of that file were chosen for other
// keys, or by nobody (a umask's 0644), and are not inherited.
func AsNewFile() WriteOption { return func(o *writeOptions) { o.fresh = true } }

// WriteFile writes h to path in Tink's JSON form (see Marshal; master nil
// for cleartext), replacing the file atomically: it writes a temporary
// file in the same directory, syncs it and renames it over the file, so
// readers see the old keyset or the new one, never a torn file.
//
// A symbolic link at path is refused with an error wrapping ErrSymlink,
// unless FollowSymlink is given: then the file the link resolves to is
// replaced and the link is left as it is. The file is opened with
// O_NOFOLLOW, so a link that takes its place after the check is refused
// too, and the rename replaces a directory entry, never what a link
// points to. Links among the directories of path are followed.
//
// The new file's mode and owner (see the package doc, "Key files"): a
// new file, and any file written AsNewFile, gets FileMode and belongs to
// the writer. A file that is rewritten keeps its owner and group, as far
// as the process may set them (root always; another user keeps at least
// a group it belongs to), and its mode when that shares the keyset with
// the file's group and nobody else (0640, 0660); a mode that lets every
// user in becomes FileMode.
//
// Nothing is changed when the file cannot be replaced: a read-only file
// (no write permission for anyone, or none for this user) is refused with
// an error wrapping fs.ErrPermission, a link to a missing file and a
// missing directory with errors that say so. Errors name path, never the
// temporary file.
func WriteFile(path string, h *keyset.Handle, master tink.AEAD, opts ...WriteOption) error {
	var o writeOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	data, err := Marshal(h, master)
	if err != nil {
		return err
	}
	defer clear(data)
	target, name, old, err := writeTarget(path, o)
	if err != nil {
		return err
	}
	if o.fresh {
		old = nil
	}
	return replaceFile(name, target, old, data)
}

// writeTarget resolves path for writing and returns the file to replace,
// how errors call it, and its current FileInfo (nil for a new file),
// after checking that it may be replaced.
func writeTarget(path string, o writeOptions) (target, name string, old fs.FileInfo, err error) {
	li, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// A new file. Should a link appear here before the rename, the
		// rename replaces the link itself, and writes nothing through it.
		dir := filepath.Dir(path)
		if di, derr := os.Stat(dir); derr != nil {
			return "", "", nil, fmt.Errorf("keys: cannot write %s: directory %s: %w", path, dir, bare(derr))
		} else if !di.IsDir() {
			return "", "", nil, fmt.Errorf("keys: cannot write %s: %s is not a directory", path, dir)
		}
		return path, path, nil, nil
	case err != nil:
		return "", "", nil, fmt.Errorf("keys: cannot write %s: %w", path, bare(err))
	case li.Mode()&fs.ModeSymlink != 0 && !o.follow:
		return "", "", nil, newSymlinkError(path)
	}

	target, name = path, path
	if li.Mode()&fs.ModeSymlink != 0 {
		target, err = filepath.EvalSymlinks(path)
		if errors.Is(err, fs.ErrNotExist) {
			return "", "", nil, fmt.Errorf("keys: cannot write %s: it is a symbolic link to a file that does not exist; create the file or remove the link", path)
		}
		if err != nil {
			return "", "", nil, fmt.Errorf("keys: cannot write %s: %w", path, bare(err))
		}
		name = path + " (a link to " + target + ")"
	}
	// Checked before opening, so that a device is not opened at all.
	if fi, err := os.Lstat(target); err != nil {
		return "", "", nil, fmt.Errorf("keys: cannot write %s: %w", name, bare(err))
	} else if !fi.Mode().IsRegular() && fi.Mode()&fs.ModeSymlink == 0 {
		return "", "", nil, fmt.Errorf("keys: cannot write %s: not a regular file", name)
	}
	old, err = openForWrite(target, name)
	return target, name, old, err
}

// openForWrite opens the existing file target for writing, without
// following a link and without truncating, and returns what it is. The
// open asks the system whether this user may write the file; replacing it
// needs only the directory, which would let a user change a keyset it
// may not write. The FileInfo comes from the open file, so the mode and
// owner kept are those of the file checked.
func openForWrite(target, name string) (fs.FileInfo, error) {
	f, err := os.OpenFile(target, os.O_WRONLY|openNoFollow, 0)
	if err != nil {
		// The system has refused; Lstat only picks the words.
		if li, lerr := os.Lstat(target); lerr == nil {
			switch {
			case li.Mode()&fs.ModeSymlink != 0:
				return nil, newSymlinkError(name)
			case li.Mode().Perm()&0o222 == 0 && runtime.GOOS != "windows":
				return nil, readOnlyError(name, li.Mode().Perm())
			}
		}
		return nil, fmt.Errorf("keys: cannot write %s: %w", name, bare(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keys: cannot write %s: %w", name, bare(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("keys: cannot write %s: not a regular file", name)
	}
	// Root may open any file for writing; one that nobody may write is
	// meant to stay as it is all the same.
	if perm := fi.Mode().Perm(); perm&0o222 == 0 && runtime.GOOS != "windows" {
		return nil, readOnlyError(name, perm)
	}
	return fi, nil
}

// symlinkError is ErrSymlink in a sentence that names the link.
type symlinkError struct{ msg string }

func (e *symlinkError) Error() string        { return e.msg }
func (e *symlinkError) Is(target error) bool { return target == ErrSymlink }

func newSymlinkError(name string) error {
	to := ""
	if dest, err := os.Readlink(name); err == nil {
		to = " to " + dest
	}
	return &symlinkError{fmt.Sprintf("keys: cannot write %s: it is a symbolic link%s, and links are followed only when asked to", name, to)}
}

func readOnlyError(name string, perm fs.FileMode) error {
	return fmt.Errorf("keys: cannot write %s: the file is read-only (mode %#o); make it writable to change the keyset: %w", name, perm, fs.ErrPermission)
}

// keptMode is the mode a rewritten keyset keeps from the file it
// replaces: the group's share when nobody else has one (0640, 0660), since
// sharing a keyset with a service's group is deliberate. A mode that lets
// every user in is a mistake to fix, not to keep, and becomes FileMode;
// so does anything but read and write.
func keptMode(perm fs.FileMode) fs.FileMode {
	if perm&worldBits != 0 {
		return FileMode
	}
	return FileMode | perm&0o060
}

// replaceFile writes data to a temporary file beside target, gives it the
// owner of old and keptMode of its mode (FileMode and the writer's owner
// when old is nil) and renames it over target. name is how errors call
// the file.
func replaceFile(name, target string, old fs.FileInfo, data []byte) error {
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return fmt.Errorf("keys: cannot write %s: cannot create a file in %s: %w", name, dir, bare(err))
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	mode := FileMode
	if old != nil {
		mode = keptMode(old.Mode().Perm())
		if err := keepOwner(tmp, old); err != nil {
			return fmt.Errorf("keys: cannot write %s: cannot keep its owner: %w", name, bare(err))
		}
	}
	if err := tmp.Chmod(mode); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("keys: cannot write %s: %w", name, bare(err))
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("keys: cannot write %s: %w", name, bare(err))
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("keys: cannot write %s: %w", name, bare(err))
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("keys: cannot write %s: %w", name, bare(err))
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		os.Remove(tmp.Name())
		done = true
		return fmt.Errorf("keys: cannot write %s: %w", name, bare(err))
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

// bare strips the file names from an os error, which would otherwise
// show the temporary file's name instead of the keyset's.
func bare(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
