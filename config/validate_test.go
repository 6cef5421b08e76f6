package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/config"
)

func TestValidationProblems(t *testing.T) {
	pki := newTestPKI(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	notPEM := writeFile(t, "ca.pem", "not a certificate\n")
	keyset := writeFile(t, "keyset.json", "{}")
	empty := writeFile(t, "empty.json", "")

	for _, tc := range []struct {
		name   string
		change func(c *config.Config)
		key    string // the key the problem names
		says   string // part of the problem text
	}{
		{"empty address", func(c *config.Config) { c.Redis.Addrs = []string{""} }, "redis.addrs", "empty address"},
		{"address without port", func(c *config.Config) { c.Redis.Addrs = []string{"redis.example"} }, "redis.addrs", "no port"},
		{"bad port", func(c *config.Config) { c.Redis.Addrs = []string{"h:70000"} }, "redis.addrs", "port"},
		{"address twice", func(c *config.Config) { c.Redis.Addrs = []string{"h:1", "h:1"} }, "redis.addrs", "twice"},
		{"unknown mode", func(c *config.Config) { c.Redis.Mode = "ring" }, "redis.mode", "ring"},
		{"single with many addresses", func(c *config.Config) { c.Redis.Mode = "single"; c.Redis.Addrs = []string{"a:1", "b:1"} }, "redis.addrs", "one address"},
		{"sentinel without master", func(c *config.Config) { c.Redis.Mode = "sentinel"; c.Redis.Addrs = []string{"a:1"} }, "redis.master_name", "required"},
		{"master name in cluster mode", func(c *config.Config) { c.Redis.Mode = "cluster"; c.Redis.MasterName = "m" }, "redis.master_name", "only for Sentinel"},
		{"sentinel without addresses", func(c *config.Config) { c.Redis.MasterName = "m" }, "redis.addrs", "sentinel addresses"},
		{"sentinel password without sentinel", func(c *config.Config) { c.Redis.SentinelPassword = "x" }, "redis.sentinel_password", "only for Sentinel"},
		{"sentinel username without sentinel", func(c *config.Config) { c.Redis.SentinelUsername = "x" }, "redis.sentinel_username", "only for Sentinel"},
		{"negative db", func(c *config.Config) { c.Redis.DB = -1 }, "redis.db", "negative"},
		{"cluster with db", func(c *config.Config) { c.Redis.Addrs = []string{"a:1", "b:1"}; c.Redis.DB = 2 }, "redis.db", "only database 0"},
		{"negative dial timeout", func(c *config.Config) { c.Redis.DialTimeout = -time.Second }, "redis.dial_timeout", "negative"},
		{"negative read timeout", func(c *config.Config) { c.Redis.ReadTimeout = -time.Second }, "redis.read_timeout", "negative"},
		{"negative write timeout", func(c *config.Config) { c.Redis.WriteTimeout = -time.Second }, "redis.write_timeout", "negative"},
		{"negative pool size", func(c *config.Config) { c.Redis.PoolSize = -1 }, "redis.pool_size", "negative"},
		{"negative retries", func(c *config.Config) { c.Redis.MaxRetries = -1 }, "redis.max_retries", "negative"},
		{"tls file without tls", func(c *config.Config) { c.Redis.TLS.CAFile = pki.CAFile }, "redis.tls.ca_file", "enabled is false"},
		{"cert without key", func(c *config.Config) { c.Redis.TLS = config.TLS{Enabled: true, CertFile: pki.CertFile} }, "redis.tls.cert_file", "key_file is not"},
		{"key without cert", func(c *config.Config) { c.Redis.TLS = config.TLS{Enabled: true, KeyFile: pki.KeyFile} }, "redis.tls.key_file", "cert_file is not"},
		{"unreadable CA", func(c *config.Config) { c.Redis.TLS = config.TLS{Enabled: true, CAFile: missing} }, "redis.tls.ca_file", "cannot read"},
		{"CA not PEM", func(c *config.Config) { c.Redis.TLS = config.TLS{Enabled: true, CAFile: notPEM} }, "redis.tls.ca_file", "no PEM"},
		{"unreadable cert", func(c *config.Config) {
			c.Redis.TLS = config.TLS{Enabled: true, CertFile: missing, KeyFile: pki.KeyFile}
		}, "redis.tls.cert_file", "cannot read"},
		{"unreadable key", func(c *config.Config) {
			c.Redis.TLS = config.TLS{Enabled: true, CertFile: pki.CertFile, KeyFile: missing}
		}, "redis.tls.key_file", "cannot read"},
		{"cert and key mismatch", func(c *config.Config) {
			c.Redis.TLS = config.TLS{Enabled: true, CertFile: pki.CertFile, KeyFile: pki.CertFile}
		}, "redis.tls.cert_file", "key_file"},
		{"bad namespace", func(c *config.Config) { c.Store.Namespace = "a{b}" }, "attrcache.namespace", "'{'"},
		{"empty namespace", func(c *config.Config) { c.Store.Namespace = "" }, "attrcache.namespace", "1 to 64"},
		{"zero TTL", func(c *config.Config) { c.Store.SessionTTL = 0 }, "attrcache.session_ttl", "positive"},
		{"negative replicas", func(c *config.Config) { c.Store.ReplicaWait.Replicas = -1 }, "attrcache.replica_wait.replicas", "negative"},
		{"replica wait without timeout", func(c *config.Config) { c.Store.ReplicaWait = config.ReplicaWait{Replicas: 1} }, "attrcache.replica_wait.timeout", "at least 1ms"},
		{"replica wait past read timeout", func(c *config.Config) {
			c.Store.ReplicaWait = config.ReplicaWait{Replicas: 1, Timeout: 5 * time.Second}
		}, "attrcache.replica_wait.timeout", "below redis.read_timeout"},
		{"replica wait past the library's cap, on rueidis", func(c *config.Config) {
			c.Redis.Client = config.ClientRueidis
			c.Store.ReplicaWait = config.ReplicaWait{Replicas: 1, Timeout: 30 * time.Second}
		}, "attrcache.replica_wait.timeout", "24s"},
		{"negative TTL", func(c *config.Config) { c.Store.SessionTTL = -time.Minute }, "attrcache.session_ttl", "positive"},
		{"sub-millisecond TTL", func(c *config.Config) { c.Store.SessionTTL = time.Microsecond }, "attrcache.session_ttl", "1ms"},
		{"TTL over MaxExpiration", func(c *config.Config) { c.Store.SessionTTL = attrcache.MaxExpiration + time.Hour }, "attrcache.session_ttl", "at most"},
		{"negative name limit", func(c *config.Config) { c.Store.Limits.MaxNameBytes = -1 }, "attrcache.limits.max_name_bytes", "negative"},
		{"negative value limit", func(c *config.Config) { c.Store.Limits.MaxValueBytes = -1 }, "attrcache.limits.max_value_bytes", "negative"},
		{"negative attribute limit", func(c *config.Config) { c.Store.Limits.MaxAttributes = -1 }, "attrcache.limits.max_attributes", "negative"},
		{"negative batch limit", func(c *config.Config) { c.Store.Limits.MaxBatch = -1 }, "attrcache.limits.max_batch", "negative"},
		{"value limit too large", func(c *config.Config) { c.Store.Limits.MaxValueBytes = 1 << 30 }, "attrcache.limits.max_value_bytes", "over"},
		{"name limit too large", func(c *config.Config) { c.Store.Limits.MaxNameBytes = 1 << 20 }, "attrcache.limits.max_name_bytes", "over"},
		{"keyset in file and env", func(c *config.Config) {
			c.Encryption = config.Encryption{KeysetFile: keyset, KeysetEnv: "PATH"}
		}, "encryption.keyset_file", "keyset_env"},
		{"unreadable keyset", func(c *config.Config) { c.Encryption.KeysetFile = missing }, "encryption.keyset_file", "cannot read"},
		{"empty keyset", func(c *config.Config) { c.Encryption.KeysetFile = empty }, "encryption.keyset_file", "empty"},
		{"keyset env unset", func(c *config.Config) { c.Encryption.KeysetEnv = "ATTRCACHE_TEST_NO_SUCH_VARIABLE" }, "encryption.keyset_env", "not set"},
		{"keyset env bad name", func(c *config.Config) { c.Encryption.KeysetEnv = "A=B" }, "encryption.keyset_env", "not the name of an environment variable"},
		{"master without keyset", func(c *config.Config) { c.Encryption.MasterKeysetFile = keyset }, "encryption.master_keyset_file", "no keyset"},
		{"unreadable master", func(c *config.Config) {
			c.Encryption = config.Encryption{KeysetFile: keyset, MasterKeysetFile: missing}
		}, "encryption.master_keyset_file", "cannot read"},
		{"unknown level", func(c *config.Config) { c.Log.Level = "verbose" }, "log.level", "verbose"},
		{"unknown format", func(c *config.Config) { c.Log.Format = "xml" }, "log.format", "xml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			tc.change(c)
			err := c.Validate()
			ke := wantKeyError(t, err, tc.key)
			if !strings.Contains(ke.Problem, tc.says) {
				t.Errorf("problem %q does not say %q", ke.Problem, tc.says)
			}
			if !strings.Contains(err.Error(), "config: "+tc.key+": ") {
				t.Errorf("error text does not name %s: %v", tc.key, err)
			}
		})
	}
}

