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
		kek := len(f) == 6 && f[3] == "TINK" && f[4] == "ALG" && f[5] == "type.googleapis.com/google.crypto.tink.PrfBasedDeriverKey"
		// A destroyed key has lost its key data, type included.
		destroyed := len(f) == 6 && f[1] == "DESTROYED" && f[3] == "TINK" && f[4] == "-" && f[5] == "-"
		if !kek && !destroyed {
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

// keyIDs returns the ids list shows, in order, and the primary one.
func keyIDs(t *testing.T, kek string) (ids []uint32, primary uint32) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(mustRun(t, "list", "-in", kek)), "\n")
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		id, err := strconv.ParseUint(f[0], 10, 32)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, uint32(id))
		if f[2] == "yes" {
			primary = uint32(id)
		}
	}
	return ids, primary
}

func idArg(id uint32) string { return strconv.FormatUint(uint64(id), 10) }

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
	// Without the master, every command that reads the keyset says
	// which flag it needs.
	for _, args := range [][]string{{"list", "-in", kek}, {"rotate", "-in", kek}, {"disable", "-in", kek, "-id", "1"}} {
		r := runCmd(t, args...)
		if r.code != 1 || !lineRe.MatchString(r.stderr) || !strings.Contains(r.stderr, "encrypted") || !strings.Contains(r.stderr, "-master-keyset FILE") {
			t.Fatalf("%q of an encrypted keyset without master: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	// A key-derivation keyset is no AEAD, so it cannot be a master.
	r := runCmd(t, "list", "-in", kek, "-master-keyset", kek)
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
	// Rewriting a keyset every user could read makes it the owner's
	// alone, and says so.
	r = runCmd(t, "rotate", "-in", kek)
	if fi, err := os.Stat(kek); r.code != 0 || err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("rotate of a 0644 keyset: exit %d, mode %v (%v), stderr %q", r.code, fi.Mode(), err, r.stderr)
	}
	if !strings.Contains(r.stderr, "had mode 0644 and now has 0600") {
		t.Errorf("rotate narrowed the mode without a word: %q", r.stderr)
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
		{"rotate", "-in", "-"},
		{"destroy", "-in", kek},
		{"generate", "-out", kek, "-type", "rsa"},
		{"generate", "-out", kek, "-type", "aead", "-master-keyset", kek},
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

func TestDestroy(t *testing.T) {
	kek := filepath.Join(t.TempDir(), "kek.json")
	mustRun(t, "generate", "-out", kek)
	leaked := secrets(t, kek)[0]
	mustRun(t, "rotate", "-in", kek)
	ids, primary := keyIDs(t, kek)
	first := ids[0]
	if first == primary {
		t.Fatal("rotate left the first key primary")
	}

	r := runCmd(t, "destroy", "-in", kek, "-id", idArg(primary))
	if r.code != 1 || !lineRe.MatchString(r.stderr) || !strings.Contains(r.stderr, "primary") {
		t.Fatalf("destroy of the primary: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCmd(t, "destroy", "-in", kek, "-id", "12345")
	if r.code != 1 || !lineRe.MatchString(r.stderr) || !strings.Contains(r.stderr, idArg(first)) || !strings.Contains(r.stderr, idArg(primary)+" (primary)") {
		t.Fatalf("destroy of an unknown key: exit %d, stderr %q; want the ids the keyset holds", r.code, r.stderr)
	}

	out := mustRun(t, "destroy", "-in", kek, "-id", idArg(first))
	if !strings.Contains(out, "destroyed key "+idArg(first)) {
		t.Errorf("destroy said %q", out)
	}
	js, err := os.ReadFile(kek)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(js), leaked) {
		t.Fatal("the destroyed key's material is still in the file")
	}
	ids2 := listed(t, mustRun(t, "list", "-in", kek))
	if len(ids2) != 2 || ids2[first] != [2]string{"DESTROYED", "no"} || ids2[primary] != [2]string{"ENABLED", "yes"} {
		t.Fatalf("after destroy: %v", ids2)
	}
	for _, args := range [][]string{{"enable"}, {"promote"}, {"disable"}} {
		r := runCmd(t, append(args, "-in", kek, "-id", idArg(first))...)
		if r.code != 1 || !lineRe.MatchString(r.stderr) || !strings.Contains(r.stderr, "destroyed") {
			t.Errorf("%s of a destroyed key: exit %d, stderr %q", args[0], r.code, r.stderr)
		}
	}
	// Destroying again changes nothing and is not an error.
	mustRun(t, "destroy", "-in", kek, "-id", idArg(first))
}

func TestGenerateAEADMaster(t *testing.T) {
	dir := t.TempDir()
	master := filepath.Join(dir, "master.json")
	out := mustRun(t, "generate", "-type", "aead", "-out", master)
	checkMode(t, master)
	if !strings.Contains(out, "master") || !strings.Contains(out, master) {
		t.Errorf("generate -type aead said %q", out)
	}
	list := mustRun(t, "list", "-in", master)
	if !strings.Contains(list, "AES256_GCM") || !strings.Contains(list, "type.googleapis.com/google.crypto.tink.AesGcmKey") {
		t.Fatalf("list of the master: %q", list)
	}
	// It serves as -master-keyset, and as attrcache's master.
	kek := filepath.Join(dir, "kek.enc.json")
	mustRun(t, "generate", "-out", kek, "-master-keyset", master)
	mustRun(t, "rotate", "-in", kek, "-master-keyset", master)
	h, err := keys.ReadFile(master, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := keys.NewAEAD(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.ReadFile(kek, a, nil); err != nil {
		t.Fatal(err)
	}

	// The wrong kind either way says which kind is needed and how to make it.
	plain := filepath.Join(dir, "kek.json")
	mustRun(t, "generate", "-out", plain)
	r := runCmd(t, "list", "-in", kek, "-master-keyset", plain)
	if r.code != 1 || !lineRe.MatchString(r.stderr) || !strings.Contains(r.stderr, "attrcache-keys generate -type aead -out FILE") || strings.Contains(r.stderr, "factoryutil") {
		t.Errorf("a KEK as master: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCmd(t, "rotate", "-in", master)
	if r.code != 1 || !lineRe.MatchString(r.stderr) || !strings.Contains(r.stderr, "attrcache-keys generate -out FILE") {
		t.Errorf("rotate of the master: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestGenerateToStdout(t *testing.T) {
	t.Chdir(t.TempDir())
	r := runCmd(t, "generate", "-out", "-")
	if r.code != 0 {
		t.Fatalf("generate -out -: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Lstat("-"); err == nil {
		t.Fatal("generate -out - wrote a file named -")
	}
	h, err := keys.Parse([]byte(r.stdout), nil)
	if err != nil {
		t.Fatalf("stdout is not a keyset: %v", err)
	}
	if _, err := keys.NewEnvelope(h); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.stderr, "standard output") || strings.Contains(r.stderr, "keyData") {
		t.Errorf("stderr %q", r.stderr)
	}

	// A master keyset, and a KEK sealed under it, both through pipes.
	r = runCmd(t, "generate", "-type", "aead", "-out", "-")
	if r.code != 0 {
		t.Fatalf("generate -type aead -out -: %q", r.stderr)
	}
	if err := os.WriteFile("master.json", []byte(r.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runCmd(t, "generate", "-out", "-", "-master-keyset", "master.json")
	if r.code != 0 || !strings.Contains(r.stdout, "encryptedKeyset") {
		t.Fatalf("sealed keyset to stdout: exit %d, %q", r.code, r.stderr)
	}

	// A terminal is refused unless forced. /dev/zero stands in for one:
	// a character device that is not the null device.
	tty, err := os.OpenFile("/dev/zero", os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	defer tty.Close()
	var errOut bytes.Buffer
	if code := run([]string{"generate", "-out", "-"}, tty, &errOut); code != 1 || !strings.Contains(errOut.String(), "terminal") {
		t.Errorf("generate -out - to a terminal: exit %d, stderr %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"generate", "-out", "-", "-force"}, tty, &errOut); code != 0 {
		t.Errorf("generate -out - -force to a terminal: exit %d, stderr %q", code, errOut.String())
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if code := run([]string{"generate", "-out", "-"}, null, &errOut); code != 0 {
		t.Errorf("generate -out - to %s: exit %d", os.DevNull, code)
	}
}

// TestFlagErrorsNeverShowValues: a mistake in the command line is named
// by the flag or the position, never by what was typed: a keyset path, a
// pasted key or a password may be in it.
func TestFlagErrorsNeverShowValues(t *testing.T) {
	const secret = "Pw-9fQ2kXv-never-shown-on-screen"
	kek := filepath.Join(t.TempDir(), "kek.json")
	mustRun(t, "generate", "-out", kek)
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"disable", "-in", kek, "-id=" + secret}, "disable: -id takes a whole number, 0 or more; the value given is not shown"},
		{[]string{"disable", "-in", kek, "-id", secret}, "-id takes a whole number"},
		{[]string{"disable", "-in", kek, "-id", "99999999999"}, "-id takes a key id, at most 4294967295"},
		{[]string{"generate", "-out", kek, "-force=" + secret}, "generate: -force takes true or false"},
		{[]string{"rotate", "-in", kek, "-follow=" + secret}, "rotate: -follow takes true or false"},
		{[]string{"generate", "-out", kek, "-type", secret}, "generate: -type takes kek or aead"},
		{[]string{"list", "-in", kek, secret}, "list: unexpected argument of 32 bytes (not shown)"},
		{[]string{"list", "-in", kek, "extra"}, `list: unexpected argument "extra"`},
		{[]string{secret}, "unknown command of 32 bytes (not shown)"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"list", "---in=" + secret}, "list: an argument that is no flag (not shown)"},
		{[]string{"list", "-" + secret}, "list: unknown flag of 32 bytes (not shown)"},
		{[]string{"list", "-nope=" + secret}, "list: unknown flag -nope"},
	} {
		r := runCmd(t, tc.args...)
		if r.code != 2 || !lineRe.MatchString(r.stderr) || !strings.Contains(r.stderr, tc.says) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, r.code, r.stderr, tc.says)
		}
		if strings.Contains(r.stdout+r.stderr, secret[:10]) || strings.Contains(r.stderr, "99999999999") {
			t.Errorf("%q: the value shows: %q", tc.args, r.stderr)
		}
	}
}
