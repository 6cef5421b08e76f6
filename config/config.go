// Package config loads the configuration of an attrcache deployment from a
// YAML file and ATTRCACHE_* environment variables, validates it, and builds
// what the application needs from it: the go-redis client for a single
// node, a Redis Cluster or a Sentinel-managed master (with TLS and an ACL
// user), the attrcache.Store options, and the logger.
//
// Every key can be set in the file, in the environment, or both; the
// environment wins. The environment variable of a key is ATTRCACHE_
// followed by the key in upper case with '.' replaced by '_':
// redis.dial_timeout is ATTRCACHE_REDIS_DIAL_TIMEOUT. Lists are
// comma-separated in the environment (ATTRCACHE_REDIS_ADDRS=a:6379,b:6379).
// Durations are Go duration strings ("500ms", "30s", "24h"); a bare number
// is refused rather than read as nanoseconds. Unknown keys in the file are
// refused; unknown ATTRCACHE_ variables draw a warning (Warnings).
// example.yaml beside this file lists every key.
//
// redis.addrs takes host:port addresses or redis:// and rediss:// URLs;
// see Addrs for how a URL combines with the other redis.* keys.
//
// No error, log record or printed Config carries a secret, whatever was
// typed where: passwords are of type Secret, URL passwords in redis.addrs
// are masked, and the settings that name a keyset (a variable, a file)
// are not echoed in errors, but for the path of a file that cannot be
// read, which is no secret (a bare word that may be a password is not
// shown); a keyset typed in their place is refused and said to be one.
package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/viper"
)

// EnvPrefix starts the environment variable of every key.
const EnvPrefix = "ATTRCACHE_"

// DefaultAddr is the address NewClient connects to when redis.addrs is
// not configured.
const DefaultAddr = "127.0.0.1:6379"

// Redis modes, the values of redis.mode.
const (
	// ModeAuto picks the shape from the other settings: ModeSentinel
	// when redis.master_name is set, ModeCluster when redis.addrs holds
	// several addresses, ModeSingle otherwise.
	ModeAuto = "auto"
	// ModeSingle is one Redis server (redis.addrs holds one address).
	ModeSingle = "single"
	// ModeCluster is a Redis Cluster; redis.addrs are seed nodes.
	ModeCluster = "cluster"
	// ModeSentinel is a master found through Sentinel; redis.addrs are
	// the sentinels and redis.master_name names the master.
	ModeSentinel = "sentinel"
)

// Config is the whole configuration. Load and LoadWith return it
// validated; Default returns the defaults. A Config built or changed by
// hand should be checked with Validate.
type Config struct {
	// Redis says how to reach Redis (keys redis.*).
	Redis Redis `mapstructure:"redis"`
	// Store configures the attrcache.Store (keys attrcache.*).
	Store Store `mapstructure:"attrcache"`
	// Encryption says where the Tink keysets come from (keys
	// encryption.*).
	Encryption Encryption `mapstructure:"encryption"`
	// Log configures the logger of NewLogger (keys log.*).
	Log Log `mapstructure:"log"`

	// fromEnv maps each key set from the environment to its variable,
	// so errors can say where a bad value came from.
	fromEnv map[string]string
	// given holds the keys given in the file or the environment.
	given map[string]bool
	// lookupEnv reads the environment Load was given; nil means the
	// process environment.
	lookupEnv func(string) (string, bool)
	// warnings are what Warnings returns.
	warnings []string
}