func TestValidationReportsEveryProblem(t *testing.T) {
	c := config.Default()
	c.Redis.Addrs = []string{"nohost"}
	c.Redis.PoolSize = -1
	c.Store.SessionTTL = 0
	c.Log.Format = "xml"
	want := []string{"attrcache.session_ttl", "log.format", "redis.addrs", "redis.pool_size"}
	if got := errorKeys(c.Validate()); !slices.Equal(got, want) {
		t.Errorf("keys named %q, want %q", got, want)
	}
}

func TestValidationFromLoadNamesVariable(t *testing.T) {
	_, err := config.LoadWith("", []string{"ATTRCACHE_REDIS_POOL_SIZE=-3"})
	ke := wantKeyError(t, err, "redis.pool_size")
	if ke.Env != "ATTRCACHE_REDIS_POOL_SIZE" || !strings.HasSuffix(err.Error(), "(set by ATTRCACHE_REDIS_POOL_SIZE)") {
		t.Errorf("error = %v", err)
	}
}

func TestValidConfigurations(t *testing.T) {
	pki := newTestPKI(t)
	keyset := writeFile(t, "keyset.json", "{}")
	for _, tc := range []struct {
		name   string
		change func(c *config.Config)
		mode   string
	}{
		{"defaults", func(*config.Config) {}, config.ModeSingle},
		{"single", func(c *config.Config) { c.Redis.Addrs = []string{"[::1]:6379"}; c.Redis.DB = 3 }, config.ModeSingle},
		{"cluster", func(c *config.Config) { c.Redis.Addrs = []string{"a:1", "b:2", "c:3"} }, config.ModeCluster},
		{"cluster with one seed", func(c *config.Config) { c.Redis.Mode = "CLUSTER"; c.Redis.Addrs = []string{"a:1"} }, config.ModeCluster},
		{"sentinel", func(c *config.Config) {
			c.Redis.Addrs = []string{"a:26379", "b:26379"}
			c.Redis.MasterName = "m"
			c.Redis.DB = 2
			c.Redis.SentinelPassword = "x"
		}, config.ModeSentinel},
		{"tls", func(c *config.Config) {
			c.Redis.TLS = config.TLS{Enabled: true, CAFile: pki.CAFile, CertFile: pki.CertFile, KeyFile: pki.KeyFile, ServerName: "x"}
		}, config.ModeSingle},
		{"keyset file with master", func(c *config.Config) {
			c.Encryption = config.Encryption{KeysetFile: keyset, MasterKeysetFile: keyset}
		}, config.ModeSingle},
		{"limits", func(c *config.Config) {
			c.Store.Limits = config.Limits{MaxNameBytes: 10, MaxValueBytes: 10, MaxAttributes: 10, MaxBatch: 10}
		}, config.ModeSingle},
		{"longest TTL", func(c *config.Config) { c.Store.SessionTTL = attrcache.MaxExpiration }, config.ModeSingle},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			tc.change(c)
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := c.Redis.ResolvedMode(); got != tc.mode {
				t.Errorf("ResolvedMode() = %s, want %s", got, tc.mode)
			}
		})
	}
}

