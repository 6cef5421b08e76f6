package config_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/config"
	"github.com/attrcache/attrcache/test/redistest"
)

func TestUnknownVariablesWarned(t *testing.T) {
	const value = "value-never-shown"
	c, err := config.LoadWith("", []string{
		"ATTRCACHE_REDIS_ADRS=" + value,      // a letter dropped
		"ATTRCACHE_REDIS_PASWORD=" + value,   // a letter dropped, in a secret
		"ATTRCACHE_LOG_LEVLE=" + value,       // letters swapped
		"ATTRCACHE_REDIS_ADRS=" + value,      // twice: one warning
		"ATTRCACHE_SOMETHING_ELSE_ENTIRELY=", // nothing close, and empty
		"ATTRCACHE_ENCRYPTION_KEYSET_ENV=ATTRCACHE_KEYSET",
		"ATTRCACHE_KEYSET={\"key\": []}",       // the variable keyset_env names
		"ATTRCACHE_REDIS_DB=2",                 // a setting
		"ATTRCACHE_=x",                         // the bare prefix
		"ATTRCACHE_BAD NAME=" + value,          // no shell could set it
		"PATH=/bin",                            // not ours
		"OTHER_ATTRCACHE_REDIS_ADDRS=" + value, // not ours either
	})
	if err != nil {
		t.Fatal(err)
	}
	got := c.Warnings()
	want := []string{
		"ATTRCACHE_ is not an attrcache setting and is ignored",
		"ATTRCACHE_LOG_LEVLE is not an attrcache setting and is ignored (did you mean ATTRCACHE_LOG_LEVEL?)",
		"ATTRCACHE_REDIS_ADRS is not an attrcache setting and is ignored (did you mean ATTRCACHE_REDIS_ADDRS?)",
		"ATTRCACHE_REDIS_PASWORD is not an attrcache setting and is ignored (did you mean ATTRCACHE_REDIS_PASSWORD?)",
		"ATTRCACHE_SOMETHING_ELSE_ENTIRELY is not an attrcache setting and is ignored",
		"an environment variable starting with ATTRCACHE_ has a name no shell can set; it is ignored (its name is not shown)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Warnings() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, w := range got {
		if strings.Contains(w, value) || strings.Contains(w, "BAD NAME") {
			t.Errorf("warning shows a value: %q", w)
		}
	}
	if c.Redis.DB != 2 {
		t.Error("a known variable was lost")
	}

	// Warnings is a copy.
	got[0] = "changed"
	if c.Warnings()[0] == "changed" {
		t.Error("Warnings returns the Config's own slice")
	}

	// A clean environment warns of nothing; a Config built by hand has
	// no warnings.
	c, err = config.LoadWith("", []string{"ATTRCACHE_REDIS_ADDRS=a:1", "HOME=/root"})
	if err != nil || len(c.Warnings()) != 0 {
		t.Errorf("clean environment: %v, %q", err, c.Warnings())
	}
	if w := config.Default().Warnings(); len(w) != 0 {
		t.Errorf("Default().Warnings() = %q", w)
	}
}

func TestLoadReadsProcessEnvironmentWarnings(t *testing.T) {
	t.Setenv("ATTRCACHE_REDIS_ADDRESS", "x:1")
	c, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(c.Warnings(), func(w string) bool { return strings.HasPrefix(w, "ATTRCACHE_REDIS_ADDRESS ") }) {
		t.Errorf("Warnings() = %q", c.Warnings())
	}
}

func TestIsSet(t *testing.T) {
	path := writeFile(t, "c.yaml", "redis:\n  db: 0\nattrcache:\n  namespace: shop\n")
	c, err := config.LoadWith(path, []string{"ATTRCACHE_LOG_LEVEL=warn", "ATTRCACHE_REDIS_POOL_SIZE="})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{
		"redis.db":            true, // given, though equal to the default
		"attrcache.namespace": true,
		"log.level":           true,
		"redis.pool_size":     false, // empty counts as unset
		"log.format":          false,
		"redis.addrs":         false,
	} {
		if got := c.IsSet(key); got != want {
			t.Errorf("IsSet(%q) = %v, want %v", key, got, want)
		}
	}
	if config.Default().IsSet("redis.db") {
		t.Error("a Config built by hand has keys set")
	}
}

func TestEnvNames(t *testing.T) {
	for key, want := range map[string]string{
		"redis.addrs":                    "ATTRCACHE_REDIS_ADDRS",
		"redis.tls.insecure_skip_verify": "ATTRCACHE_REDIS_TLS_INSECURE_SKIP_VERIFY",
		"attrcache.limits.max_batch":     "ATTRCACHE_LIMITS_MAX_BATCH",
		"attrcache.namespace":            "ATTRCACHE_NAMESPACE",
		"log.level":                      "ATTRCACHE_LOG_LEVEL",
	} {
		if got := config.EnvName(key); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", key, got, want)
		}
	}
	if n := len(config.Keys()); n != 40 {
		t.Errorf("%d keys; update this test, example.yaml and docs/configuration.md when adding one", n)
	}
}

