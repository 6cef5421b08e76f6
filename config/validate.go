package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/keys"
)

// ErrInvalid is wrapped by every validation problem, so callers can test
// errors.Is(err, config.ErrInvalid) on what Load or Validate returns.
var ErrInvalid = errors.New("config: invalid configuration")

// KeyError is one problem with one setting. Load and Validate return one
// KeyError per problem, joined with errors.Join. Its text names the key
// and, when the value came from the environment, the variable. It never
// holds a secret: the values of passwords and of redis.addrs passwords
// are never shown, those of the settings that name keysets and private
// keys only as the path of a file that cannot be read (and only when
// they have the shape of a path), and any value shown is masked when it
// looks like key material or a URL with a password.
type KeyError struct {
	Key     string // the key, such as "redis.dial_timeout"
	Env     string // the environment variable that set it, or ""
	Problem string // what is wrong
}

// Error returns "config: <key>: <problem>", followed by the variable that
// set the key when it came from the environment.
func (e *KeyError) Error() string {
	s := "config: " + e.Key + ": " + e.Problem
	if e.Env != "" {
		s += " (set by " + e.Env + ")"
	}
	return s
}

// Unwrap returns ErrInvalid.
func (e *KeyError) Unwrap() error { return ErrInvalid }

func keyError(key string, fromEnv map[string]string, problem string) error {
	return &KeyError{Key: key, Env: fromEnv[key], Problem: problem}
}

// problems collects KeyErrors for one Config.
type problems struct {
	c    *Config
	errs []error
	// skip holds keys whose values Load already refused (and replaced by
	// defaults): a problem about such a key, or naming one, would judge
	// the default rather than what was written, and is left out.
	skip map[string]bool
}

func (p *problems) add(key, format string, args ...any) {
	problem := fmt.Sprintf(format, args...)
	if p.skip[key] {
		return
	}
	for k := range p.skip {
		if strings.Contains(problem, k) {
			return
		}
	}
	p.errs = append(p.errs, keyError(key, p.c.fromEnv, problem))
}

// Validate checks every setting and returns all problems found, joined,
// each a *KeyError naming its key; nil means the Config is usable. It
// reads the files the settings name (TLS material, keysets) to check that
// they are there and well formed, and looks up encryption.keyset_env.
func (c *Config) Validate() error {
	p := &problems{c: c}
	c.validate(p)
	return errors.Join(p.errs...)
}

func (c *Config) validate(p *problems) {
	c.checkRedis(p)
	c.checkCache(p)
	c.checkStore(p)
	c.checkEncryption(p)
	c.checkLog(p)
}

// ResolvedMode returns the Redis shape the settings select: ModeSingle,
// ModeCluster or ModeSentinel (see ModeAuto). It does not validate.
func (r *Redis) ResolvedMode() string {
	switch m := strings.ToLower(r.Mode); m {
	case "", ModeAuto:
		switch {
		case r.MasterName != "":
			return ModeSentinel
		case len(r.Addrs) > 1:
			return ModeCluster
		default:
			return ModeSingle
		}
	default:
		return m
	}
}

