package config_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/attrcache/attrcache/config"
	"github.com/attrcache/attrcache/keys"
)

// A recognisable password, and one YAML reads as a number.
const (
	secretPW        = "Pw-7f3kQ9-never-shown"
	secretNumericPW = "73914862057319"
)

// secretSet is the secret material one test case feeds in: whole values,
// and the pieces that must not show either.
type secretSet struct {
	whole  []string
	pieces []string // checked in windows of 12 characters
}

// leaked returns the first piece of a secret that out shows, or "". Case
// is ignored: viper lower-cases keys, and a secret that became a key
// must not show either.
func (s secretSet) leaked(out string) string {
	out = strings.ToLower(out)
	for _, w := range s.whole {
		if strings.Contains(out, strings.ToLower(w)) {
			return w
		}
	}
	for _, p := range s.pieces {
		for i := 0; i+12 <= len(p); i++ {
			if strings.Contains(out, strings.ToLower(p[i:i+12])) {
				return p[i : i+12]
			}
		}
	}
	return ""
}

// secretFixtures holds key material made once for the table.
type secretFixtures struct {
	keysetJSON   string   // a cleartext KEK keyset
	keysetB64    string   // base64 of it
	keyMaterial  []string // its keyData values
	keysetFile   string   // a file holding it
	pemKey       string   // a PEM private key
	pemBody      []string // its base64 lines
	dir          string
	garbageEnv   string // a value that is no keyset, holding secretPW
	masterIsKEK  string // the KEK file, used where a master belongs
	certFile     string
	caFile       string
	keyFileOfPKI string
}

