package keys

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Writing keyset files: atomically, never through a link unless asked,
// and never readable by others.

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
