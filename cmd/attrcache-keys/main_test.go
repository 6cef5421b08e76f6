package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/attrcache/attrcache/keys"
)

// TestMain lets the test binary stand in for the command, so that exit
// statuses are checked for real.
func TestMain(m *testing.M) {
	if os.Getenv("ATTRCACHE_KEYS_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

type result struct {
	code           int
	stdout, stderr string
}

func runCmd(t *testing.T, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	r := runCmd(t, args...)
	if r.code != 0 {
		t.Fatalf("%v: exit %d, stderr %q", args, r.code, r.stderr)
	}
	return r.stdout
}

// secrets returns the key material in a cleartext keyset file.
func secrets(t *testing.T, path string) []string {
	t.Helper()
	js, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
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
			t.Fatalf("no key material in %s", path)
		}
		out = append(out, k.KeyData.Value)
	}
	return out
}

func checkMode(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s has mode %#o, want 0600", path, fi.Mode().Perm())
	}
}

// listed parses list output into id -> (status, primary), checking the
// other columns on the way.
func listed(t *testing.T, out string) map[uint32][2]string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "KEY ID") {
		t.Fatalf("list output %q has no header and keys", out)
	}
	m := map[uint32][2]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(strings.Replace(l, "HKDF-SHA256 -> AES256_GCM", "ALG", 1))
		if len(f) != 6 || f[3] != "TINK" || f[4] != "ALG" || f[5] != "type.googleapis.com/google.crypto.tink.PrfBasedDeriverKey" {
			t.Fatalf("list line %q", l)
		}
		id, err := strconv.ParseUint(f[0], 10, 32)
		if err != nil {
			t.Fatalf("list line %q: %v", l, err)
		}
		m[uint32(id)] = [2]string{f[1], f[2]}
	}
	return m
}

var lineRe = regexp.MustCompile(`^attrcache-keys: [^\n]+\n$`)

