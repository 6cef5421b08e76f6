//go:build unix

package keys_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/attrcache/attrcache/keys"
)

// TestWriteFileKeepsOwner: owner and group survive the rewrite. Only root
// may give a file to another user.
func TestWriteFileKeepsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving a file to another user needs root")
	}
	dir := t.TempDir()
	const uid, gid = 4321, 8765
	path := filepath.Join(dir, "owned.json")
	if err := keys.WriteFile(path, generate(t), nil); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := keys.WriteFile(path, generate(t), nil); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != uid || st.Gid != gid || fi.Mode().Perm() != 0o640 {
		t.Errorf("rewritten keyset is %d:%d %v, want %d:%d 0640", st.Uid, st.Gid, fi.Mode().Perm(), uid, gid)
	}
}

// TestAsNewFileTakesTheWritersOwner: a new keyset written over another
// user's file belongs to the writer, 0600; it inherits nothing.
func TestAsNewFileTakesTheWritersOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving a file to another user needs root")
	}
	path := filepath.Join(t.TempDir(), "owned.json")
	if err := keys.WriteFile(path, generate(t), nil); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 4321, 8765); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := keys.WriteFile(path, generate(t), nil, keys.AsNewFile()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if int(st.Uid) != os.Geteuid() || fi.Mode().Perm() != keys.FileMode {
		t.Errorf("new keyset is %d:%d %v, want owner %d and %v", st.Uid, st.Gid, fi.Mode().Perm(), os.Geteuid(), keys.FileMode)
	}
}