// Redis holds the redis.* settings.
type Redis struct {
	// Mode is auto, single, cluster or sentinel; see ModeAuto.
	Mode string `mapstructure:"mode"`
	// Addrs are the server, the cluster seed nodes, or the sentinels:
	// host:port addresses or redis:// and rediss:// URLs (see Addrs).
	// Empty means not configured: NewClient then connects to
	// DefaultAddr, and a demo may use an embedded server instead (see
	// RedisConfigured).
	Addrs Addrs `mapstructure:"addrs" config:"noecho"`
	// MasterName is the Sentinel master name; setting it selects
	// Sentinel in auto mode.
	MasterName string `mapstructure:"master_name"`
	// SentinelUsername is the ACL user for the sentinels themselves.
	SentinelUsername string `mapstructure:"sentinel_username"`
	// SentinelPassword is the password for the sentinels themselves.
	SentinelPassword Secret `mapstructure:"sentinel_password"`
	// Username is the Redis ACL user; empty means the default user.
	Username string `mapstructure:"username"`
	// Password is the password of Username (or of the default user).
	Password Secret `mapstructure:"password"`
	// DB is the database number; Redis Cluster has only 0.
	DB int `mapstructure:"db"`
	// TLS configures TLS to Redis (and to the sentinels).
	TLS TLS `mapstructure:"tls"`
	// DialTimeout bounds establishing a connection; 0 means the go-redis
	// default (5s).
	DialTimeout time.Duration `mapstructure:"dial_timeout"`
	// ReadTimeout bounds reading one reply; 0 means the go-redis default
	// (3s).
	ReadTimeout time.Duration `mapstructure:"read_timeout"`
	// WriteTimeout bounds writing one command; 0 means the go-redis
	// default (ReadTimeout).
	WriteTimeout time.Duration `mapstructure:"write_timeout"`
	// PoolSize is the most connections per node; 0 means the go-redis
	// default (10 per GOMAXPROCS).
	PoolSize int `mapstructure:"pool_size"`
	// MaxRetries is how many times a failed command is retried; 0
	// disables retries. Every attrcache write is safe to run twice.
	MaxRetries int `mapstructure:"max_retries"`
	// ClientSideCache is the near cache (redis.client_side_cache.*).
	ClientSideCache ClientSideCache `mapstructure:"client_side_cache"`
}

// ClientSideCache holds the redis.client_side_cache.* settings: go-redis's
// client-side cache through attrcache.NewNearCache, so that repeated
// reads of an unchanged session answer from memory. go-redis caches only
// on a single-node client (mode single), on database 0, with RESP3, which
// NewClient then selects; with Sentinel or a cluster the setting is
// ignored with a warning (see Warnings) and reads go to Redis.
type ClientSideCache struct {
	// Enabled turns the near cache on.
	Enabled bool `mapstructure:"enabled"`
	// MaxEntries bounds the cached replies (one per distinct read: a Get
	// of one name, a GetAll, ...).
	MaxEntries int `mapstructure:"max_entries"`
	// MaxBytes bounds the cache's estimated memory.
	MaxBytes int `mapstructure:"max_bytes"`
	// MaxStaleness is the backstop for a lost invalidation: no reply is
	// served older than this, invalidated or not.
	MaxStaleness time.Duration `mapstructure:"max_staleness"`
}

// TLS holds the redis.tls.* settings.
type TLS struct {
	// Enabled turns TLS on, as rediss:// addresses do. The settings below
	// need one or the other.
	Enabled bool `mapstructure:"enabled"`
	// CAFile is a PEM file of the certificates that may sign the
	// server's; empty means the system roots.
	CAFile string `mapstructure:"ca_file" config:"noecho"`
	// CertFile is the PEM client certificate, for servers that ask for
	// one; it needs KeyFile.
	CertFile string `mapstructure:"cert_file" config:"noecho"`
	// KeyFile is the PEM private key of CertFile.
	KeyFile string `mapstructure:"key_file" config:"noecho"`
	// ServerName is the name checked in the server's certificate; empty
	// means the host part of the address dialled.
	ServerName string `mapstructure:"server_name"`
	// InsecureSkipVerify accepts any server certificate. For tests only.
	InsecureSkipVerify bool `mapstructure:"insecure_skip_verify"`
}

// Store holds the attrcache.* settings.
type Store struct {
	// Namespace prefixes every key the Store writes.
	Namespace string `mapstructure:"namespace"`
	// SessionTTL is the session lifetime the application passes to
	// Start and Renew. attrcache itself does not read it.
	SessionTTL time.Duration `mapstructure:"session_ttl"`
	// Limits are the Store's limits; 0 means the attrcache default.
	Limits Limits `mapstructure:"limits"`
	// ReplicaWait makes writes wait for replicas (attrcache.WithReplicaWait).
	ReplicaWait ReplicaWait `mapstructure:"replica_wait"`
	// ResendWindow is how long after it began a write may still be
	// applied (attrcache.WithResendWindow); 0 derives it from
	// redis.read_timeout and redis.max_retries.
	ResendWindow time.Duration `mapstructure:"resend_window"`
}

// ReplicaWait holds the attrcache.replica_wait.* settings.
type ReplicaWait struct {
	// Replicas is how many replicas must acknowledge each write; 0 means
	// writes do not wait.
	Replicas int `mapstructure:"replicas"`
	// Timeout bounds the wait; it must be below redis.read_timeout.
	Timeout time.Duration `mapstructure:"timeout"`
}