func newSecretFixtures(t *testing.T) *secretFixtures {
	t.Helper()
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
	f := &secretFixtures{
		keysetJSON: strings.TrimSpace(string(js)),
		keysetB64:  base64.StdEncoding.EncodeToString(js),
		dir:        t.TempDir(),
		garbageEnv: "not a keyset but a password: " + secretPW,
	}
	for _, k := range ks.Key {
		f.keyMaterial = append(f.keyMaterial, k.KeyData.Value)
	}
	f.keysetFile = filepath.Join(f.dir, "kek.json")
	if err := keys.WriteFile(f.keysetFile, h, nil); err != nil {
		t.Fatal(err)
	}
	f.masterIsKEK = f.keysetFile
	pki := newTestPKI(t)
	pem, err := os.ReadFile(pki.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	f.pemKey = string(pem)
	for _, l := range strings.Split(f.pemKey, "\n") {
		if l != "" && !strings.HasPrefix(l, "-----") {
			f.pemBody = append(f.pemBody, l)
		}
	}
	f.certFile, f.caFile, f.keyFileOfPKI = pki.CertFile, pki.CAFile, pki.KeyFile
	return f
}

// secretCase is one secret-bearing setting given one way.
type secretCase struct {
	name    string
	yaml    string   // config file, or "" for none
	environ []string // environment
	secrets secretSet
	ok      bool   // Load must succeed (else fail)
	says    string // part of the error, when it fails
}

func secretCases(f *secretFixtures) []secretCase {
	pw := secretSet{whole: []string{secretPW}}
	num := secretSet{whole: []string{secretNumericPW}}
	keyset := secretSet{whole: []string{f.keysetJSON, f.keysetB64}, pieces: append([]string{f.keysetB64}, f.keyMaterial...)}
	pem := secretSet{whole: []string{f.pemKey}, pieces: f.pemBody}
	url := "redis://:" + secretPW + "@127.0.0.1:6379/0"
	sentinel := []string{"ATTRCACHE_REDIS_MASTER_NAME=mymaster"}
	yamlQuote := func(s string) string { b, _ := json.Marshal(s); return string(b) }

	return []secretCase{
		// redis.password
		{name: "password env", environ: []string{"ATTRCACHE_REDIS_PASSWORD=" + secretPW}, secrets: pw, ok: true},
		{name: "password yaml", yaml: "redis:\n  password: " + yamlQuote(secretPW) + "\n", secrets: pw, ok: true},
		{name: "password yaml number", yaml: "redis:\n  password: " + secretNumericPW + "\n", secrets: num, says: "quote it"},
		{name: "password yaml list", yaml: "redis:\n  password: [" + yamlQuote(secretPW) + "]\n", secrets: pw, says: "not a string"},
		{name: "password yaml mapping", yaml: "redis:\n  password:\n    pw: " + yamlQuote(secretPW) + "\n", secrets: pw, says: "not a string"},
		{name: "password env, another key bad", environ: []string{"ATTRCACHE_REDIS_PASSWORD=" + secretPW, "ATTRCACHE_REDIS_DB=x"}, secrets: pw, says: "whole number"},
		{name: "password env and in URL", environ: []string{"ATTRCACHE_REDIS_PASSWORD=" + secretPW, "ATTRCACHE_REDIS_ADDRS=redis://:other-" + secretPW + "@h:6379"},
			secrets: secretSet{whole: []string{secretPW, "other-" + secretPW}}, says: "give it in one place"},

		// redis.sentinel_password
		{name: "sentinel password env", environ: append([]string{"ATTRCACHE_REDIS_ADDRS=s:26379", "ATTRCACHE_REDIS_SENTINEL_PASSWORD=" + secretPW}, sentinel...), secrets: pw, ok: true},
		{name: "sentinel password without sentinel", environ: []string{"ATTRCACHE_REDIS_SENTINEL_PASSWORD=" + secretPW}, secrets: pw, says: "only for Sentinel"},
		{name: "sentinel password yaml number", yaml: "redis:\n  addrs: [s:26379]\n  master_name: m\n  sentinel_password: " + secretNumericPW + "\n", secrets: num, says: "quote it"},
		{name: "sentinel password yaml mapping", yaml: "redis:\n  sentinel_password: {pw: " + yamlQuote(secretPW) + "}\n", secrets: pw, says: "not a string"},
		{name: "sentinel password in URL and key", environ: append([]string{"ATTRCACHE_REDIS_ADDRS=redis://:" + secretPW + "@s:26379", "ATTRCACHE_REDIS_SENTINEL_PASSWORD=x" + secretPW}, sentinel...),
			secrets: secretSet{whole: []string{secretPW}}, says: "give it in one place"},
		{name: "sentinel password in URL", environ: append([]string{"ATTRCACHE_REDIS_ADDRS=redis://:" + secretPW + "@s:26379"}, sentinel...), secrets: pw, ok: true},

		// redis.addrs URLs
		{name: "URL env", environ: []string{"ATTRCACHE_REDIS_ADDRS=" + url}, secrets: pw, ok: true},
		{name: "rediss URL env", environ: []string{"ATTRCACHE_REDIS_ADDRS=rediss://app:" + secretPW + "@redis.example.com:6380"}, secrets: pw, ok: true},
		{name: "URLs of a cluster", environ: []string{"ATTRCACHE_REDIS_ADDRS=redis://:" + secretPW + "@a:7000,redis://:" + secretPW + "@b:7001"}, secrets: pw, ok: true},
		{name: "URL yaml", yaml: "redis:\n  addrs: [" + yamlQuote(url) + "]\n", secrets: pw, ok: true},
		{name: "URL bad port", environ: []string{"ATTRCACHE_REDIS_ADDRS=redis://:" + secretPW + "@h:99999"}, secrets: pw, says: "port"},
		{name: "URL with query", environ: []string{"ATTRCACHE_REDIS_ADDRS=redis://:" + secretPW + "@h:6379?password=" + secretPW}, secrets: pw, says: "query"},
		{name: "URL bad escape", environ: []string{"ATTRCACHE_REDIS_ADDRS=redis://:" + secretPW + "%zz@h:6379"}, secrets: pw, says: "not a valid URL"},
		{name: "URL bad path", environ: []string{"ATTRCACHE_REDIS_ADDRS=redis://:" + secretPW + "@h:6379/x/y"}, secrets: pw, says: "database number"},
		{name: "URL wrong scheme", environ: []string{"ATTRCACHE_REDIS_ADDRS=unix://:" + secretPW + "@/tmp/redis.sock"}, secrets: pw, says: "only redis://"},
		{name: "userinfo without scheme", environ: []string{"ATTRCACHE_REDIS_ADDRS=:" + secretPW + "@127.0.0.1:6379"}, secrets: pw, says: "not a redis:// URL"},
		{name: "URLs that differ", environ: []string{"ATTRCACHE_REDIS_ADDRS=redis://:" + secretPW + "@a:1,redis://:x" + secretPW + "@b:1"}, secrets: pw, says: "differ"},
		{name: "URL and host:port mixed", environ: []string{"ATTRCACHE_REDIS_ADDRS=" + url + ",b:1"}, secrets: pw, says: "mixes"},
		{name: "URL listed twice", environ: []string{"ATTRCACHE_REDIS_ADDRS=" + url + "," + url}, secrets: pw, says: "twice"},
		{name: "URL in a yaml mapping", yaml: "redis:\n  addrs: {a: " + yamlQuote(url) + "}\n", secrets: pw, says: "not a list"},
		{name: "URL in a yaml list item mapping", yaml: "redis:\n  addrs: [{a: " + yamlQuote(url) + "}]\n", secrets: pw, says: "not a string"},
		{name: "URL with mode single and two items", environ: []string{"ATTRCACHE_REDIS_MODE=single", "ATTRCACHE_REDIS_ADDRS=" + url + ",redis://:" + secretPW + "@b:6379/0"}, secrets: pw, says: "one address"},

		// encryption.keyset_env
		{name: "keyset in keyset_env", environ: []string{"ATTRCACHE_ENCRYPTION_KEYSET_ENV=" + f.keysetJSON}, secrets: keyset, says: "holds a keyset"},
		{name: "base64 keyset in keyset_env", environ: []string{"ATTRCACHE_ENCRYPTION_KEYSET_ENV=" + f.keysetB64}, secrets: keyset, says: "holds a keyset"},
		{name: "truncated base64 keyset in keyset_env", environ: []string{"ATTRCACHE_ENCRYPTION_KEYSET_ENV=" + f.keysetB64[:40]}, secrets: secretSet{pieces: []string{f.keysetB64[:40]}}, says: "holds a keyset"},
		{name: "keyset in keyset_env yaml", yaml: "encryption:\n  keyset_env: " + yamlQuote(f.keysetJSON) + "\n", secrets: keyset, says: "holds a keyset"},
		{name: "keyset in keyset_env yaml unquoted", yaml: "encryption:\n  keyset_env: " + f.keysetJSON + "\n", secrets: keyset, says: "not a string"},
		{name: "password in keyset_env", environ: []string{"ATTRCACHE_ENCRYPTION_KEYSET_ENV=" + secretPW}, secrets: pw, says: "not the name of an environment variable"},
		{name: "keyset_env yaml number", yaml: "encryption:\n  keyset_env: " + secretNumericPW + "\n", secrets: num, says: "quote it"},
		{name: "keyset_env names the keyset", environ: []string{"ATTRCACHE_ENCRYPTION_KEYSET_ENV=APP_KEYSET", "APP_KEYSET=" + f.keysetJSON}, secrets: keyset, ok: true},
		{name: "keyset_env names a non-keyset", environ: []string{"ATTRCACHE_ENCRYPTION_KEYSET_ENV=APP_KEYSET", "APP_KEYSET=" + f.garbageEnv}, secrets: pw, ok: true},

		// encryption.keyset_file and master_keyset_file
		{name: "keyset in keyset_file", environ: []string{"ATTRCACHE_ENCRYPTION_KEYSET_FILE=" + f.keysetJSON}, secrets: keyset, says: "holds a keyset"},
		{name: "base64 keyset in keyset_file", environ: []string{"ATTRCACHE_ENCRYPTION_KEYSET_FILE=" + f.keysetB64}, secrets: keyset, says: "holds a keyset"},
		{name: "keyset in keyset_file yaml", yaml: "encryption:\n  keyset_file: " + yamlQuote(f.keysetJSON) + "\n", secrets: keyset, says: "holds a keyset"},
		{name: "password as keyset_file", environ: []string{"ATTRCACHE_ENCRYPTION_KEYSET_FILE=" + secretPW}, secrets: pw, says: "cannot read"},
		{name: "keyset_file yaml number", yaml: "encryption:\n  keyset_file: " + secretNumericPW + "\n", secrets: num, says: "quote it"},
		{name: "keyset in master_keyset_file", environ: []string{"ATTRCACHE_ENCRYPTION_KEYSET_FILE=" + f.keysetFile, "ATTRCACHE_ENCRYPTION_MASTER_KEYSET_FILE=" + f.keysetJSON}, secrets: keyset, says: "holds a keyset"},
		{name: "base64 keyset in master_keyset_file yaml", yaml: "encryption:\n  keyset_file: " + yamlQuote(f.keysetFile) + "\n  master_keyset_file: " + yamlQuote(f.keysetB64) + "\n", secrets: keyset, says: "holds a keyset"},
		{name: "KEK as master", environ: []string{"ATTRCACHE_ENCRYPTION_KEYSET_ENV=APP_KEYSET", "APP_KEYSET=" + f.keysetB64, "ATTRCACHE_ENCRYPTION_MASTER_KEYSET_FILE=" + f.masterIsKEK}, secrets: keyset, ok: true},
		{name: "keyset_file holds the keyset", environ: []string{"ATTRCACHE_ENCRYPTION_KEYSET_FILE=" + f.keysetFile}, secrets: keyset, ok: true},

		// redis.tls.key_file, and PEM in the other TLS files
		{name: "PEM in key_file", environ: []string{"ATTRCACHE_REDIS_TLS_ENABLED=true", "ATTRCACHE_REDIS_TLS_CERT_FILE=" + f.certFile, "ATTRCACHE_REDIS_TLS_KEY_FILE=" + f.pemKey}, secrets: pem, says: "holds PEM"},
		{name: "PEM in cert_file", environ: []string{"ATTRCACHE_REDIS_TLS_ENABLED=true", "ATTRCACHE_REDIS_TLS_CERT_FILE=" + f.pemKey, "ATTRCACHE_REDIS_TLS_KEY_FILE=" + f.keyFileOfPKI}, secrets: pem, says: "holds PEM"},
		{name: "PEM in key_file yaml, TLS off", yaml: "redis:\n  tls:\n    key_file: " + yamlQuote(f.pemKey) + "\n", secrets: pem, says: "enabled is false"},
		{name: "password as key_file", environ: []string{"ATTRCACHE_REDIS_TLS_ENABLED=true", "ATTRCACHE_REDIS_TLS_CERT_FILE=" + f.certFile, "ATTRCACHE_REDIS_TLS_KEY_FILE=" + secretPW}, secrets: pw, says: "cannot read"},
		{name: "key_file holds the key", environ: []string{"ATTRCACHE_REDIS_TLS_ENABLED=true", "ATTRCACHE_REDIS_TLS_CERT_FILE=" + f.certFile, "ATTRCACHE_REDIS_TLS_KEY_FILE=" + f.keyFileOfPKI}, secrets: pem, ok: true},

		// Secrets typed into settings that are not secret.
		{name: "URL in redis.mode", environ: []string{"ATTRCACHE_REDIS_MODE=" + url}, secrets: pw, says: "not one of"},
		{name: "keyset in log.level", environ: []string{"ATTRCACHE_LOG_LEVEL=" + f.keysetJSON}, secrets: keyset, says: "not one of"},
		{name: "base64 keyset in log.format yaml", yaml: "log:\n  format: " + yamlQuote(f.keysetB64) + "\n", secrets: keyset, says: "not one of"},
		{name: "URL in redis.db", environ: []string{"ATTRCACHE_REDIS_DB=" + url}, secrets: pw, says: "whole number"},
		{name: "URL in a duration", environ: []string{"ATTRCACHE_REDIS_DIAL_TIMEOUT=" + url}, secrets: pw, says: "not a duration"},
		{name: "URL as an unknown variable", environ: []string{"ATTRCACHE_REDIS_URL=" + url}, secrets: pw, ok: true},
		{name: "URL as a yaml key", yaml: "redis:\n  " + url + ": x\n", secrets: pw, says: "unknown key"},
		{name: "URL as a top-level yaml key", yaml: yamlQuote(url) + ": x\n", secrets: pw, says: "unknown key"},
	}
}

// TestSecretsNeverShown feeds every secret-bearing setting a recognisable
// secret in every way it can be given, and checks that no error, log
// record, Warnings line or printed form of the Config shows it.
func TestSecretsNeverShown(t *testing.T) {
	f := newSecretFixtures(t)
	for _, tc := range secretCases(f) {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.yaml != "" {
				path = writeFile(t, "c.yaml", tc.yaml)
			}
			cfg, err := config.LoadWith(path, tc.environ)
			var outputs []string
			record := func(what, out string) { outputs = append(outputs, what+":\n"+out) }

			if tc.ok {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				outputs = append(outputs, printedConfig(cfg)...)
				for _, w := range cfg.Warnings() {
					record("Warnings", w)
				}
				record("RedisAddrs", fmt.Sprint(cfg.RedisAddrs()))
				if rdb, err := cfg.NewClient(); err != nil {
					record("NewClient", err.Error())
				} else {
					rdb.Close()
				}
				var logs bytes.Buffer
				_, err := cfg.NewCipher(slog.New(slog.NewTextHandler(&logs, nil)))
				if err != nil {
					outputs = append(outputs, printedError(err)...)
				}
				record("NewCipher log", logs.String())
			} else {
				if err == nil {
					t.Fatalf("Load succeeded, want an error saying %q", tc.says)
				}
				if !strings.Contains(err.Error(), tc.says) {
					t.Errorf("error does not say %q:\n%v", tc.says, err)
				}
				outputs = append(outputs, printedError(err)...)
			}
			for _, out := range outputs {
				if piece := tc.secrets.leaked(out); piece != "" {
					t.Fatalf("secret %q shows in %s", piece, out)
				}
			}
		})
	}
}