// checkRedis checks the redis.* settings and returns what they resolve
// to and the TLS configuration they describe (nil without TLS).
func (c *Config) checkRedis(p *problems) (endpoint, *tls.Config) {
	r := &c.Redis
	mode := strings.ToLower(r.Mode)
	switch mode {
	case "", ModeAuto, ModeSingle, ModeCluster, ModeSentinel:
	default:
		p.add("redis.mode", "%s is not one of auto, single, cluster, sentinel", echo(r.Mode))
	}

	switch strings.ToLower(r.Client) {
	case "", ClientGoRedis, ClientRueidis:
	default:
		p.add("redis.client", "%s is not one of go-redis, rueidis", echo(r.Client))
	}

	ep := c.resolveRedis(p)
	resolved := r.ResolvedMode()
	switch {
	case mode == ModeSingle && len(r.Addrs) > 1:
		p.add("redis.addrs", "redis.mode single takes one address, got %d", len(r.Addrs))
	case resolved == ModeSentinel && r.MasterName == "":
		p.add("redis.master_name", "required when redis.mode is sentinel")
	case resolved != ModeSentinel && r.MasterName != "":
		p.add("redis.master_name", "is only for Sentinel, but redis.mode is %s", echo(r.Mode))
	}
	if resolved == ModeSentinel && len(r.Addrs) == 0 {
		p.add("redis.addrs", "Sentinel needs the sentinel addresses (host:port, usually port 26379)")
	}
	if resolved != ModeSentinel {
		if r.SentinelUsername != "" {
			p.add("redis.sentinel_username", "is only for Sentinel (set redis.master_name)")
		}
		if r.SentinelPassword != "" {
			p.add("redis.sentinel_password", "is only for Sentinel (set redis.master_name)")
		}
	}
	switch {
	case r.DB < 0:
		p.add("redis.db", "must not be negative, got %d", r.DB)
	case r.DB != 0 && resolved == ModeCluster:
		p.add("redis.db", "Redis Cluster has only database 0, got %d (cluster because redis.addrs has %d addresses and redis.master_name is empty)", r.DB, len(r.Addrs))
	}

	for _, d := range []struct {
		key string
		val time.Duration
	}{
		{"redis.dial_timeout", r.DialTimeout},
		{"redis.read_timeout", r.ReadTimeout},
		{"redis.write_timeout", r.WriteTimeout},
	} {
		if d.val < 0 {
			p.add(d.key, "must not be negative, got %s", d.val)
		}
	}
	if r.PoolSize < 0 {
		p.add("redis.pool_size", "must not be negative, got %d", r.PoolSize)
	}
	if r.MaxRetries < 0 {
		p.add("redis.max_retries", "must not be negative (0 disables retries), got %d", r.MaxRetries)
	}
	return ep, checkTLS(&r.TLS, ep.tls, p)
}

// checkTLS checks the redis.tls.* settings, reading the files, and
// returns the tls.Config they describe, or nil when TLS is off (on is
// redis.tls.enabled or rediss:// addresses) or a problem was found.
func checkTLS(t *TLS, on bool, p *problems) *tls.Config {
	if !on {
		for _, s := range []struct {
			key string
			set bool
		}{
			{"redis.tls.ca_file", t.CAFile != ""},
			{"redis.tls.cert_file", t.CertFile != ""},
			{"redis.tls.key_file", t.KeyFile != ""},
			{"redis.tls.server_name", t.ServerName != ""},
			{"redis.tls.insecure_skip_verify", t.InsecureSkipVerify},
		} {
			if s.set {
				p.add(s.key, "is set but redis.tls.enabled is false (and redis.addrs has no rediss:// URL)")
			}
		}
		return nil
	}

	before := len(p.errs)
	conf := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // an explicit, documented test-only setting
	}
	if t.CAFile != "" {
		if pem, err := readNamedFile(p, "redis.tls.ca_file", t.CAFile); err == nil {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				p.add("redis.tls.ca_file", "%s holds no PEM certificate", namedFile(t.CAFile))
			}
			conf.RootCAs = pool
		}
	}
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		p.add("redis.tls.cert_file", "is set but redis.tls.key_file is not")
	case t.KeyFile != "" && t.CertFile == "":
		p.add("redis.tls.key_file", "is set but redis.tls.cert_file is not")
	case t.CertFile != "":
		certPEM, certErr := readNamedFile(p, "redis.tls.cert_file", t.CertFile)
		keyPEM, keyErr := readNamedFile(p, "redis.tls.key_file", t.KeyFile)
		if certErr == nil && keyErr == nil {
			// The error names no key material.
			cert, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				p.add("redis.tls.cert_file", "with redis.tls.key_file: %v", err)
			}
			conf.Certificates = []tls.Certificate{cert}
		}
		clear(keyPEM)
	}
	if len(p.errs) > before {
		return nil
	}
	return conf
}

// readNamedFile reads the file a setting names (a keyset, TLS material).
// A file that cannot be read or is empty is reported with its path (see
// namedFile), which is no secret; key material typed where the path
// belongs is said to be such, and never shown.
func readNamedFile(p *problems, key, path string) ([]byte, error) {
	var problem string
	switch {
	case keys.LooksLikeKeyset(path):
		problem = "holds a keyset, not the path of a file; write the keyset to a file and give its path here (the value is not shown)"
	case strings.Contains(path, "-----BEGIN"):
		problem = "holds PEM data, not the path of a file; write it to a file and give its path here (the value is not shown)"
	}
	if problem != "" {
		p.add(key, "%s", problem)
		return nil, errors.New(problem)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		p.add(key, "cannot read %s: %v", namedFile(path), bareError(err))
		return nil, err
	}
	if len(data) == 0 {
		p.add(key, "%s is empty", namedFile(path))
		return nil, errors.New("empty")
	}
	return data, nil
}

