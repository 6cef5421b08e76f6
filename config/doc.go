// Package config loads the configuration of an attrcache deployment from a
// YAML file and ATTRCACHE_* environment variables, validates it, and builds
// what the application needs from it: the go-redis client for a single
// node, a Redis Cluster or a Sentinel-managed master (with TLS and an ACL
// user), the attrcache.Store options, and the logger. OpenStore makes the
// Store on go-redis, or on rueidis (redis.client) where package
// config/rueidisconfig is linked in.
//
// Every key can be set in the file, in the environment, or both; the
// environment wins. The environment variable of a key is ATTRCACHE_
// followed by the key in upper case with '.' replaced by '_', and
// without the section for the keys of the attrcache section, which the
// prefix names already: redis.dial_timeout is
// ATTRCACHE_REDIS_DIAL_TIMEOUT, attrcache.session_ttl is
// ATTRCACHE_SESSION_TTL (see EnvName). The old doubled spelling,
// ATTRCACHE_ATTRCACHE_SESSION_TTL, is refused with an error that names
// the new one. Lists are
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
