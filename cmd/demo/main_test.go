package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/attrcache/attrcache/keys"
	"github.com/attrcache/attrcache/test/redistest"
)

// demoBin is the demo built once, for the tests that run it as a user
// would.
var demoBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "attrcache-demo")
	if err != nil {
		panic(err)
	}
	demoBin = filepath.Join(dir, "demo")
	if out, err := exec.Command("go", "build", "-o", demoBin, ".").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("go build: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cleanEnv is the environment without ATTRCACHE_* settings, so the demo
// picks its embedded miniredis.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ATTRCACHE_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

var steps = []string{
	"attrcache demo on ",
	"Start: a session that lives 30m",
	"Create my-attribute, then Get",
	"Create my-attribute again: refused",
	"CreateMany my-attr1, my-attr2 (encrypted), my-attr3",
	`my-attr2 = "my-value2" (encrypted: true`,
	"WithoutDecryption",
	"<redacted",
	"Names: [my-attr1 my-attr2 my-attr3 my-attribute]",
	`Update my-attr1: "new-value1"`,
	"Update no-such-attr: refused",
	"Delete my-attr3: exists now? false",
	"Get csrf-seed: attrcache: attribute not found",
	"an expired attribute is replaced",
	"it expires 2s after creation, with its session",
	"Renew for 1h",
	"End: every attribute gone at once",
	"Create after End: attrcache: session not found",
	`Web, on an HTTPS test server: POST /login answers 200 and sets "__Host-session=<43-character id>; Path=/; Max-Age=1800; HttpOnly; Secure; SameSite=Lax"`,
	`Web: GET /profile with that cookie: 200 "alice (member)", Cache-Control: no-store`,
	`GET /profile with the old cookie: 401, with the new one: 200 "alice (admin)"`,
	`Web: POST /logout sets "__Host-session=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax"; GET /profile with the logged-out cookie: 401`,
	"demo finished",
}

// sessionCookie is a session id in a cookie: the demo must never print one.
var sessionCookie = regexp.MustCompile(`session=[A-Za-z0-9_-]{43}`)

func checkTranscript(t *testing.T, out string) {
	t.Helper()
	at := 0
	for _, s := range steps {
		i := strings.Index(out[at:], s)
		if i < 0 {
			t.Fatalf("transcript lacks %q (in order):\n%s", s, out)
		}
		at += i
	}
	if strings.Contains(out, "my-value2\x00") || strings.Contains(out, "panic") || sessionCookie.MatchString(out) {
		t.Fatalf("unexpected transcript:\n%s", out)
	}
}

func TestDemoEmbedded(t *testing.T) {
	cmd := exec.Command(demoBin)
	cmd.Env = cleanEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("demo failed: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	if !strings.HasPrefix(out, "attrcache demo on an embedded miniredis") {
		t.Fatalf("first line does not say where it runs:\n%s", out)
	}
	checkTranscript(t, out)
}

func TestDemoRealRedis(t *testing.T) {
	srv := redistest.StartServer(t)
	var buf bytes.Buffer
	t.Setenv("ATTRCACHE_REDIS_ADDRS", srv.Addr())
	if err := run(context.Background(), &buf, io.Discard, ""); err != nil {
		t.Fatalf("demo on real Redis: %v\n%s", err, buf.String())
	}
	out := buf.String()
	if !strings.HasPrefix(out, "attrcache demo on Redis at "+srv.Addr()+" (single)") {
		t.Fatalf("first line does not name the Redis:\n%s", out)
	}
	checkTranscript(t, out)
	if !strings.Contains(out, "namespace attrcache-demo (set attrcache.namespace") || !strings.Contains(out, "digest of the id: attrcache-demo") {
		t.Fatalf("without a configured namespace the demo does not use its own:\n%s", out)
	}
}

// unsetRedisEnv clears the ATTRCACHE_ variables of the test process, so
// that only what a test sets counts.
func unsetRedisEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "ATTRCACHE_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}

func TestDemoConfigFile(t *testing.T) {
	srv := redistest.StartServer(t)
	path := filepath.Join(t.TempDir(), "attrcache.yaml")
	yaml := "redis:\n  addrs: [\"" + srv.Addr() + "\"]\nattrcache:\n  namespace: shop-from-config\n  session_ttl: 1h\nlog:\n  level: warn\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	unsetRedisEnv(t)
	var buf bytes.Buffer
	if err := run(context.Background(), &buf, io.Discard, path); err != nil {
		t.Fatalf("demo with -config: %v\n%s", err, buf.String())
	}
	out := buf.String()
	if !strings.HasPrefix(out, "attrcache demo on Redis at "+srv.Addr()+" (single)") {
		t.Fatalf("first line does not name the configured Redis:\n%s", out)
	}
	checkTranscript(t, out)
	// The namespace of the file is the one the store writes under.
	if !strings.Contains(out, "namespace shop-from-config (configured)") || !strings.Contains(out, "digest of the id: shop-from-config") {
		t.Fatalf("the configured namespace is not used:\n%s", out)
	}
}

// TestDemoEmptyConfigFile: a file that sets nothing takes every default,
// and the demo names the address it really dials.
func TestDemoEmptyConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.yaml")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	unsetRedisEnv(t)
	t.Setenv("ATTRCACHE_REDIS_DIAL_TIMEOUT", "1s")
	var buf bytes.Buffer
	err := run(context.Background(), &buf, io.Discard, path)
	// Whether or not a Redis listens there, the address shown is the
	// default one, never blank.
	var shown string
	if err != nil {
		shown = err.Error()
	} else {
		shown = buf.String()
	}
	if !strings.Contains(shown, " at 127.0.0.1:6379 (single)") {
		t.Fatalf("empty config file: %v\n%s", err, buf.String())
	}
}