func TestKeysetEnvLookedUpInGivenEnvironment(t *testing.T) {
	environ := []string{"ATTRCACHE_ENCRYPTION_KEYSET_ENV=APP_KEYSET", "APP_KEYSET={\"key\": []}"}
	if _, err := config.LoadWith("", environ); err != nil {
		t.Fatal(err)
	}
	_, err := config.LoadWith("", environ[:1])
	ke := wantKeyError(t, err, "encryption.keyset_env")
	if !strings.Contains(ke.Problem, "APP_KEYSET") {
		t.Errorf("problem = %q", ke.Problem)
	}
}

func TestUnreadableKeysetFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads any file")
	}
	path := writeFile(t, "keyset.json", "{}")
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	c := config.Default()
	c.Encryption.KeysetFile = path
	ke := wantKeyError(t, c.Validate(), "encryption.keyset_file")
	if !strings.Contains(ke.Problem, "permission denied") {
		t.Errorf("problem = %q", ke.Problem)
	}
}

// TestMissingFileNamed: a keyset file (or any file a setting names) that
// cannot be read is reported with its path, which is no secret; a
// relative path with the working directory it was looked up in. A value
// without the shape of a path (no directory, no extension), such as a
// password typed into the setting, is still not shown.
func TestMissingFileNamed(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "kek.json")
	master := filepath.Join(dir, "master.json")
	_, err := config.LoadWith("", []string{
		"ATTRCACHE_ENCRYPTION_KEYSET_FILE=" + missing,
		"ATTRCACHE_ENCRYPTION_MASTER_KEYSET_FILE=" + master,
	})
	for key, path := range map[string]string{"encryption.keyset_file": missing, "encryption.master_keyset_file": master} {
		ke := wantKeyError(t, err, key)
		if !strings.Contains(ke.Problem, `"`+path+`"`) || !strings.Contains(ke.Problem, "no such file") {
			t.Errorf("%s: problem %q does not name %s and why", key, ke.Problem, path)
		}
	}

	c := config.Default()
	c.Redis.TLS = config.TLS{Enabled: true, CAFile: filepath.Join(dir, "ca.pem")}
	if ke := wantKeyError(t, c.Validate(), "redis.tls.ca_file"); !strings.Contains(ke.Problem, dir) {
		t.Errorf("problem %q does not name the CA file", ke.Problem)
	}

	// A relative path, with the directory it was looked up in.
	t.Chdir(dir)
	c = config.Default()
	c.Encryption.KeysetFile = "kek.json"
	ke := wantKeyError(t, c.Validate(), "encryption.keyset_file")
	if !strings.Contains(ke.Problem, `"kek.json"`) || !strings.Contains(ke.Problem, dir) {
		t.Errorf("relative path: problem %q does not name the file and the working directory", ke.Problem)
	}
	if _, err := c.NewCipher(nil); err == nil || !strings.Contains(err.Error(), `"kek.json"`) {
		t.Errorf("NewCipher: %v", err)
	}

	// A bare word is not echoed.
	const word = "NotAPath-maybe-a-password"
	c.Encryption.KeysetFile = word
	ke = wantKeyError(t, c.Validate(), "encryption.keyset_file")
	if strings.Contains(ke.Error(), word) || !strings.Contains(ke.Problem, "no such file") {
		t.Errorf("bare word: problem %q", ke.Problem)
	}

	// An empty file is named too.
	empty := writeFile(t, "empty.json", "")
	c.Encryption.KeysetFile = empty
	if ke := wantKeyError(t, c.Validate(), "encryption.keyset_file"); !strings.Contains(ke.Problem, empty) {
		t.Errorf("empty file: problem %q", ke.Problem)
	}
}