// printedError is every way an application shows an error.
func printedError(err error) []string {
	out := []string{"Error():\n" + err.Error()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		out = append(out, verb+":\n"+fmt.Sprintf(verb, err))
	}
	for _, ke := range keyErrors(err) {
		out = append(out, "KeyError:\n"+fmt.Sprintf("%#v %+v", *ke, ke))
	}
	// Without the time, which a short window of a secret (four digits)
	// could match by chance.
	noTime := &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}
	for name, h := range map[string]func(*bytes.Buffer) slog.Handler{
		"slog JSON": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, noTime) },
		"slog text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, noTime) },
	} {
		var b bytes.Buffer
		slog.New(h(&b)).Error("config", "err", err)
		out = append(out, name+":\n"+b.String())
	}
	return out
}

// printedConfig is every way an application shows a Config.
func printedConfig(c *config.Config) []string {
	out := []string{"String():\n" + c.String()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		for name, v := range map[string]any{
			"*Config": c, "Config": *c, "Redis": c.Redis, "&Redis": &c.Redis, "TLS": c.Redis.TLS,
			"Encryption": c.Encryption, "Addrs": c.Redis.Addrs, "Password": c.Redis.Password,
		} {
			out = append(out, verb+" of "+name+":\n"+fmt.Sprintf(verb, v))
		}
	}
	if j, err := json.Marshal(c); err == nil {
		out = append(out, "json.Marshal:\n"+string(j))
	} else {
		out = append(out, "json.Marshal error:\n"+err.Error())
	}
	for _, format := range []string{"json", "text"} {
		var b bytes.Buffer
		lc := *c
		lc.Log.Format = format
		lc.NewLogger(&b).Info("configuration", "config", c, "redis", c.Redis, "addrs", c.Redis.Addrs, "encryption", c.Encryption)
		out = append(out, "slog "+format+":\n"+logTime.ReplaceAllString(b.String(), ""))
	}
	return out
}

