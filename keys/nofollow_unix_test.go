//go:build unix

package keys

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestOpenForWriteRefusesLink: the open that checks a keyset file does not
// follow a link, so a link that takes the file's place after WriteFile
// resolved the path is refused rather than written through.
func TestOpenForWriteRefusesLink(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "other.json")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "kek.json")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	if _, err := openForWrite(link, link); !errors.Is(err, ErrSymlink) {
		t.Fatalf("openForWrite through a link: %v, want ErrSymlink", err)
	}
	if fi, err := openForWrite(file, file); err != nil || fi.Mode().Perm() != 0o644&^umask(t) {
		t.Fatalf("openForWrite of the file: %v, %v", fi, err)
	}
}

// umask returns the process's umask, which os.WriteFile's mode passes
// through.
func umask(t *testing.T) os.FileMode {
	t.Helper()
	probe := filepath.Join(t.TempDir(), "probe")
	if err := os.WriteFile(probe, nil, 0o777); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(probe)
	if err != nil {
		t.Fatal(err)
	}
	return 0o777 &^ fi.Mode().Perm()
}
