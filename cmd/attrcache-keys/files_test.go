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
// rotate, add, promote, disable, enable, destroy, each with the flags
// given.
func editEveryWay(t *testing.T, kek string, check func(step string), flags ...string) {
	t.Helper()
	run := func(args ...string) { t.Helper(); mustRun(t, append(args, flags...)...) }
	run("rotate", "-in", kek)
	check("rotate")
	run("add", "-in", kek)
	check("add")
	ids, primary := keyIDs(t, kek)
	added := ids[len(ids)-1]
	run("promote", "-in", kek, "-id", idArg(added))
	check("promote")
	run("disable", "-in", kek, "-id", idArg(primary))
	check("disable")
	run("enable", "-in", kek, "-id", idArg(primary))
	check("enable")
	run("destroy", "-in", kek, "-id", idArg(ids[0]))
	check("destroy")
}

// writingCommands are the command lines that write the keyset at path,
// for a keyset whose keys include other (not the primary).
func writingCommands(path string, other uint32) [][]string {
	return [][]string{
		{"rotate", "-in", path},
		{"add", "-in", path},
		{"promote", "-in", path, "-id", idArg(other)},
		{"disable", "-in", path, "-id", idArg(other)},
		{"enable", "-in", path, "-id", idArg(other)},
		{"destroy", "-in", path, "-id", idArg(other)},
		{"generate", "-out", path, "-force"},
	}
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
	// Without -follow every command that writes refuses the link and
	// changes nothing.
	mustRun(t, "rotate", "-in", real)
	ids, primary := keyIDs(t, real)
	other := ids[0]
	if other == primary {
		other = ids[1]
	}
	before, err := os.ReadFile(real)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range writingCommands(link, other) {
		r := runCmd(t, args...)
		if r.code != 1 || !lineRe.MatchString(r.stderr) || !strings.Contains(r.stderr, "symbolic link") || !strings.Contains(r.stderr, "-follow") {
			t.Fatalf("%q through a link: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	if after, err := os.ReadFile(real); err != nil || string(after) != string(before) {
		t.Fatalf("a refused command changed the keyset behind the link (%v)", err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("a refused command replaced the link: %v", err)
	}

	n := 2
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
	}, "-follow")
	r := runCmd(t, "rotate", "-in", link, "-follow")
	if r.code != 0 || !strings.Contains(r.stdout, real) {
		t.Errorf("rotate through a link does not say which file it wrote: %q", r.stdout)
	}
	if want := "attrcache-keys: " + link + " is a symbolic link: kept it, and replaced the file it points to, " + real + "\n"; r.stderr != want {
		t.Errorf("rotate -follow: stderr %q, want %q", r.stderr, want)
	}

	// generate -force -follow through a link writes the target too.
	mustRun(t, "generate", "-out", link, "-force", "-follow")
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
		for _, args := range writingCommands(path, other) {
			if path == link {
				args = append(args, "-follow")
			}
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

// TestGenerateForceThroughLinkToWorldReadableFile: "generate -force -out
// link", the link pointing to an existing 0644 file, used to write the
// new key through the link into a file every user could read. It is
// refused now, with nothing changed; with -follow the new keyset replaces
// the file, 0600, the link stays, and stderr says both.
func TestGenerateForceThroughLinkToWorldReadableFile(t *testing.T) {
	dir := t.TempDir()
	shared := filepath.Join(dir, "shared.json")
	mustRun(t, "generate", "-out", shared)
	if err := os.Chmod(shared, 0o644); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(shared)
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "kek.json")
	if err := os.Symlink("shared.json", link); err != nil {
		t.Fatal(err)
	}

	r := runCmd(t, "generate", "-force", "-out", link)
	if r.code != 1 || !lineRe.MatchString(r.stderr) || !strings.Contains(r.stderr, link) || !strings.Contains(r.stderr, "-follow") {
		t.Fatalf("generate -force through a link: exit %d, stderr %q", r.code, r.stderr)
	}
	after, err := os.ReadFile(shared)
	if err != nil || string(after) != string(before) {
		t.Fatalf("the refused generate changed the file behind the link (%v)", err)
	}
	if fi, err := os.Stat(shared); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("the refused generate changed the mode: %v", fi.Mode())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Fatalf("the refused generate left %d entries", len(entries))
	}

	r = runCmd(t, "generate", "-force", "-follow", "-out", link)
	if r.code != 0 {
		t.Fatalf("generate -force -follow: exit %d, stderr %q", r.code, r.stderr)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("generate -force -follow replaced the link: %v", err)
	}
	if fi, err := os.Stat(shared); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the new keyset behind the link has mode %v, want 0600", fi.Mode().Perm())
	}
	if ids, _ := keyIDs(t, link); len(ids) != 1 {
		t.Fatalf("the new keyset holds %d keys", len(ids))
	}
	for _, want := range []string{"kept it", "had mode 0644 and now has 0600"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q: %q", want, r.stderr)
		}
	}
}

// TestGenerateForceIsANewFile: generate -force over a keyset shared with
// its group makes a new file, 0600, as a fresh key inherits no one's
// access; rotate keeps the group's share (TestGroupReadableKeyset).
func TestGenerateForceIsANewFile(t *testing.T) {
	kek := filepath.Join(t.TempDir(), "kek.json")
	mustRun(t, "generate", "-out", kek)
	if err := os.Chmod(kek, 0o640); err != nil {
		t.Fatal(err)
	}
	r := runCmd(t, "generate", "-force", "-out", kek)
	if fi, err := os.Stat(kek); r.code != 0 || err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("generate -force over a 0640 keyset: exit %d, mode %v, stderr %q", r.code, fi.Mode().Perm(), r.stderr)
	}
	if !strings.Contains(r.stderr, "had mode 0640 and now has 0600: a new keyset is readable by its owner only") {
		t.Errorf("stderr %q", r.stderr)
	}
}