// pathExt is a file name extension: ".json", ".pem".
var pathExt = regexp.MustCompile(`^\.[A-Za-z][A-Za-z0-9]{0,9}$`)

// namedFile names the file a setting gives, for a problem: the path,
// quoted, and the working directory when the path is relative, since
// that is where it was looked up. Only a value with the shape of a path
// (a directory part or an extension, nothing a URL or key material has)
// is shown; a bare word may be a password typed into the wrong setting,
// and stays hidden.
func namedFile(path string) string {
	pathLike := strings.ContainsRune(path, filepath.Separator) || pathExt.MatchString(filepath.Ext(path))
	if !pathLike || strings.Contains(path, "://") || strings.Contains(path, "@") || keys.LooksLikeKeyset(path) ||
		strings.ContainsFunc(path, unicode.IsControl) || !utf8.ValidString(path) {
		return "the file it names (not shown: it has neither a directory nor an extension, as a password typed here would not)"
	}
	if filepath.IsAbs(path) {
		return strconv.Quote(path)
	}
	wd, err := os.Getwd()
	if err != nil {
		return strconv.Quote(path)
	}
	return fmt.Sprintf("%q (relative to the working directory %s)", path, wd)
}

// bareError strips the path from an os error.
func bareError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (c *Config) checkCache(p *problems) {
	cc := c.Redis.ClientSideCache
	for _, f := range []struct {
		key string
		val int
	}{
		{"redis.client_side_cache.max_entries", cc.MaxEntries},
		{"redis.client_side_cache.max_bytes", cc.MaxBytes},
	} {
		if f.val < 0 {
			p.add(f.key, "must not be negative, got %d", f.val)
		}
	}
	if cc.MaxStaleness < 0 {
		p.add("redis.client_side_cache.max_staleness", "must not be negative, got %s", cc.MaxStaleness)
	}
}

func (c *Config) checkStore(p *problems) {
	s := &c.Store
	// The library's own rules, so config and attrcache never disagree.
	if err := attrcache.CheckOptions(attrcache.WithNamespace(s.Namespace)); err != nil {
		p.add("attrcache.namespace", "%s", libraryReason(err))
	}

	switch {
	case s.SessionTTL <= 0:
		p.add("attrcache.session_ttl", "must be positive, got %s", s.SessionTTL)
	case s.SessionTTL < time.Millisecond:
		p.add("attrcache.session_ttl", "must be at least 1ms, got %s", s.SessionTTL)
	case s.SessionTTL > attrcache.MaxExpiration:
		p.add("attrcache.session_ttl", "must be at most %s (attrcache.MaxExpiration), got %s", attrcache.MaxExpiration, s.SessionTTL)
	}

	if d := s.CallTimeout; d != 0 {
		if err := attrcache.CheckOptions(attrcache.WithCallTimeout(d)); err != nil {
			p.add("attrcache.call_timeout", "%s; got %s", libraryReason(err), d)
		}
	}

	// The library's rules for the wait and the call timeout beside it.
	w := s.ReplicaWait
	var waitErr, callErr error
	if w.Replicas > 0 {
		wait := attrcache.WithReplicaWait(w.Replicas, w.Timeout)
		waitErr = attrcache.CheckOptions(wait)
		if s.CallTimeout > 0 {
			callErr = attrcache.CheckOptions(wait, attrcache.WithCallTimeout(s.CallTimeout))
		}
	}
	switch {
	case w.Replicas < 0:
		p.add("attrcache.replica_wait.replicas", "must not be negative, got %d", w.Replicas)
	case w.Replicas == 0:
	case w.Timeout < time.Millisecond:
		p.add("attrcache.replica_wait.timeout", "must be at least 1ms when replicas are awaited, got %s", w.Timeout)
	case waitErr != nil:
		p.add("attrcache.replica_wait.timeout", "%s; got %s", libraryReason(waitErr), w.Timeout)
	case !c.Redis.UsesRueidis() && c.Redis.ReadTimeout > 0 && w.Timeout >= c.Redis.ReadTimeout:
		p.add("attrcache.replica_wait.timeout", "must be below redis.read_timeout (%s), got %s", c.Redis.ReadTimeout, w.Timeout)
	case callErr != nil:
		p.add("attrcache.call_timeout", "%s (attrcache.replica_wait.timeout); leave it unset for the default, 1s plus the wait; got %s",
			libraryReason(callErr), s.CallTimeout)
	}

	l := s.Limits
	negative := false
	for _, f := range []struct {
		key string
		val int
	}{
		{"attrcache.limits.max_name_bytes", l.MaxNameBytes},
		{"attrcache.limits.max_value_bytes", l.MaxValueBytes},
		{"attrcache.limits.max_call_bytes", l.MaxCallBytes},
		{"attrcache.limits.max_session_bytes", l.MaxSessionBytes},
		{"attrcache.limits.max_attributes", l.MaxAttributes},
		{"attrcache.limits.max_batch", l.MaxBatch},
	} {
		if f.val < 0 {
			p.add(f.key, "must not be negative (0 means the attrcache default), got %d", f.val)
			negative = true
		}
	}
	if negative {
		return
	}
	// The library's upper bounds, one field at a time so the error names
	// the key.
	for _, f := range []struct {
		key string
		lim attrcache.Limits
	}{
		{"attrcache.limits.max_name_bytes", attrcache.Limits{MaxNameBytes: l.MaxNameBytes}},
		{"attrcache.limits.max_value_bytes", attrcache.Limits{MaxValueBytes: l.MaxValueBytes}},
		{"attrcache.limits.max_call_bytes", attrcache.Limits{MaxCallBytes: l.MaxCallBytes}},
		{"attrcache.limits.max_session_bytes", attrcache.Limits{MaxSessionBytes: l.MaxSessionBytes}},
		{"attrcache.limits.max_attributes", attrcache.Limits{MaxAttributes: l.MaxAttributes}},
		{"attrcache.limits.max_batch", attrcache.Limits{MaxBatch: l.MaxBatch}},
	} {
		if err := attrcache.CheckOptions(attrcache.WithLimits(f.lim)); err != nil {
			p.add(f.key, "%s", libraryReason(err))
		}
	}
}

