package config_test

import (
	"errors"
	"io/fs"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attrcache/attrcache/config"
)

func TestDefaults(t *testing.T) {
	c, err := config.LoadWith("", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := config.Default()
	if !reflect.DeepEqual(c.Redis, want.Redis) || !reflect.DeepEqual(c.Store, want.Store) ||
		c.Encryption != want.Encryption || c.Log != want.Log {
		t.Errorf("LoadWith(\"\", nil) =\n%v\nwant\n%v", c, want)
	}
	if c.RedisConfigured() {
		t.Error("RedisConfigured() = true with no redis.addrs")
	}
	if c.Redis.MaxRetries != 3 || c.Store.SessionTTL != 30*time.Minute || c.Store.Namespace != "attrcache" ||
		c.Log.Level != "info" || c.Log.Format != "text" || c.Redis.DialTimeout != 5*time.Second {
		t.Errorf("unexpected defaults: %v", c)
	}
	if err := config.Default().Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
}

func TestExampleFileLoads(t *testing.T) {
	c, err := config.LoadWith("example.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Redis.Addrs, []string{"127.0.0.1:6379"}) || !c.RedisConfigured() {
		t.Errorf("redis.addrs = %q", c.Redis.Addrs)
	}
	// The example shows the defaults: loading it changes nothing else.
	d := config.Default()
	d.Redis.Addrs = c.Redis.Addrs
	if c.String() != d.String() {
		t.Errorf("example.yaml differs from the defaults:\n%v\n%v", c, d)
	}
}

// TestExampleFileListsEveryKey keeps example.yaml complete: every key is
// in it (as "name:" under its section) with a comment above it.
func TestExampleFileListsEveryKey(t *testing.T) {
	data, err := os.ReadFile("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, key := range config.Keys() {
		parts := strings.Split(key, ".")
		leaf := parts[len(parts)-1]
		indent := strings.Repeat("  ", len(parts)-1)
		if !strings.Contains(text, "\n"+indent+leaf+":") {
			t.Errorf("example.yaml lacks %s", key)
		}
	}
}

func TestDocsListEveryKey(t *testing.T) {
	data, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range config.Keys() {
		row := "| `" + key + "` | `" + config.EnvName(key) + "` |"
		if !strings.Contains(string(data), row) {
			t.Errorf("docs/configuration.md has no row starting %s", row)
		}
	}
}

func TestFileOnly(t *testing.T) {
	path := writeFile(t, "c.yaml", `
redis:
  addrs: ["10.0.0.1:6379"]
  username: app
  password: "s3cret"
  db: 4
  dial_timeout: 250ms
  pool_size: 20
  max_retries: 0
attrcache:
  namespace: shop
  session_ttl: 24h
  limits:
    max_batch: 50
log:
  level: DEBUG
  format: json
`)
	c, err := config.LoadWith(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := c.Redis
	if !slices.Equal(r.Addrs, []string{"10.0.0.1:6379"}) || r.Username != "app" || r.Password.Value() != "s3cret" ||
		r.DB != 4 || r.DialTimeout != 250*time.Millisecond || r.PoolSize != 20 || r.MaxRetries != 0 {
		t.Errorf("redis = %+v", r)
	}
	// Keys absent from the file keep their defaults.
	if r.ReadTimeout != 3*time.Second || r.Mode != config.ModeAuto {
		t.Errorf("defaults lost: %v", c)
	}
	if c.Store.Namespace != "shop" || c.Store.SessionTTL != 24*time.Hour || c.Store.Limits.MaxBatch != 50 {
		t.Errorf("attrcache = %+v", c.Store)
	}
	if c.Log.Format != "json" || c.LogLevel().String() != "DEBUG" {
		t.Errorf("log = %+v", c.Log)
	}
}

func TestEnvironmentOnly(t *testing.T) {
	c, err := config.LoadWith("", []string{
		"PATH=/bin",
		"ATTRCACHE_REDIS_ADDRS=a:7000, b:7001 ,c:7002",
		"ATTRCACHE_REDIS_PASSWORD=pw=with=equals",
		"ATTRCACHE_REDIS_READ_TIMEOUT=1m30s",
		"ATTRCACHE_REDIS_POOL_SIZE=9",
		"ATTRCACHE_REDIS_TLS_ENABLED=true",
		"ATTRCACHE_LIMITS_MAX_NAME_BYTES=64",
		"ATTRCACHE_LOG_LEVEL=warn",
		"ATTRCACHE_REDIS_DB=", // empty counts as unset
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a:7000", "b:7001", "c:7002"}; !slices.Equal(c.Redis.Addrs, want) {
		t.Errorf("redis.addrs = %q, want %q", c.Redis.Addrs, want)
	}
	if !c.RedisConfigured() || c.Redis.ResolvedMode() != config.ModeCluster {
		t.Errorf("configured %v, mode %s", c.RedisConfigured(), c.Redis.ResolvedMode())
	}
	if c.Redis.Password.Value() != "pw=with=equals" || c.Redis.ReadTimeout != 90*time.Second ||
		c.Redis.PoolSize != 9 || !c.Redis.TLS.Enabled || c.Store.Limits.MaxNameBytes != 64 || c.Log.Level != "warn" {
		t.Errorf("environment not applied: %v", c)
	}
}

func TestEnvironmentWinsOverFile(t *testing.T) {
	path := writeFile(t, "c.yaml", `
redis:
  addrs: [file:1]
  db: 1
attrcache:
  namespace: from-file
  session_ttl: 1h
`)
	c, err := config.LoadWith(path, []string{
		"ATTRCACHE_REDIS_ADDRS=env:1",
		"ATTRCACHE_NAMESPACE=from-env",
		"ATTRCACHE_LOG_FORMAT=json", // absent from the file
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Redis.Addrs, []string{"env:1"}) || c.Store.Namespace != "from-env" || c.Log.Format != "json" {
		t.Errorf("environment lost: %v", c)
	}
	if c.Redis.DB != 1 || c.Store.SessionTTL != time.Hour {
		t.Errorf("file lost: %v", c)
	}
}

func TestLastEnvironmentEntryWins(t *testing.T) {
	c, err := config.LoadWith("", []string{"ATTRCACHE_REDIS_DB=1", "ATTRCACHE_REDIS_DB=2"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Redis.DB != 2 {
		t.Errorf("redis.db = %d, want 2", c.Redis.DB)
	}
}

func TestLoadReadsProcessEnvironment(t *testing.T) {
	t.Setenv("ATTRCACHE_REDIS_ADDRS", "proc:6379")
	t.Setenv("ATTRCACHE_REDIS_PASSWORD", "pw")
	c, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Redis.Addrs, []string{"proc:6379"}) || c.Redis.Password.Value() != "pw" {
		t.Errorf("process environment not read: %v", c)
	}
}

// TestEveryKeyFromEnvironment sets every key from the environment alone,
// with no file, and checks it arrives. The table must cover config.Keys(),
// so a new key cannot be forgotten.
func TestEveryKeyFromEnvironment(t *testing.T) {
	pki := newTestPKI(t)
	keyset := writeFile(t, "keyset.json", `{"primaryKeyId": 1}`)
	master := writeFile(t, "master.json", `{"primaryKeyId": 2}`)
	values := map[string]string{
		"redis.mode":                            "sentinel",
		"redis.client":                          "go-redis",
		"redis.addrs":                           "s1:26379,s2:26379",
		"redis.master_name":                     "mymaster",
		"redis.sentinel_username":               "sentuser",
		"redis.sentinel_password":               "sentpass",
		"redis.username":                        "app",
		"redis.password":                        "apppass",
		"redis.db":                              "5",
		"redis.tls.enabled":                     "true",
		"redis.tls.ca_file":                     pki.CAFile,
		"redis.tls.cert_file":                   pki.CertFile,
		"redis.tls.key_file":                    pki.KeyFile,
		"redis.tls.server_name":                 "redis.internal",
		"redis.tls.insecure_skip_verify":        "1",
		"redis.dial_timeout":                    "1s",
		"redis.read_timeout":                    "2s",
		"redis.write_timeout":                   "4s",
		"redis.pool_size":                       "11",
		"redis.max_retries":                     "7",
		"attrcache.namespace":                   "ns1",
		"attrcache.session_ttl":                 "2h",
		"attrcache.limits.max_name_bytes":       "100",
		"attrcache.limits.max_value_bytes":      "2000",
		"attrcache.limits.max_call_bytes":       "50000",
		"attrcache.limits.max_session_bytes":    "90000",
		"attrcache.limits.max_attributes":       "300",
		"attrcache.limits.max_batch":            "40",
		"attrcache.replica_wait.replicas":       "1",
		"attrcache.replica_wait.timeout":        "500ms",
		"attrcache.call_timeout":                "5s",
		"redis.client_side_cache.enabled":       "true",
		"redis.client_side_cache.max_entries":   "5000",
		"redis.client_side_cache.max_bytes":     "1048576",
		"redis.client_side_cache.max_staleness": "3s",
		"encryption.keyset_file":                "",
		"encryption.keyset_env":                 "MY_KEYSET",
		"encryption.master_keyset_file":         master,
		"log.level":                             "error",
		"log.format":                            "json",
	}
	environ := []string{"MY_KEYSET=" + keyset}
	for _, key := range config.Keys() {
		val, ok := values[key]
		if !ok {
			t.Fatalf("test table lacks %s", key)
		}
		environ = append(environ, config.EnvName(key)+"="+val)
	}
	c, err := config.LoadWith("", environ)
	if err != nil {
		t.Fatal(err)
	}
	want := config.Config{
		Redis: config.Redis{
			Mode:             "sentinel",
			Client:           "go-redis",
			Addrs:            []string{"s1:26379", "s2:26379"},
			MasterName:       "mymaster",
			SentinelUsername: "sentuser",
			SentinelPassword: "sentpass",
			Username:         "app",
			Password:         "apppass",
			DB:               5,
			TLS: config.TLS{
				Enabled:            true,
				CAFile:             pki.CAFile,
				CertFile:           pki.CertFile,
				KeyFile:            pki.KeyFile,
				ServerName:         "redis.internal",
				InsecureSkipVerify: true,
			},
			DialTimeout:  time.Second,
			ReadTimeout:  2 * time.Second,
			WriteTimeout: 4 * time.Second,
			PoolSize:     11,
			MaxRetries:   7,
			ClientSideCache: config.ClientSideCache{
				Enabled: true, MaxEntries: 5000, MaxBytes: 1 << 20, MaxStaleness: 3 * time.Second,
			},
		},
		Store: config.Store{
			Namespace:  "ns1",
			SessionTTL: 2 * time.Hour,
			Limits: config.Limits{MaxNameBytes: 100, MaxValueBytes: 2000, MaxCallBytes: 50000, MaxSessionBytes: 90000,
				MaxAttributes: 300, MaxBatch: 40},
			ReplicaWait: config.ReplicaWait{Replicas: 1, Timeout: 500 * time.Millisecond},
			CallTimeout: 5 * time.Second,
		},
		Encryption: config.Encryption{KeysetEnv: "MY_KEYSET", MasterKeysetFile: master},
		Log:        config.Log{Level: "error", Format: "json"},
	}
	if !reflect.DeepEqual(c.Redis, want.Redis) || !reflect.DeepEqual(c.Store, want.Store) ||
		c.Encryption != want.Encryption || c.Log != want.Log {
		t.Errorf("got\n%#v\nwant\n%#v", c, want)
	}
	if c.Redis.Password.Value() != "apppass" || c.Redis.SentinelPassword.Value() != "sentpass" {
		t.Error("passwords not loaded")
	}
}

func TestEmptySectionsKeepDefaults(t *testing.T) {
	path := writeFile(t, "c.yaml", "redis:\nattrcache:\n  limits:\nlog:\n  # level: debug\n")
	c, err := config.LoadWith(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := config.Default(); c.String() != d.String() {
		t.Errorf("empty sections changed the defaults:\n%v\n%v", c, d)
	}
}

func TestEmptyFile(t *testing.T) {
	if _, err := config.LoadWith(writeFile(t, "c.yaml", ""), nil); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownKeysNamed(t *testing.T) {
	path := writeFile(t, "c.yaml", `
redis:
  adresses: [a:1]
  tls:
    enable: true
loglevel: debug
`)
	_, err := config.LoadWith(path, nil)
	if got, want := errorKeys(err), []string{"loglevel", "redis.adresses", "redis.tls.enable"}; !slices.Equal(got, want) {
		t.Fatalf("keys named %q, want %q; error:\n%v", got, want, err)
	}
	if !strings.Contains(err.Error(), "unknown key") || !strings.Contains(err.Error(), path) {
		t.Errorf("error does not say unknown key in %s: %v", path, err)
	}
}

func TestScalarForSection(t *testing.T) {
	_, err := config.LoadWith(writeFile(t, "c.yaml", "redis:\n  tls: true\n"), nil)
	ke := wantKeyError(t, err, "redis.tls")
	if !strings.Contains(ke.Problem, "mapping") {
		t.Errorf("problem = %q", ke.Problem)
	}
}

func TestBareNumberDurationRejected(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		environ    []string
		key, env   string
	}{
		{name: "file int", file: "redis:\n  dial_timeout: 30\n", key: "redis.dial_timeout"},
		{name: "file zero", file: "attrcache:\n  session_ttl: 0\n", key: "attrcache.session_ttl"},
		{name: "file float", file: "redis:\n  read_timeout: 1.5\n", key: "redis.read_timeout"},
		{name: "file quoted", file: "redis:\n  write_timeout: \"30\"\n", key: "redis.write_timeout"},
		{name: "environment", environ: []string{"ATTRCACHE_SESSION_TTL=1800"}, key: "attrcache.session_ttl", env: "ATTRCACHE_SESSION_TTL"},
		{name: "environment zero", environ: []string{"ATTRCACHE_REDIS_DIAL_TIMEOUT=0"}, key: "redis.dial_timeout", env: "ATTRCACHE_REDIS_DIAL_TIMEOUT"},
		{name: "not a duration", environ: []string{"ATTRCACHE_REDIS_DIAL_TIMEOUT=soon"}, key: "redis.dial_timeout", env: "ATTRCACHE_REDIS_DIAL_TIMEOUT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = writeFile(t, "c.yaml", tc.file)
			}
			_, err := config.LoadWith(path, tc.environ)
			ke := wantKeyError(t, err, tc.key)
			if ke.Env != tc.env {
				t.Errorf("Env = %q, want %q", ke.Env, tc.env)
			}
			if tc.env != "" && !strings.Contains(err.Error(), tc.env) {
				t.Errorf("error does not name %s: %v", tc.env, err)
			}
		})
	}
	// "0s" is a duration and a valid timeout (the go-redis default).
	c, err := config.LoadWith("", []string{"ATTRCACHE_REDIS_DIAL_TIMEOUT=0s"})
	if err != nil || c.Redis.DialTimeout != 0 {
		t.Errorf("0s: %v, %v", err, c)
	}
}

func TestWrongTypesRejected(t *testing.T) {
	path := writeFile(t, "c.yaml", `
redis:
  password: true
  master_name: 0x1F
  db: [1]
  pool_size: ten
  tls:
    enabled: maybe
  addrs: [1, "a:1"]
`)
	_, err := config.LoadWith(path, []string{"ATTRCACHE_REDIS_MAX_RETRIES=3.5"})
	want := []string{"redis.addrs", "redis.db", "redis.master_name", "redis.max_retries", "redis.password", "redis.pool_size", "redis.tls.enabled"}
	if got := errorKeys(err); !slices.Equal(got, want) {
		t.Fatalf("keys named %q, want %q; error:\n%v", got, want, err)
	}
	// An unquoted true would have become the password "1"; the value of a
	// password is not echoed.
	ke := wantKeyError(t, err, "redis.password")
	if !strings.Contains(ke.Problem, "quote") || strings.Contains(ke.Problem, "true") {
		t.Errorf("problem = %q", ke.Problem)
	}
}

func TestConfigFileErrors(t *testing.T) {
	_, err := config.LoadWith("/nonexistent/attrcache.yaml", nil)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "/nonexistent/attrcache.yaml") {
		t.Errorf("missing file: %v", err)
	}

	dir := t.TempDir()
	if _, err := config.LoadWith(dir, nil); err == nil {
		t.Error("a directory loaded as a config file")
	}

	path := writeFile(t, "c.yaml", "redis: [unclosed\n")
	if _, err := config.LoadWith(path, nil); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("bad YAML: %v", err)
	}

	if os.Geteuid() != 0 { // root reads anything
		path := writeFile(t, "c.yaml", "redis: {}\n")
		if err := os.Chmod(path, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := config.LoadWith(path, nil); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("unreadable file: %v", err)
		}
	}
}

func TestListFromEnvironmentKeepsEmptyItems(t *testing.T) {
	_, err := config.LoadWith("", []string{"ATTRCACHE_REDIS_ADDRS=a:1,,b:2"})
	ke := wantKeyError(t, err, "redis.addrs")
	if !strings.Contains(ke.Problem, "empty address") || ke.Env != "ATTRCACHE_REDIS_ADDRS" {
		t.Errorf("got %v", ke)
	}
}

// TestProblemsReportedInOneRound: values of the wrong form and values
// that mean something wrong are reported together, from the file and the
// environment, and a problem that would only judge a refused value's
// default is left out.
func TestProblemsReportedInOneRound(t *testing.T) {
	path := writeFile(t, "c.yaml", `
redis:
  addrs: [nohost]
  pool_size: -1
  dial_timeout: 30
  tls:
    enabled: maybe
    ca_file: /etc/ssl/ca.pem
attrcache:
  session_ttl: 0s
  limits:
    max_batch: lots
loglevel: debug
`)
	_, err := config.LoadWith(path, []string{"ATTRCACHE_LOG_FORMAT=xml", "ATTRCACHE_REDIS_DB=x"})
	want := []string{
		"attrcache.limits.max_batch", // wrong form
		"attrcache.session_ttl",      // wrong meaning
		"log.format",                 // wrong meaning, from the environment
		"loglevel",                   // unknown key
		"redis.addrs",                // wrong meaning
		"redis.db",                   // wrong form, from the environment
		"redis.dial_timeout",         // wrong form
		"redis.pool_size",            // wrong meaning
		"redis.tls.enabled",          // wrong form
	}
	if got := errorKeys(err); !slices.Equal(got, want) {
		t.Fatalf("keys named %q, want %q; error:\n%v", got, want, err)
	}
	// redis.tls.ca_file is not reported as "set but TLS is off": TLS was
	// asked for with a value that could not be read.
	if strings.Contains(err.Error(), "redis.tls.ca_file") {
		t.Errorf("a problem judged on a refused value's default:\n%v", err)
	}
	if n := len(keyErrors(err)); n != len(want) {
		t.Errorf("%d problems for %d keys:\n%v", n, len(want), err)
	}
}