// TestEnvNamesDistinct walks every key: each has its own variable, which
// starts with the prefix, is a name a shell can set, and is neither the
// old doubled name of another key nor a variable the project's own tools
// read.
func TestEnvNamesDistinct(t *testing.T) {
	reserved := map[string]string{
		redistest.EnvServer:  "the test helpers' redis-server",
		redistest.EnvRequire: "the test helpers' require switch",
	}
	owner := make(map[string]string)
	for _, key := range config.Keys() {
		name := config.EnvName(key)
		if prev, ok := owner[name]; ok {
			t.Errorf("%s and %s both map to %s", prev, key, name)
		}
		owner[name] = key
		if !strings.HasPrefix(name, config.EnvPrefix) || len(name) == len(config.EnvPrefix) {
			t.Errorf("%s: variable %q", key, name)
		}
		for _, r := range name[len(config.EnvPrefix):] {
			if !(r == '_' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				t.Errorf("%s: variable %q has %q", key, name, r)
			}
		}
		if what, ok := reserved[name]; ok {
			t.Errorf("%s maps to %s, which is %s", key, name, what)
		}
	}
	for _, key := range config.Keys() {
		if old, ok := doubledName(key); ok {
			if other, taken := owner[old]; taken {
				t.Errorf("%s, the old name of %s, is the variable of %s", old, key, other)
			}
		}
	}
}

// doubledName is the variable an attrcache.* key was read from before
// the prefix stopped repeating the section.
func doubledName(key string) (string, bool) {
	if !strings.HasPrefix(key, "attrcache.") {
		return "", false
	}
	return "ATTRCACHE_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_")), true
}

// TestStoreKeysWithoutDoubledPrefix: the attrcache.* keys are read from
// ATTRCACHE_<REST>; the old doubled spelling is refused with an error
// that names the new variable and not the value.
func TestStoreKeysWithoutDoubledPrefix(t *testing.T) {
	c, err := config.LoadWith("", []string{
		"ATTRCACHE_NAMESPACE=shop",
		"ATTRCACHE_SESSION_TTL=2h",
		"ATTRCACHE_LIMITS_MAX_BATCH=40",
		"ATTRCACHE_REPLICA_WAIT_REPLICAS=1",
		"ATTRCACHE_CALL_TIMEOUT=5s",
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Store; s.Namespace != "shop" || s.SessionTTL != 2*time.Hour || s.Limits.MaxBatch != 40 ||
		s.ReplicaWait.Replicas != 1 || s.CallTimeout != 5*time.Second {
		t.Errorf("attrcache.* = %+v", s)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}

	const value = "value-never-shown"
	var environ []string
	for _, key := range config.Keys() {
		if old, ok := doubledName(key); ok {
			environ = append(environ, old+"="+value)
		}
	}
	if len(environ) == 0 {
		t.Fatal("no attrcache.* keys")
	}
	environ = append(environ, "ATTRCACHE_NAMESPACE=shop") // the new name as well: still refused
	_, err = config.LoadWith("", environ)
	for _, key := range config.Keys() {
		old, ok := doubledName(key)
		if !ok {
			continue
		}
		ke := wantKeyError(t, err, key)
		if ke.Env != old || !strings.Contains(ke.Problem, config.EnvName(key)) {
			t.Errorf("%s: %v", key, ke)
		}
	}
	if n := len(keyErrors(err)); n != len(environ)-1 {
		t.Errorf("%d problems for %d old variables:\n%v", n, len(environ)-1, err)
	}
	if strings.Contains(fmt.Sprint(err), value) {
		t.Errorf("the error shows a value:\n%v", err)
	}

	// Empty, the old name is unset, as every variable is.
	if _, err := config.LoadWith("", []string{"ATTRCACHE_ATTRCACHE_NAMESPACE="}); err != nil {
		t.Errorf("empty old variable: %v", err)
	}
}

// TestCallTimeoutMakesRoomForReplicaWait: awaiting replicas with the
// call timeout left at its default opens a Store whose calls outlast the
// wait; a call timeout set no longer than the wait is refused, naming
// both keys.
func TestCallTimeoutMakesRoomForReplicaWait(t *testing.T) {
	c, err := config.LoadWith("", []string{"ATTRCACHE_REPLICA_WAIT_REPLICAS=1", "ATTRCACHE_REPLICA_WAIT_TIMEOUT=2s"})
	if err != nil {
		t.Fatalf("replicas awaited with the default call timeout: %v", err)
	}
	if err := attrcache.CheckOptions(c.StoreOptions(nil)...); err != nil {
		t.Fatalf("the Store's options: %v", err)
	}
	_, err = config.LoadWith("", []string{"ATTRCACHE_REPLICA_WAIT_REPLICAS=1", "ATTRCACHE_REPLICA_WAIT_TIMEOUT=2s", "ATTRCACHE_CALL_TIMEOUT=2s"})
	wantKeyError(t, err, "attrcache.call_timeout")
	if err == nil || !strings.Contains(err.Error(), "attrcache.replica_wait.timeout") {
		t.Errorf("a call timeout no longer than the wait: %v, want an error naming attrcache.replica_wait.timeout", err)
	}
}
