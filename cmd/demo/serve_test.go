package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServe runs the demo with -serve as a user would: it says where it
// listens and the certificate's fingerprint, the shop answers there with
// that certificate, a login reaches the account page, an interrupt stops
// it cleanly, and no session id is printed. (TestBrowser drives the shop
// in a browser.)
func TestServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, demoBin, "-serve", "127.0.0.1:0", "-idle", "2s")
	cmd.Env = cleanEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	// Read up to the line that says how to stop it.
	var out strings.Builder
	var shopURL, fingerprint string
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		line := lines.Text()
		out.WriteString(line + "\n")
		if rest, ok := strings.CutPrefix(line, "serving the shop at "); ok {
			shopURL, _, _ = strings.Cut(rest, "/ ")
		}
		if _, fp, ok := strings.Cut(line, "SHA-256 fingerprint "); ok {
			fingerprint = fp
		}
		if strings.HasPrefix(line, "interrupt") {
			break
		}
	}
	if !strings.HasPrefix(out.String(), "attrcache demo on an embedded miniredis") || shopURL == "" || fingerprint == "" ||
		!strings.Contains(out.String(), "(sessions end 2s after their last request, 12h after login at the latest)") {
		t.Fatalf("the demo does not say where it serves:\n%s%s", out.String(), stderr.String())
	}

	// A client that trusts exactly the certificate the demo printed.
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if sum := sha256.Sum256(raw[0]); hex.EncodeToString(sum[:]) != fingerprint {
				return errors.New("not the certificate the demo printed")
			}
			return nil
		},
	}}}
	get := func(resp *http.Response, err error) (int, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get(client.Get(shopURL + "/account")); code != http.StatusOK || !strings.Contains(body, `action="/login"`) {
		t.Fatalf("/account before login: %d\n%s", code, body)
	}
	if code, body := get(client.PostForm(shopURL+"/login", url.Values{"user": {"alice"}})); code != http.StatusOK || !strings.Contains(body, `<span id="user">alice</span>`) {
		t.Fatalf("login: %d\n%s", code, body)
	}
	u, _ := url.Parse(shopURL)
	if cs := jar.Cookies(u); len(cs) != 1 || cs[0].Name != "__Host-session" {
		t.Fatalf("cookies after login: %v", cs)
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(stdout)
	out.Write(rest)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after an interrupt: %v\n%s%s", err, out.String(), stderr.String())
	}
	if !strings.HasSuffix(out.String(), "stopped\n") || stderr.Len() != 0 {
		t.Fatalf("the demo did not stop cleanly:\n%s%s", out.String(), stderr.String())
	}
	if sessionCookie.MatchString(out.String()) {
		t.Fatalf("the demo printed a session id:\n%s", out.String())
	}
}

// TestIdleNeedsServe: -idle alone is a mistake, said as such.
func TestIdleNeedsServe(t *testing.T) {
	code, stdout, stderr := runDemo(t, cleanEnv(), "-idle", "1s")
	if code != 2 || stdout != "" || stderr != "demo: -idle needs -serve\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
