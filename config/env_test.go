package config_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/attrcache/attrcache/config"
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