func TestLifecycle(t *testing.T) {
	dir := t.TempDir()
	kek := filepath.Join(dir, "kek.json")

	out := mustRun(t, "generate", "-out", kek)
	checkMode(t, kek)
	if !strings.Contains(out, kek) {
		t.Errorf("generate output %q does not name the file", out)
	}
	secret := secrets(t, kek)

	r := runCmd(t, "generate", "-out", kek)
	if r.code != 1 || !lineRe.MatchString(r.stderr) || !strings.Contains(r.stderr, "-force") {
		t.Fatalf("generate over a file: exit %d, stderr %q", r.code, r.stderr)
	}
	if got := secrets(t, kek); got[0] != secret[0] {
		t.Fatal("generate replaced the file without -force")
	}
	mustRun(t, "generate", "-out", kek, "-force")
	checkMode(t, kek)
	if got := secrets(t, kek); got[0] == secret[0] {
		t.Fatal("generate -force kept the old key")
	}

	out = mustRun(t, "list", "-in", kek)
	ids := listed(t, out)
	if len(ids) != 1 {
		t.Fatalf("list shows %d keys after generate", len(ids))
	}
	var first uint32
	for id, st := range ids {
		first = id
		if st != [2]string{"ENABLED", "yes"} {
			t.Fatalf("generated key is %v", st)
		}
	}

	out = mustRun(t, "rotate", "-in", kek)
	checkMode(t, kek)
	ids = listed(t, mustRun(t, "list", "-in", kek))
	if len(ids) != 2 || ids[first] != [2]string{"ENABLED", "no"} {
		t.Fatalf("after rotate: %v", ids)
	}
	var second uint32
	for id, st := range ids {
		if id != first {
			second = id
			if st != [2]string{"ENABLED", "yes"} {
				t.Fatalf("rotated-in key is %v", st)
			}
		}
	}
	if !strings.Contains(out, strconv.FormatUint(uint64(second), 10)) {
		t.Errorf("rotate output %q does not give the new key id", out)
	}

	r = runCmd(t, "disable", "-in", kek, "-id", strconv.FormatUint(uint64(second), 10))
	if r.code != 1 || !lineRe.MatchString(r.stderr) || !strings.Contains(r.stderr, "primary") {
		t.Fatalf("disable primary: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCmd(t, "disable", "-in", kek, "-id", "12345")
	if r.code != 1 || !lineRe.MatchString(r.stderr) {
		t.Fatalf("disable unknown key: exit %d, stderr %q", r.code, r.stderr)
	}
	mustRun(t, "disable", "-in", kek, "-id", strconv.FormatUint(uint64(first), 10))
	checkMode(t, kek)
	list := mustRun(t, "list", "-in", kek)
	ids = listed(t, list)
	if ids[first] != [2]string{"DISABLED", "no"} || ids[second] != [2]string{"ENABLED", "yes"} {
		t.Fatalf("after disable: %v", ids)
	}
	for _, s := range append(secrets(t, kek), secret...) {
		if strings.Contains(list, s) || strings.Contains(list, s[:12]) {
			t.Fatal("list output holds key material")
		}
	}

	// The file written is a keyset attrcache can use, and the disabled
	// key stays disabled.
	h, err := keys.ReadFile(kek, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := keys.NewEnvelope(h)
	if err != nil {
		t.Fatal(err)
	}
	if e.PrimaryKeyID() != second {
		t.Fatalf("primary is %d, want %d", e.PrimaryKeyID(), second)
	}

	mustRun(t, "enable", "-in", kek, "-id", strconv.FormatUint(uint64(first), 10))
	mustRun(t, "promote", "-in", kek, "-id", strconv.FormatUint(uint64(first), 10))
	out = mustRun(t, "add", "-in", kek)
	ids = listed(t, mustRun(t, "list", "-in", kek))
	if len(ids) != 3 || ids[first] != [2]string{"ENABLED", "yes"} {
		t.Fatalf("after enable, promote, add: %v (add said %q)", ids, out)
	}
}

func TestMasterKeyset(t *testing.T) {
	dir := t.TempDir()
	masterFile := filepath.Join(dir, "master.json")
	mh, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.WriteFile(masterFile, mh, nil); err != nil {
		t.Fatal(err)
	}
	kek := filepath.Join(dir, "kek.enc.json")
	mustRun(t, "generate", "-out", kek, "-master-keyset", masterFile)
	checkMode(t, kek)
	js, err := os.ReadFile(kek)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(js, []byte(`"encryptedKeyset"`)) || bytes.Contains(js, []byte(`"keyData"`)) {
		t.Fatalf("keyset file is not encrypted")
	}
	mustRun(t, "rotate", "-in", kek, "-master-keyset", masterFile)
	out := mustRun(t, "list", "-in", kek, "-master-keyset", masterFile)
	if n := strings.Count(out, "\n"); n != 3 {
		t.Fatalf("list shows %d lines, want header and 2 keys: %q", n, out)
	}
	r := runCmd(t, "list", "-in", kek)
	if r.code != 1 || !lineRe.MatchString(r.stderr) || !strings.Contains(r.stderr, "encrypted") {
		t.Fatalf("list of an encrypted keyset without master: exit %d, stderr %q", r.code, r.stderr)
	}
	// A key-derivation keyset is no AEAD, so it cannot be a master.
	r = runCmd(t, "list", "-in", kek, "-master-keyset", kek)
	if r.code != 1 || !lineRe.MatchString(r.stderr) {
		t.Fatalf("wrong master: exit %d, stderr %q", r.code, r.stderr)
	}
	// The AEAD keyset itself is refused as a KEK, with the reason.
	r = runCmd(t, "rotate", "-in", masterFile)
	if r.code != 1 || !strings.Contains(r.stderr, "PrfBasedDeriverKey") {
		t.Fatalf("rotate of an AEAD keyset: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestPermissionWarning(t *testing.T) {
	kek := filepath.Join(t.TempDir(), "kek.json")
	mustRun(t, "generate", "-out", kek)
	if err := os.Chmod(kek, 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCmd(t, "list", "-in", kek)
	if r.code != 0 || !strings.Contains(r.stderr, "level=WARN") || !strings.Contains(r.stderr, "0644") {
		t.Fatalf("list of a 0644 file: exit %d, stderr %q", r.code, r.stderr)
	}
	// Rewriting the file keeps its mode: the tool changes keys, not who
	// may read them.
	mustRun(t, "rotate", "-in", kek)
	if fi, err := os.Stat(kek); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("rotate changed the mode of a 0644 keyset: %v, %v", fi.Mode(), err)
	}
	// A group-readable keyset draws no warning.
	if err := os.Chmod(kek, 0o640); err != nil {
		t.Fatal(err)
	}
	if r := runCmd(t, "list", "-in", kek); r.code != 0 || r.stderr != "" {
		t.Fatalf("list of a 0640 file: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	kek := filepath.Join(t.TempDir(), "kek.json")
	mustRun(t, "generate", "-out", kek)
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"generate"},
		{"list"},
		{"list", "-in", kek, "extra"},
		{"list", "-nope"},
		{"disable", "-in", kek},
		{"disable", "-in", kek, "-id", "x"},
		{"disable", "-in", kek, "-id", "4294967296"},
		{"rotate", "-out", kek},
	} {
		r := runCmd(t, args...)
		if r.code != 2 || !lineRe.MatchString(r.stderr) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and one line", args, r.code, r.stderr)
		}
	}
	r := runCmd(t, "help")
	if r.code != 0 || !strings.Contains(r.stdout, "usage:") {
		t.Errorf("help: exit %d, stdout %q", r.code, r.stdout)
	}
	r = runCmd(t, "list", "-in", filepath.Join(t.TempDir(), "missing.json"))
	if r.code != 1 || !lineRe.MatchString(r.stderr) {
		t.Errorf("missing file: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestExitStatus runs the real main through the test binary.
func TestExitStatus(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	kek := filepath.Join(t.TempDir(), "kek.json")
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"generate", "-out", kek}, 0},
		{[]string{"generate", "-out", kek}, 1},
		{[]string{"bogus"}, 2},
	} {
		cmd := exec.Command(exe, c.args...)
		cmd.Env = append(os.Environ(), "ATTRCACHE_KEYS_RUN_MAIN=1")
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != c.code {
			t.Errorf("%q: exit %d, want %d", c.args, code, c.code)
		}
	}
}