func TestDemoUnreachable(t *testing.T) {
	// A port that was free a moment ago: nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, demoBin)
	cmd.Env = cleanEnv("ATTRCACHE_REDIS_ADDRS="+addr, "ATTRCACHE_REDIS_DIAL_TIMEOUT=1s")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("demo on a closed port: %v, want exit status 1\n%s", err, stderr.String())
	}
	msg := strings.TrimRight(stderr.String(), "\n")
	if strings.Count(msg, "\n") != 0 || !strings.HasPrefix(msg, "demo: config: redis unreachable at "+addr+" (single)") {
		t.Fatalf("want one line naming the address, got:\n%s", stderr.String())
	}
	if stdout.Len() != 0 {
		t.Fatalf("demo printed steps before failing:\n%s", stdout.String())
	}
}

// runDemo runs the demo binary with env and returns its exit status,
// stdout and stderr.
func runDemo(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, demoBin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatal(err)
	return 0, "", ""
}

// TestDemoAuthFailure: refused credentials are reported as such, not as
// "unreachable", without the password.
func TestDemoAuthFailure(t *testing.T) {
	srv := redistest.StartServer(t, redistest.WithACLUser("app", "app-pass"))
	for name, env := range map[string][]string{
		"keys": {"ATTRCACHE_REDIS_ADDRS=" + srv.Addr(), "ATTRCACHE_REDIS_USERNAME=app", "ATTRCACHE_REDIS_PASSWORD=Wrong-pw-never-shown"},
		"URL":  {"ATTRCACHE_REDIS_ADDRS=redis://app:Wrong-pw-never-shown@" + srv.Addr() + "/0"},
	} {
		code, stdout, stderr := runDemo(t, cleanEnv(env...))
		msg := strings.TrimRight(stderr, "\n")
		if code != 1 || strings.Count(msg, "\n") != 0 || !strings.HasPrefix(msg, "demo: config: redis authentication failed at "+srv.Addr()+" (single)") {
			t.Errorf("%s: exit %d, stderr %q", name, code, stderr)
		}
		if strings.Contains(stderr+stdout, "Wrong-pw-never-shown") || strings.Contains(stderr, "unreachable") {
			t.Errorf("%s: stderr %q", name, stderr)
		}
	}
}

// TestDemoNeverPrintsKeyMaterial: a keyset typed where the name of its
// variable belongs is refused as such, and not printed.
func TestDemoNeverPrintsKeyMaterial(t *testing.T) {
	h, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	js, err := keys.Marshal(h, nil)
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
	material := ks.Key[0].KeyData.Value
	b64 := base64.StdEncoding.EncodeToString(js)
	for name, keyset := range map[string]string{"JSON": strings.TrimSpace(string(js)), "base64": b64} {
		code, stdout, stderr := runDemo(t, cleanEnv("ATTRCACHE_ENCRYPTION_KEYSET_ENV="+keyset))
		if code != 1 || !strings.Contains(stderr, "encryption.keyset_env: holds a keyset, not the name of a variable") {
			t.Errorf("%s: exit %d, stderr %q", name, code, stderr)
		}
		for _, secret := range []string{material, b64[:40], b64[40:80]} {
			if strings.Contains(stdout+stderr, secret) {
				t.Errorf("%s: the demo printed key material:\n%s", name, stderr)
			}
		}
	}
}

// TestDemoWarnsUnknownVariable: a misspelt variable is named on stderr,
// with the one meant, and the demo still runs.
func TestDemoWarnsUnknownVariable(t *testing.T) {
	code, stdout, stderr := runDemo(t, cleanEnv("ATTRCACHE_REDIS_ADRS=value-never-shown:6379"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := "demo: warning: ATTRCACHE_REDIS_ADRS is not an attrcache setting and is ignored (did you mean ATTRCACHE_REDIS_ADDRS?)\n"
	if stderr != want || strings.Contains(stderr, "value-never-shown") {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
	checkTranscript(t, stdout)
}
