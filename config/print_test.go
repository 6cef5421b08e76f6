package config_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/attrcache/attrcache/config"
)

const (
	password         = "pa55-word-never-shown"
	sentinelPassword = "sentinel-pa55-never-shown"
)

func configWithSecrets(t *testing.T) *config.Config {
	t.Helper()
	c, err := config.LoadWith("", []string{
		"ATTRCACHE_REDIS_ADDRS=s:26379",
		"ATTRCACHE_REDIS_MASTER_NAME=mymaster",
		"ATTRCACHE_REDIS_USERNAME=app",
		"ATTRCACHE_REDIS_PASSWORD=" + password,
		"ATTRCACHE_REDIS_SENTINEL_PASSWORD=" + sentinelPassword,
		"ATTRCACHE_ENCRYPTION_KEYSET_ENV=APP_KEYSET",
		"APP_KEYSET=keyset-material-never-shown",
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func assertMasked(t *testing.T, what, out string) {
	t.Helper()
	for _, secret := range []string{password, sentinelPassword, "keyset-material-never-shown"} {
		if strings.Contains(out, secret) {
			t.Errorf("%s shows a secret:\n%s", what, out)
		}
	}
	if !strings.Contains(out, "[redacted]") {
		t.Errorf("%s does not show [redacted]:\n%s", what, out)
	}
}

func TestSecretsMasked(t *testing.T) {
	c := configWithSecrets(t)
	if c.Redis.Password.Value() != password {
		t.Fatal("password not loaded")
	}
	assertMasked(t, "String", c.String())
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		assertMasked(t, verb+" of *Config", fmt.Sprintf(verb, c))
		assertMasked(t, verb+" of Config", fmt.Sprintf(verb, *c))
		assertMasked(t, verb+" of Redis", fmt.Sprintf(verb, c.Redis))
		assertMasked(t, verb+" of &Redis", fmt.Sprintf(verb, &c.Redis))
	}
	for _, verb := range []string{"%v", "%s", "%q", "%x", "%10s", "%#v", "%+v"} {
		assertMasked(t, verb+" of Secret", strings.ReplaceAll(fmt.Sprintf(verb, c.Redis.Password), fmt.Sprintf("%x", "[redacted]"), "[redacted]"))
	}
	assertMasked(t, "Sprint", fmt.Sprint(c.Redis.Password, c))

	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	assertMasked(t, "JSON", string(j))

	for name, h := range map[string]func(*bytes.Buffer) slog.Handler{
		"slog JSON": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		"slog text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var b bytes.Buffer
		log := slog.New(h(&b))
		log.Info("loaded", "config", c, "password", c.Redis.Password, "redis", c.Redis)
		assertMasked(t, name, b.String())
	}
}

func TestEmptySecretShowsEmpty(t *testing.T) {
	var s config.Secret
	if got := fmt.Sprintf("%v|%q|%#v", s, s, s); got != `|""|config.Secret("")` {
		t.Errorf("empty secret prints %s", got)
	}
	if got := config.Secret("x").GoString(); got != `config.Secret("[redacted]")` {
		t.Errorf("GoString = %s", got)
	}
}

func TestLogValueGroups(t *testing.T) {
	c := configWithSecrets(t)
	var b bytes.Buffer
	slog.New(slog.NewJSONHandler(&b, nil)).Info("loaded", "config", c)
	var rec struct {
		Config struct {
			Redis struct {
				Addrs       []string `json:"addrs"`
				Password    string   `json:"password"`
				DialTimeout string   `json:"dial_timeout"`
				TLS         struct {
					Enabled bool `json:"enabled"`
				} `json:"tls"`
			} `json:"redis"`
			Attrcache struct {
				Namespace string `json:"namespace"`
			} `json:"attrcache"`
			Encryption struct {
				KeysetEnv string `json:"keyset_env"`
			} `json:"encryption"`
			Log struct {
				Level string `json:"level"`
			} `json:"log"`
		} `json:"config"`
	}
	if err := json.Unmarshal(b.Bytes(), &rec); err != nil {
		t.Fatalf("%v: %s", err, b.String())
	}
	r := rec.Config
	if len(r.Redis.Addrs) != 1 || r.Redis.Password != "[redacted]" || r.Redis.DialTimeout != "5s" ||
		r.Attrcache.Namespace != "attrcache" || r.Encryption.KeysetEnv != "APP_KEYSET" || r.Log.Level != "info" {
		t.Errorf("log record: %s", b.String())
	}
}

func TestStringListsEveryKey(t *testing.T) {
	s := config.Default().String()
	for _, key := range config.Keys() {
		if !strings.Contains(s, key+"=") {
			t.Errorf("String() lacks %s: %s", key, s)
		}
	}
}
