//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// editEveryWay runs every command that rewrites the keyset on kek:
// rotate, add, promote, disable, enable, destroy.
func editEveryWay(t *testing.T, kek string, check func(step string)) {
	t.Helper()
	mustRun(t, "rotate", "-in", kek)
	check("rotate")
	mustRun(t, "add", "-in", kek)
	check("add")
	ids, primary := keyIDs(t, kek)
	added := ids[len(ids)-1]
	mustRun(t, "promote", "-in", kek, "-id", idArg(added))
	check("promote")
	mustRun(t, "disable", "-in", kek, "-id", idArg(primary))
	check("disable")
	mustRun(t, "enable", "-in", kek, "-id", idArg(primary))
	check("enable")
	mustRun(t, "destroy", "-in", kek, "-id", idArg(ids[0]))
	check("destroy")
}

func TestSymlinkedKeyset(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(dir, "keys", "kek-2024.json")
	mustRun(t, "generate", "-out", real)
	link := filepath.Join(dir, "kek.json")
	if err := os.Symlink(filepath.Join("keys", "kek-2024.json"), link); err != nil {
		t.Fatal(err)
	}
	n := 1
	editEveryWay(t, link, func(step string) {
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("%s replaced the link with a file: %v", step, err)
		}
		// The file the link points to is the one that changed.
		ids, _ := keyIDs(t, real)
		if step == "rotate" || step == "add" {
			n++
		}
		if len(ids) != n {
			t.Fatalf("after %s the target holds %d keys, want %d", step, len(ids), n)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 2 {
			t.Fatalf("after %s the link's directory holds %d entries", step, len(entries))
		}
	})
	out := mustRun(t, "rotate", "-in", link)
	if !strings.Contains(out, real) {
		t.Errorf("rotate through a link does not say which file it wrote: %q", out)
	}

	// generate -force through a link writes the target too.
	mustRun(t, "generate", "-out", link, "-force")
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatal("generate -force replaced the link")
	}
	if ids, _ := keyIDs(t, real); len(ids) != 1 {
		t.Fatalf("generate -force through the link left %d keys in the target", len(ids))
	}
}

func TestGroupReadableKeyset(t *testing.T) {
	kek := filepath.Join(t.TempDir(), "kek.json")
	mustRun(t, "generate", "-out", kek)
	if err := os.Chmod(kek, 0o640); err != nil {
		t.Fatal(err)
	}
	// As root, the keyset also belongs to a service user and group,
	// which it must keep.
	root := os.Geteuid() == 0
	const uid, gid = 4321, 8765
	if root {
		if err := os.Chown(kek, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	editEveryWay(t, kek, func(step string) {
		fi, err := os.Stat(kek)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o640 {
			t.Fatalf("%s left mode %#o, want 0640", step, fi.Mode().Perm())
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); root && ok && (st.Uid != uid || st.Gid != gid) {
			t.Fatalf("%s left owner %d:%d, want %d:%d", step, st.Uid, st.Gid, uid, gid)
		}
	})
	// No warning for a group-readable file.
	if r := runCmd(t, "list", "-in", kek); r.stderr != "" {
		t.Errorf("list of a 0640 keyset warns: %q", r.stderr)
	}
}

func TestReadOnlyKeyset(t *testing.T) {
	dir := t.TempDir()
	kek := filepath.Join(dir, "kek.json")
	mustRun(t, "generate", "-out", kek)
	mustRun(t, "rotate", "-in", kek)
	ids, primary := keyIDs(t, kek)
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink("kek.json", link); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(kek, 0o400); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(kek)
	if err != nil {
		t.Fatal(err)
	}
	other := ids[0]
	if other == primary {
		other = ids[1]
	}
	for _, path := range []string{kek, link} {
		for _, args := range [][]string{
			{"rotate", "-in", path},
			{"add", "-in", path},
			{"promote", "-in", path, "-id", idArg(other)},
			{"disable", "-in", path, "-id", idArg(other)},
			{"destroy", "-in", path, "-id", idArg(other)},
			{"generate", "-out", path, "-force"},
		} {
			r := runCmd(t, args...)
			if r.code != 1 || !lineRe.MatchString(r.stderr) || !strings.Contains(r.stderr, "read-only") || !strings.Contains(r.stderr, path) {
				t.Fatalf("%q on a read-only keyset: exit %d, stderr %q", args, r.code, r.stderr)
			}
			if strings.Contains(r.stderr, ".tmp") {
				t.Errorf("error names a temporary file: %q", r.stderr)
			}
		}
	}
	after, err := os.ReadFile(kek)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(before) {
		t.Fatal("a refused command changed the read-only keyset")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Fatalf("a refused command left files behind: %d entries", len(entries))
	}
}

func TestMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no-such-dir", "kek.json")
	r := runCmd(t, "generate", "-out", path)
	if r.code != 1 || !lineRe.MatchString(r.stderr) || !strings.Contains(r.stderr, path) || strings.Contains(r.stderr, ".tmp") {
		t.Fatalf("generate into a missing directory: exit %d, stderr %q", r.code, r.stderr)
	}
}
