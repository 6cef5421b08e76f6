package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/spf13/viper"
)

// Load reads the YAML file at path, then the ATTRCACHE_* variables of the
// process environment, and returns the validated Config. An empty path
// means no file: environment and defaults only. The error joins one
// *KeyError per problem, each naming its key, all found at once: values
// of the wrong form (unknown key, duration without unit, list for a
// number...) and values of the right form that mean something wrong
// (a port out of range, conflicting settings...). A problem that only
// follows from a value already refused is left out. A YAML syntax error
// stops there and names the line that holds it. A missing or unreadable
// file is an error wrapping the os error (fs.ErrNotExist,
// fs.ErrPermission). Unknown ATTRCACHE_ variables are not errors; see
// Warnings.
func Load(path string) (*Config, error) {
	return LoadWith(path, os.Environ())
}

// LoadWith is Load with the environment given as "KEY=value" strings, as
// os.Environ returns them, so tests need not touch the process
// environment. When a variable occurs twice the last one counts; an empty
// value counts as unset. encryption.keyset_env is looked up in environ
// too, by Validate and by NewCipher.
func LoadWith(path string, environ []string) (*Config, error) {
	v := viper.New()
	defaults := reflect.ValueOf(Default()).Elem()
	for _, s := range settings() {
		v.SetDefault(s.key, defaults.FieldByIndex(s.index).Interface())
	}

	given := make(map[string]bool)
	var found []error
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: read config file: %w", err)
		}
		file, err := readYAML(data)
		clear(data)
		if err != nil {
			return nil, fmt.Errorf("config: parse %s: %w", path, err)
		}
		if err := v.MergeConfigMap(file); err != nil {
			return nil, fmt.Errorf("config: parse %s: %w", path, err)
		}
		found = unknownKeys(v, path)
		for _, s := range settings() {
			if v.InConfig(s.key) {
				given[s.key] = true
			}
		}
	}

	env := envLookup(environ)
	fromEnv := make(map[string]string)
	refused := make(map[string]bool)
	for _, s := range settings() {
		if _, ok := env(s.doubledEnv); ok && s.doubledEnv != "" {
			// Refused rather than read or ignored, so a deployment that
			// still sets it learns the new name instead of running on
			// the default.
			found = append(found, &KeyError{Key: s.key, Env: s.doubledEnv,
				Problem: "the variable with the doubled prefix is no longer read; rename it " + s.env})
			refused[s.key] = true
		}
		val, ok := env(s.env)
		if !ok {
			continue
		}
		fromEnv[s.key] = s.env
		given[s.key] = true
		if s.typ.Kind() == reflect.Slice {
			v.Set(s.key, splitList(val))
		} else {
			v.Set(s.key, val)
		}
	}

	// Checks on the raw values, before mapstructure's weak decoding can
	// turn a bare number into nanoseconds or true into "1". A refused
	// value is decoded as its default, so that the rest can still be
	// judged in this round, and Validate leaves out what depends on it.
	known := viper.New()
	for _, s := range settings() {
		raw := v.Get(s.key)
		if p := checkRaw(s, raw); p != "" {
			found = append(found, keyError(s.key, fromEnv, p))
			refused[s.key] = true
			raw = defaults.FieldByIndex(s.index).Interface()
		}
		known.Set(s.key, raw)
	}

	c := &Config{fromEnv: fromEnv, given: given, lookupEnv: env}
	if err := known.Unmarshal(c); err != nil {
		// checkRaw lets through only what decodes; the decoder's text
		// may quote a value, so it is not passed on.
		return nil, errors.New("config: the settings could not be decoded (a bug: the raw checks should have named the key)")
	}
	for i, a := range c.Redis.Addrs {
		c.Redis.Addrs[i] = strings.TrimSpace(a)
	}
	p := &problems{c: c, skip: refused}
	c.validate(p)
	found = append(found, p.errs...)
	if len(found) > 0 {
		return nil, errors.Join(found...)
	}
	c.warnings = unknownVariables(environ, c.Encryption.KeysetEnv)
	if w := c.cacheWarning(); w != "" {
		c.warnings = append(c.warnings, w)
	}
	return c, nil
}

// cacheWarning says when redis.client_side_cache.enabled cannot take
// effect, so the fallback to uncached reads is not silent.
func (c *Config) cacheWarning() string {
	if !c.Redis.ClientSideCache.Enabled || c.Redis.UsesRueidis() {
		return ""
	}
	mode := c.Redis.ResolvedMode()
	p := &problems{c: c}
	db := c.resolveRedis(p).db
	if mode == ModeSingle && db == 0 {
		return ""
	}
	return fmt.Sprintf("redis.client_side_cache.enabled has no effect in %s mode on database %d: "+
		"go-redis caches only on a single-node client on database 0; reads go to Redis", mode, db)
}

// IsSet reports whether key was given in the file or the environment that
// Load read, rather than left at its default. It is false for every key
// of a Config built by hand.
func (c *Config) IsSet(key string) bool { return c.given[key] }

// Warnings returns what Load noticed but did not refuse, one sentence
// each, for the caller to log: ATTRCACHE_ variables that set no key (a
// misspelt name would otherwise be ignored without a word), with the key
// meant when the name is close to one, and a near cache enabled where
// go-redis cannot cache. They name variables, never
// values. Unknown variables are warnings rather than errors because the
// ATTRCACHE_ prefix is shared: the variable encryption.keyset_env names
// (which is not warned about) and a deployment's own variables may use
// it too.
func (c *Config) Warnings() []string { return slices.Clone(c.warnings) }

// unknownKeys refuses keys in the file that are not settings, naming
// each. UnmarshalExact would refuse them too, but names only the last
// part of a nested key.
func unknownKeys(v *viper.Viper, path string) []error {
	known := make(map[string]bool)
	for _, s := range settings() {
		known[s.key] = true
	}
	var problems []error
	for _, k := range slices.Sorted(slices.Values(v.AllKeys())) {
		if known[k] {
			continue
		}
		group := false
		for _, s := range settings() {
			if strings.HasPrefix(s.key, k+".") {
				group = true
				break
			}
		}
		if _, isMap := v.Get(k).(map[string]any); group && isMap {
			continue // an empty section: "redis:" with nothing under it
		}
		switch {
		case group:
			problems = append(problems, &KeyError{Key: k, Problem: "must be a mapping of settings, not a single value (in " + path + ")"})
		case !plainKey(k):
			// A line such as "redis://:password@host: x" makes a key of
			// a URL; it is not shown, nor is anything else odd.
			problems = append(problems, &KeyError{Key: "(a key not shown)", Problem: "unknown key with characters no setting has (in " + path + ")"})
		default:
			problems = append(problems, &KeyError{Key: k, Problem: "unknown key (in " + path + ")"})
		}
	}
	return problems
}

// plainKey reports whether k is made only of what setting names are made
// of: lower-case letters, digits, '_', '-' and '.'.
func plainKey(k string) bool {
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return k != ""
}