// Limits holds the attrcache.limits.* settings; they map one to one onto
// attrcache.Limits, and 0 means the attrcache default.
type Limits struct {
	// MaxNameBytes is the longest attribute name in bytes.
	MaxNameBytes int `mapstructure:"max_name_bytes"`
	// MaxValueBytes is the longest value in bytes.
	MaxValueBytes int `mapstructure:"max_value_bytes"`
	// MaxCallBytes is the most bytes (names and stored values) one write
	// may send.
	MaxCallBytes int `mapstructure:"max_call_bytes"`
	// MaxSessionBytes is the most bytes one session may hold.
	MaxSessionBytes int `mapstructure:"max_session_bytes"`
	// MaxAttributes is the most attributes in one session.
	MaxAttributes int `mapstructure:"max_attributes"`
	// MaxBatch is the most attributes one *Many call may name.
	MaxBatch int `mapstructure:"max_batch"`
}

// Encryption holds the encryption.* settings. Encryption is on when a
// keyset is configured, in a file or in an environment variable (not
// both). Errors do not echo these values, but for the path of a file
// that cannot be read: a keyset typed in place of a name or a path is
// refused as such, unseen.
type Encryption struct {
	// KeysetFile is a file holding the Tink keyset.
	KeysetFile string `mapstructure:"keyset_file" config:"noecho"`
	// KeysetEnv is the name of an environment variable holding the Tink
	// keyset (JSON or base64); the keyset itself is never a setting.
	KeysetEnv string `mapstructure:"keyset_env" config:"noecho"`
	// MasterKeysetFile is a file holding a cleartext Tink AEAD keyset
	// under which the keyset is encrypted; empty means the keyset is in
	// clear. attrcache-keys generate -type aead makes one.
	MasterKeysetFile string `mapstructure:"master_keyset_file" config:"noecho"`
}

// Log holds the log.* settings.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `mapstructure:"level"`
	// Format is text or json.
	Format string `mapstructure:"format"`
}

// Default returns the configuration used for every key that is set
// neither in the file nor in the environment.
func Default() *Config {
	return &Config{
		Redis: Redis{
			Mode:         ModeAuto,
			DialTimeout:  5 * time.Second,
			ReadTimeout:  3 * time.Second,
			WriteTimeout: 3 * time.Second,
			MaxRetries:   3,
			ClientSideCache: ClientSideCache{
				MaxEntries:   100_000,
				MaxBytes:     64 << 20,
				MaxStaleness: 5 * time.Second,
			},
		},
		Store: Store{
			Namespace:   "attrcache",
			SessionTTL:  30 * time.Minute,
			ReplicaWait: ReplicaWait{Timeout: time.Second},
		},
		Log: Log{Level: "info", Format: "text"},
	}
}

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
	for _, s := range settings() {
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
	refused := make(map[string]bool)
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
	if !c.Redis.ClientSideCache.Enabled {
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

// RedisConfigured reports whether redis.addrs was given (in the file or
// the environment). When it was not, NewClient connects to DefaultAddr,
// and a demo may run an embedded server instead.
func (c *Config) RedisConfigured() bool { return len(c.Redis.Addrs) > 0 }

// Keys returns every configuration key, in the order of example.yaml.
func Keys() []string {
	keys := make([]string, 0, len(settings()))
	for _, s := range settings() {
		keys = append(keys, s.key)
	}
	return keys
}

// EnvName returns the environment variable that sets key:
// ATTRCACHE_ + key in upper case, '.' replaced by '_'.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// setting is one leaf key of Config.
type setting struct {
	key   string       // "redis.dial_timeout"
	env   string       // "ATTRCACHE_REDIS_DIAL_TIMEOUT"
	index []int        // reflect field path from Config
	typ   reflect.Type // field type
	// noEcho marks a setting whose value errors never show: a secret,
	// or a name or path where users put key material by mistake (tag
	// config:"noecho", and every Secret).
	noEcho bool
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	secretType   = reflect.TypeFor[Secret]()
)

// settings lists every leaf of Config, walking its mapstructure tags, so a
// new field is a new key everywhere (defaults, environment, printing).
var settings = sync.OnceValue(func() []setting {
	var out []setting
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("mapstructure")
			if !f.IsExported() || tag == "" || tag == "-" {
				continue
			}
			key := prefix + tag
			idx := append(slices.Clone(index), i)
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, key+".", idx)
				continue
			}
			out = append(out, setting{key: key, env: EnvName(key), index: idx, typ: f.Type,
				noEcho: f.Type == secretType || f.Tag.Get("config") == "noecho"})
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	return out
})

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