// logTime matches the time of a log record in text or JSON, which
// printedConfig drops: a short window of a secret (four digits) could
// match a clock reading by chance.
var logTime = regexp.MustCompile(`time=\S+ |"time":"[^"]*",`)

// TestSecretTableCatchesLeaks checks the checker: a Config printed
// without masking shows the secret, and leaked finds it.
func TestSecretTableCatchesLeaks(t *testing.T) {
	s := secretSet{whole: []string{secretPW}, pieces: []string{"abcdefghijklmnopqrstuvwxyz"}}
	for _, out := range []string{"x" + secretPW + "x", "..defghijklmnop..", fmt.Sprintf("%v", []string{"redis://:" + secretPW + "@h"})} {
		if s.leaked(out) == "" {
			t.Errorf("leaked(%q) found nothing", out)
		}
	}
	if s.leaked("[redacted] abcdefghijk") != "" {
		t.Error("leaked finds a secret that is not there")
	}
}

// urlPasswords are passwords that net/url does not read as the password
// of redis://default:PASSWORD@host:6379 when they are typed without
// percent-encoding: '/', '?' and '#' end the host part before the '@'
// (the rest reads as a path, a query or a fragment), and a space is no
// URL character at all.
var urlPasswords = []string{"2024/Winter!", "12345?abc", "98765#xyz", "hunter2/x", "s3cr3t pw"}

