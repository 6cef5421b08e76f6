package keys_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/attrcache/attrcache/keys"
)

// dirEntries returns the names in dir, to check that nothing is left
// behind.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func readBack(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWriteFileThroughSymlinkWhenAsked: with FollowSymlink the file a
// link resolves to is replaced and the link stays.
func TestWriteFileThroughSymlinkWhenAsked(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real", "kek-2024.json")
	if err := os.Mkdir(filepath.Dir(real), 0o700); err != nil {
		t.Fatal(err)
	}
	h1, h2 := generate(t), generate(t)
	if err := keys.WriteFile(real, h1, nil); err != nil {
		t.Fatal(err)
	}
	// A relative link, and a link to the link: both resolve to real.
	link := filepath.Join(dir, "kek.json")
	if err := os.Symlink(filepath.Join("real", "kek-2024.json"), link); err != nil {
		t.Fatal(err)
	}
	chain := filepath.Join(dir, "current.json")
	if err := os.Symlink("kek.json", chain); err != nil {
		t.Fatal(err)
	}

	for _, path := range []string{link, chain} {
		if err := keys.WriteFile(path, h2, nil, keys.FollowSymlink()); err != nil {
			t.Fatal(err)
		}
		// The links are still links, and the file they point to holds the
		// new keyset.
		for _, l := range []string{link, chain} {
			if fi, err := os.Lstat(l); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
				t.Fatalf("writing %s replaced the link %s: %v", path, l, err)
			}
		}
		back, err := keys.ReadFile(real, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		sameKeys(t, h2, back)
		h1, h2 = h2, h1
	}
	if got := dirEntries(t, filepath.Dir(real)); len(got) != 1 {
		t.Errorf("target directory holds %q, want only the keyset", got)
	}
	if got := dirEntries(t, dir); len(got) != 3 {
		t.Errorf("link directory holds %q, want the two links and the directory", got)
	}

	// A link to nothing is refused, and stays as it is.
	dangling := filepath.Join(dir, "dangling.json")
	if err := os.Symlink("missing.json", dangling); err != nil {
		t.Fatal(err)
	}
	err := keys.WriteFile(dangling, h1, nil, keys.FollowSymlink())
	if err == nil || !strings.Contains(err.Error(), dangling) || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("WriteFile through a dangling link: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "missing.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a dangling link's target was created: %v", err)
	}
}

// TestWriteFileModes: a rewrite keeps a mode that shares the keyset with
// the group only, and narrows one that lets every user in to 0600; a new
// file and a file written AsNewFile are 0600 whatever was there.
func TestWriteFileModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix modes")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "kek.json")
	for _, tc := range []struct {
		before, rewrite, asNew os.FileMode
	}{
		{0o600, 0o600, 0o600},
		{0o640, 0o640, 0o600},
		{0o660, 0o660, 0o600},
		{0o740, 0o640, 0o600}, // no execute bits
		{0o644, 0o600, 0o600}, // every user could read it
		{0o604, 0o600, 0o600},
		{0o666, 0o600, 0o600},
		{0o602, 0o600, 0o600},
	} {
		for _, asNew := range []bool{false, true} {
			if err := keys.WriteFile(path, generate(t), nil); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.before); err != nil {
				t.Fatal(err)
			}
			var opts []keys.WriteOption
			want := tc.rewrite
			if asNew {
				opts, want = []keys.WriteOption{keys.AsNewFile()}, tc.asNew
			}
			if err := keys.WriteFile(path, generate(t), nil, opts...); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
				t.Errorf("a %#o keyset rewritten (as new: %v) has mode %#o, want %#o (%v)", tc.before, asNew, fi.Mode().Perm(), want, err)
			}
		}
	}

	// A new file is 0600.
	fresh := filepath.Join(dir, "new.json")
	if err := keys.WriteFile(fresh, generate(t), nil); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(fresh); err != nil || fi.Mode().Perm() != keys.FileMode {
		t.Errorf("a new keyset has mode %v (%v)", fi.Mode().Perm(), err)
	}
}