// libraryReason drops the "attrcache: invalid argument: " prefix of an
// attrcache error, which would only repeat what KeyError says.
func libraryReason(err error) string {
	return strings.TrimPrefix(err.Error(), attrcache.ErrInvalid.Error()+": ")
}

func (c *Config) checkEncryption(p *problems) {
	e := &c.Encryption
	if e.KeysetFile != "" && e.KeysetEnv != "" {
		p.add("encryption.keyset_file", "is set together with encryption.keyset_env; set one")
	}
	if e.KeysetFile != "" {
		data, _ := readNamedFile(p, "encryption.keyset_file", e.KeysetFile)
		clear(data)
	}
	if e.KeysetEnv != "" {
		switch {
		case keys.LooksLikeKeyset(e.KeysetEnv):
			p.add("encryption.keyset_env", "holds a keyset, not the name of a variable; put the keyset in a variable and name the variable here (the value is not shown)")
		case !validEnvName(e.KeysetEnv):
			p.add("encryption.keyset_env", "is not the name of an environment variable: letters, digits and '_', not starting with a digit (the value is not shown)")
		default:
			if _, ok := c.env(e.KeysetEnv); !ok {
				p.add("encryption.keyset_env", "environment variable %s is not set or empty", e.KeysetEnv)
			}
		}
	}
	if e.MasterKeysetFile != "" {
		if e.KeysetFile == "" && e.KeysetEnv == "" {
			p.add("encryption.master_keyset_file", "is set but there is no keyset to decrypt (set encryption.keyset_file or encryption.keyset_env)")
		}
		data, _ := readNamedFile(p, "encryption.master_keyset_file", e.MasterKeysetFile)
		clear(data)
	}
}

// env looks up an environment variable in the environment Load was given,
// or in the process environment; empty counts as unset.
func (c *Config) env(name string) (string, bool) {
	if c.lookupEnv != nil {
		return c.lookupEnv(name)
	}
	val := os.Getenv(name)
	return val, val != ""
}

func (c *Config) checkLog(p *problems) {
	if _, ok := parseLevel(c.Log.Level); !ok {
		p.add("log.level", "%s is not one of debug, info, warn, error", echo(c.Log.Level))
	}
	switch strings.ToLower(c.Log.Format) {
	case "text", "json":
	default:
		p.add("log.format", "%s is not one of text, json", echo(c.Log.Format))
	}
}
