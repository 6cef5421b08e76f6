package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/attrcache/attrcache/attrcache"
)

// ErrInvalid is wrapped by every validation problem, so callers can test
// errors.Is(err, config.ErrInvalid) on what Load or Validate returns.
var ErrInvalid = errors.New("config: invalid configuration")

// KeyError is one problem with one setting. Load and Validate return one
// KeyError per problem, joined with errors.Join. Its text names the key
// and, when the value came from the environment, the variable; it never
// holds a password.
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
}

func (p *problems) add(key, format string, args ...any) {
	p.errs = append(p.errs, keyError(key, p.c.fromEnv, fmt.Sprintf(format, args...)))
}

// Validate checks every setting and returns all problems found, joined,
// each a *KeyError naming its key; nil means the Config is usable. It
// reads the files the settings name (TLS material, keysets) to check that
// they are there and well formed, and looks up encryption.keyset_env.
func (c *Config) Validate() error {
	p := &problems{c: c}
	c.checkRedis(p)
	c.checkStore(p)
	c.checkEncryption(p)
	c.checkLog(p)
	return errors.Join(p.errs...)
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

// checkRedis checks the redis.* settings and returns the TLS
// configuration they describe (nil without TLS).
func (c *Config) checkRedis(p *problems) *tls.Config {
	r := &c.Redis
	mode := strings.ToLower(r.Mode)
	switch mode {
	case "", ModeAuto, ModeSingle, ModeCluster, ModeSentinel:
	default:
		p.add("redis.mode", "%q is not one of auto, single, cluster, sentinel", r.Mode)
	}

	seen := make(map[string]bool)
	for i, a := range r.Addrs {
		if prob := checkAddr(a); prob != "" {
			p.add("redis.addrs", "item %d: %s", i, prob)
		} else if seen[a] {
			p.add("redis.addrs", "%q is listed twice", a)
		}
		seen[a] = true
	}

	resolved := r.ResolvedMode()
	switch {
	case mode == ModeSingle && len(r.Addrs) > 1:
		p.add("redis.addrs", "redis.mode single takes one address, got %d", len(r.Addrs))
	case resolved == ModeSentinel && r.MasterName == "":
		p.add("redis.master_name", "required when redis.mode is sentinel")
	case resolved != ModeSentinel && r.MasterName != "":
		p.add("redis.master_name", "is only for Sentinel, but redis.mode is %s", r.Mode)
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
	return checkTLS(&r.TLS, p)
}

// checkAddr returns what is wrong with a host:port address, or "".
func checkAddr(a string) string {
	if a == "" {
		return "empty address"
	}
	if strings.ContainsAny(a, " \t\r\n") {
		return fmt.Sprintf("%q contains white space", a)
	}
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) && ae.Err == "missing port in address" {
			return fmt.Sprintf("%q has no port (want host:port)", a)
		}
		return fmt.Sprintf("%q is not host:port: %v", a, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("%q: port %q is not a number from 1 to 65535", a, port)
	}
	return ""
}

// checkTLS checks the redis.tls.* settings, reading the files, and
// returns the tls.Config they describe, or nil when TLS is off or a
// problem was found.
func checkTLS(t *TLS, p *problems) *tls.Config {
	if !t.Enabled {
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
				p.add(s.key, "is set but redis.tls.enabled is false")
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
		if pem, err := os.ReadFile(t.CAFile); err != nil {
			p.add("redis.tls.ca_file", "cannot read: %v", err)
		} else {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				p.add("redis.tls.ca_file", "%s holds no PEM certificate", t.CAFile)
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
		certPEM, certErr := os.ReadFile(t.CertFile)
		if certErr != nil {
			p.add("redis.tls.cert_file", "cannot read: %v", certErr)
		}
		keyPEM, keyErr := os.ReadFile(t.KeyFile)
		if keyErr != nil {
			p.add("redis.tls.key_file", "cannot read: %v", keyErr)
		}
		if certErr == nil && keyErr == nil {
			// The error names no key material.
			cert, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				p.add("redis.tls.cert_file", "with redis.tls.key_file: %v", err)
			}
			conf.Certificates = []tls.Certificate{cert}
		}
	}
	if len(p.errs) > before {
		return nil
	}
	return conf
}

func (c *Config) checkStore(p *problems) {
	s := &c.Store
	// The library's own rules, so config and attrcache never disagree.
	if err := attrcache.WithNamespace(s.Namespace)(&attrcache.Store{}); err != nil {
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

	switch w := s.ReplicaWait; {
	case w.Replicas < 0:
		p.add("attrcache.replica_wait.replicas", "must not be negative, got %d", w.Replicas)
	case w.Replicas > 0 && w.Timeout < time.Millisecond:
		p.add("attrcache.replica_wait.timeout", "must be at least 1ms when replicas are awaited, got %s", w.Timeout)
	case w.Replicas > 0 && c.Redis.ReadTimeout > 0 && w.Timeout >= c.Redis.ReadTimeout:
		p.add("attrcache.replica_wait.timeout", "must be below redis.read_timeout (%s), got %s", c.Redis.ReadTimeout, w.Timeout)
	}

	l := s.Limits
	negative := false
	for _, f := range []struct {
		key string
		val int
	}{
		{"attrcache.limits.max_name_bytes", l.MaxNameBytes},
		{"attrcache.limits.max_value_bytes", l.MaxValueBytes},
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
		{"attrcache.limits.max_attributes", attrcache.Limits{MaxAttributes: l.MaxAttributes}},
		{"attrcache.limits.max_batch", attrcache.Limits{MaxBatch: l.MaxBatch}},
	} {
		if err := attrcache.WithLimits(f.lim)(&attrcache.Store{}); err != nil {
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
		checkReadable(p, "encryption.keyset_file", e.KeysetFile)
	}
	if e.KeysetEnv != "" {
		if strings.ContainsAny(e.KeysetEnv, "= \t\r\n") {
			p.add("encryption.keyset_env", "%q is not an environment variable name", e.KeysetEnv)
		} else if _, ok := c.env(e.KeysetEnv); !ok {
			p.add("encryption.keyset_env", "environment variable %s is not set or empty", e.KeysetEnv)
		}
	}
	if e.MasterKeysetFile != "" {
		if e.KeysetFile == "" && e.KeysetEnv == "" {
			p.add("encryption.master_keyset_file", "is set but there is no keyset to decrypt (set encryption.keyset_file or encryption.keyset_env)")
		}
		checkReadable(p, "encryption.master_keyset_file", e.MasterKeysetFile)
	}
}

// checkReadable checks that the file exists, can be read and is not
// empty. Its contents are not kept.
func checkReadable(p *problems, key, path string) {
	data, err := os.ReadFile(path)
	switch {
	case err != nil:
		p.add(key, "cannot read: %v", err)
	case len(data) == 0:
		p.add(key, "%s is empty", path)
	}
	clear(data)
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
		p.add("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch strings.ToLower(c.Log.Format) {
	case "text", "json":
	default:
		p.add("log.format", "%q is not one of text, json", c.Log.Format)
	}
}