// windowLeaked returns the first piece of secret of n bytes or more that
// out shows, ignoring case, or "".
func windowLeaked(out, secret string, n int) string {
	out, low := strings.ToLower(out), strings.ToLower(secret)
	for i := 0; i+n <= len(low); i++ {
		if strings.Contains(out, low[i:i+n]) {
			return secret[i : i+n]
		}
	}
	return ""
}

// TestURLPasswordOutsideUserinfoNeverShown: an unencoded password whose
// '@' net/url does not take for the end of the user part shows nowhere,
// not even four characters of it: the item shows as [redacted], whole,
// in errors, warnings and every printed form of a Config.
func TestURLPasswordOutsideUserinfoNeverShown(t *testing.T) {
	yamlQuote := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	for _, pw := range urlPasswords {
		t.Run(pw, func(t *testing.T) {
			addr := "redis://default:" + pw + "@host:6379"
			other := "redis://default:" + pw + "@other:6379"
			var outputs []string
			for _, tc := range []struct {
				name    string
				yaml    string
				environ []string
				key     string
			}{
				{name: "env", environ: []string{"ATTRCACHE_REDIS_ADDRS=" + addr}, key: "redis.addrs"},
				{name: "env cluster", environ: []string{"ATTRCACHE_REDIS_ADDRS=" + addr + "," + other}, key: "redis.addrs"},
				{name: "env sentinel", environ: []string{"ATTRCACHE_REDIS_ADDRS=" + addr, "ATTRCACHE_REDIS_MASTER_NAME=m"}, key: "redis.addrs"},
				{name: "yaml", yaml: "redis:\n  addrs: [" + yamlQuote(addr) + "]\n", key: "redis.addrs"},
				{name: "yaml mode cluster", yaml: "redis:\n  mode: cluster\n  addrs: [" + yamlQuote(addr) + "]\n", key: "redis.addrs"},
				{name: "in redis.mode", environ: []string{"ATTRCACHE_REDIS_MODE=" + addr}, key: "redis.mode"},
				{name: "in redis.db", environ: []string{"ATTRCACHE_REDIS_DB=" + addr}, key: "redis.db"},
			} {
				path := ""
				if tc.yaml != "" {
					path = writeFile(t, "c.yaml", tc.yaml)
				}
				_, err := config.LoadWith(path, tc.environ)
				ke := wantKeyError(t, err, tc.key)
				if tc.key == "redis.addrs" && !strings.Contains(ke.Problem, `"[redacted]"`) {
					t.Errorf("%s: the item is not named as \"[redacted]\": %v", tc.name, err)
				}
				outputs = append(outputs, printedError(err)...)
			}

			// A misspelt variable loads, with a warning.
			c, err := config.LoadWith("", []string{"ATTRCACHE_REDIS_ADRS=" + addr})
			if err != nil {
				t.Fatal(err)
			}
			outputs = append(outputs, c.Warnings()...)

			// A Config built by hand: printed, validated, turned into a
			// client.
			c = config.Default()
			c.Redis.Addrs = config.Addrs{addr}
			if got := c.Redis.Addrs.Redacted(); !slices.Equal(got, []string{"[redacted]"}) {
				t.Errorf("Redacted() = %q, want [[redacted]]", got)
			}
			if got := fmt.Sprint(c.Redis.Addrs); got != "[[redacted]]" {
				t.Errorf("Addrs print as %q", got)
			}
			outputs = append(outputs, printedConfig(c)...)
			outputs = append(outputs, fmt.Sprint(c.RedisAddrs()))
			err = c.Validate()
			wantKeyError(t, err, "redis.addrs")
			outputs = append(outputs, printedError(err)...)
			if _, err := c.NewClient(); err == nil {
				t.Error("NewClient accepted the address")
			} else {
				outputs = append(outputs, printedError(err)...)
			}
			if _, err := c.Connect(context.Background()); err == nil {
				t.Error("Connect accepted the address")
			} else {
				outputs = append(outputs, printedError(err)...)
			}

			for _, out := range outputs {
				if piece := windowLeaked(out, pw, 4); piece != "" {
					t.Fatalf("%q of the password shows in:\n%s", piece, out)
				}
			}
		})
	}
}