// checkRaw returns what is wrong with the raw value of a setting, as the
// YAML parser or the environment gave it, or "". It is stricter than
// mapstructure's weak decoding, which would read a bare 30 as 30
// nanoseconds, an unquoted true password as "1", or 2.5 as 2. It shows a
// value only through echo, never a list or mapping, and nothing of a
// noEcho setting.
func checkRaw(s setting, raw any) string {
	if raw == nil {
		return ""
	}
	// what names the value in a problem: itself when it may be shown.
	what := func(v any) string {
		if s.noEcho || !isScalar(v) {
			return "the value"
		}
		return echo(fmt.Sprint(v))
	}
	if str, ok := raw.(string); ok {
		return checkRawString(s, str, what(str))
	}
	switch {
	case s.typ == durationType:
		if _, ok := raw.(time.Duration); ok { // a default
			return ""
		}
		if !isScalar(raw) {
			return fmt.Sprintf("is a %s, not a duration", yamlKind(raw))
		}
		return fmt.Sprintf("%s is a bare %s; write a duration with a unit such as \"30s\" or \"5m\"", what(raw), yamlKind(raw))
	case s.typ == secretType:
		if _, ok := raw.(Secret); ok { // a default
			return ""
		}
		if !isScalar(raw) {
			return fmt.Sprintf("is a %s, not a string", yamlKind(raw))
		}
		return fmt.Sprintf("YAML read the value as a %s, not a string; quote it (the value is not shown)", yamlKind(raw))
	case s.typ.Kind() == reflect.String:
		if !isScalar(raw) {
			return fmt.Sprintf("is a %s, not a string", yamlKind(raw))
		}
		return fmt.Sprintf("YAML read %s as a %s, not a string; quote it", what(raw), yamlKind(raw))
	case s.typ.Kind() == reflect.Int:
		switch raw.(type) {
		case int, int64, uint64:
			return ""
		}
		return fmt.Sprintf("%s is a %s, not a whole number", what(raw), yamlKind(raw))
	case s.typ.Kind() == reflect.Bool:
		if _, ok := raw.(bool); ok {
			return ""
		}
		return fmt.Sprintf("%s is a %s, not true or false", what(raw), yamlKind(raw))
	case s.typ.Kind() == reflect.Slice:
		switch items := raw.(type) {
		case []string, Addrs:
			return ""
		case []any:
			for i, item := range items {
				if _, ok := item.(string); !ok {
					return fmt.Sprintf("item %d: YAML read %s as a %s, not a string", i, what(item), yamlKind(item))
				}
			}
			return ""
		}
		return fmt.Sprintf("is a %s, not a list", yamlKind(raw))
	}
	return ""
}

// checkRawString checks a string value, as the environment always gives
// and as YAML gives quoted or non-numeric scalars; what is how a problem
// names the value.
func checkRawString(s setting, str, what string) string {
	switch {
	case s.typ == durationType:
		// "30" is refused rather than read as 30ns, and so is "0"
		// (write "0s").
		if _, err := strconv.ParseFloat(str, 64); err == nil {
			return fmt.Sprintf("%s has no unit; write a duration such as \"30s\" or \"5m\"", what)
		}
		if _, err := time.ParseDuration(str); err != nil {
			return fmt.Sprintf("%s is not a duration; write one such as \"30s\" or \"5m\"", what)
		}
	case s.typ.Kind() == reflect.Int:
		if _, err := strconv.Atoi(str); err != nil {
			return fmt.Sprintf("%s is not a whole number", what)
		}
	case s.typ.Kind() == reflect.Bool:
		if _, err := strconv.ParseBool(str); err != nil {
			return fmt.Sprintf("%s is not true or false", what)
		}
	}
	return ""
}

// yamlKind names the kind of a value the YAML parser produced.
func yamlKind(v any) string {
	switch v.(type) {
	case bool:
		return "boolean"
	case int, int64, uint64, float64:
		return "number"
	case []any:
		return "list"
	case map[string]any:
		return "mapping"
	}
	return fmt.Sprintf("%T", v)
}

func isScalar(v any) bool {
	switch v.(type) {
	case []any, map[string]any:
		return false
	}
	return true
}