// TestWriteFileRefusesSymlink: without FollowSymlink a link is refused
// and nothing changes, not the file it points to (a world-readable one
// here), not the link; with it, the file is replaced and stops being
// world-readable.
func TestWriteFileRefusesSymlink(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix modes")
	}
	dir := t.TempDir()
	shared := filepath.Join(dir, "shared.json")
	if err := os.WriteFile(shared, []byte("other data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	link := filepath.Join(dir, "kek.json")
	if err := os.Symlink("shared.json", link); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling.json")
	if err := os.Symlink("missing.json", dangling); err != nil {
		t.Fatal(err)
	}
	for _, opts := range [][]keys.WriteOption{nil, {keys.AsNewFile()}} {
		for _, path := range []string{link, dangling} {
			err := keys.WriteFile(path, generate(t), nil, opts...)
			if !errors.Is(err, keys.ErrSymlink) || !strings.Contains(err.Error(), path) {
				t.Fatalf("WriteFile(%s) = %v, want ErrSymlink naming the link", path, err)
			}
		}
	}
	if got := string(readBack(t, shared)); got != "other data\n" {
		t.Fatalf("the file behind the link changed: %q", got)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("the link changed: %v", err)
	}
	if fi, err := os.Stat(shared); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("the file behind the link has mode %v", fi.Mode().Perm())
	}
	if _, err := os.Lstat(filepath.Join(dir, "missing.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a dangling link's target was created: %v", err)
	}
	if got := dirEntries(t, dir); len(got) != 3 {
		t.Fatalf("directory holds %q after refused writes", got)
	}

	// Asked to, as generate -force -follow: the keyset replaces the file
	// behind the link, 0600, and the link stays.
	h := generate(t)
	if err := keys.WriteFile(link, h, nil, keys.FollowSymlink(), keys.AsNewFile()); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v", err)
	}
	if fi, err := os.Stat(shared); err != nil || fi.Mode().Perm() != keys.FileMode {
		t.Errorf("the keyset behind the link has mode %v, want %v", fi.Mode().Perm(), keys.FileMode)
	}
	back, err := keys.ReadFile(shared, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sameKeys(t, h, back)

	// As rotate -follow: a world-readable file behind the link becomes
	// 0600 too.
	if err := os.Chmod(shared, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := keys.WriteFile(link, h, nil, keys.FollowSymlink()); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(shared); err != nil || fi.Mode().Perm() != keys.FileMode {
		t.Errorf("rewritten through the link: mode %v, want %v", fi.Mode().Perm(), keys.FileMode)
	}
}

func TestWriteFileRefusesReadOnly(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix modes")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "kek.json")
	if err := keys.WriteFile(path, generate(t), nil); err != nil {
		t.Fatal(err)
	}
	before := readBack(t, path)
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink("kek.json", link); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o400, 0o440, 0o444, 0o000} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{path, link} {
			// Refused even for root: a file nobody may write is meant to
			// stay as it is.
			err := keys.WriteFile(p, generate(t), nil, keys.FollowSymlink())
			if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "read-only") || !strings.Contains(err.Error(), p) {
				t.Fatalf("mode %#o, %s: %v, want a read-only error naming the file", mode, p, err)
			}
			if strings.Contains(err.Error(), ".tmp") {
				t.Errorf("error names a temporary file: %v", err)
			}
		}
		if err := os.Chmod(path, 0o600); err != nil {
			t.Fatal(err)
		}
		if got := readBack(t, path); string(got) != string(before) {
			t.Fatalf("mode %#o: the read-only keyset changed", mode)
		}
		if got := dirEntries(t, dir); len(got) != 2 {
			t.Fatalf("mode %#o: directory holds %q after a refused write", mode, got)
		}
	}
}

func TestWriteFileErrorsNameThePath(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such-dir", "kek.json")
	err := keys.WriteFile(missing, generate(t), nil)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) || strings.Contains(err.Error(), ".tmp") {
		t.Errorf("missing directory: %v, want an error naming %s and no temporary file", err, missing)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	under := filepath.Join(file, "kek.json")
	err = keys.WriteFile(under, generate(t), nil)
	if err == nil || !strings.Contains(err.Error(), under) || strings.Contains(err.Error(), ".tmp") {
		t.Errorf("a file as directory: %v", err)
	}
	err = keys.WriteFile(dir, generate(t), nil)
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory as the keyset: %v", err)
	}
	if os.Geteuid() != 0 && runtime.GOOS != "windows" {
		ro := filepath.Join(dir, "ro")
		if err := os.Mkdir(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(ro, "kek.json")
		err := keys.WriteFile(path, generate(t), nil)
		if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), ".tmp") {
			t.Errorf("read-only directory: %v", err)
		}
	}
}
