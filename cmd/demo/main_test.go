package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	"demo finished",
}

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
	if strings.Contains(out, "my-value2\x00") || strings.Contains(out, "panic") {
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
	if err := run(context.Background(), &buf, ""); err != nil {
		t.Fatalf("demo on real Redis: %v\n%s", err, buf.String())
	}
	out := buf.String()
	if !strings.HasPrefix(out, "attrcache demo on Redis at "+srv.Addr()+" (single)") {
		t.Fatalf("first line does not name the Redis:\n%s", out)
	}
	checkTranscript(t, out)
}

func TestDemoConfigFile(t *testing.T) {
	srv := redistest.StartServer(t)
	path := filepath.Join(t.TempDir(), "attrcache.yaml")
	yaml := "redis:\n  addrs: [\"" + srv.Addr() + "\"]\nattrcache:\n  session_ttl: 1h\nlog:\n  level: warn\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "ATTRCACHE_REDIS_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	var buf bytes.Buffer
	if err := run(context.Background(), &buf, path); err != nil {
		t.Fatalf("demo with -config: %v\n%s", err, buf.String())
	}
	if !strings.HasPrefix(buf.String(), "attrcache demo on Redis at "+srv.Addr()+" (single)") {
		t.Fatalf("first line does not name the configured Redis:\n%s", buf.String())
	}
	checkTranscript(t, buf.String())
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
	if strings.Count(msg, "\n") != 0 || !strings.HasPrefix(msg, "demo: redis at "+addr+" unreachable") {
		t.Fatalf("want one line naming the address, got:\n%s", stderr.String())
	}
	if stdout.Len() != 0 {
		t.Fatalf("demo printed steps before failing:\n%s", stdout.String())
	}
}
