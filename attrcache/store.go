// Package attrcache keeps per-session named attributes in Redis.
//
// Each session is one Redis hash whose key holds a SHA-256 digest of the
// session id, never the id itself. Every call, single or batch, is one Lua
// script on that one key: atomic, one round trip, and slot-local on Redis
// Cluster. Time comes from the Redis server, so every application instance
// agrees on expiry. Attributes may expire on their own, never outlive their
// session, and may be sealed with a Cipher (see package keys).
//
// Writes are safe to resend: go-redis retries a script whose reply was
// lost, and a resent Create, Start, Set, Update or SetExpiry reports the
// first run's success rather than a conflict.
package attrcache

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// Store is the entry point: it holds the Redis client, the namespace, the
// optional Cipher, the logger and the limits. A Store is safe for
// concurrent use and holds no per-session state.
type Store struct {
	rdb    redis.Scripter
	ns     string
	cipher Cipher
	log    *slog.Logger
	limits Limits
	wait   replicaWait

	maxAttrs any // limits.MaxAttributes, boxed once for the write script
}

type replicaWait struct {
	replicas int
	timeout  time.Duration
}

// New returns a Store on the client the application already has: any
// *redis.Client, *redis.ClusterClient, *redis.Ring, a Sentinel failover
// client or a wrapper of them fits (it needs only the script commands).
// It does no I/O; scripts are loaded on first use.
func New(rdb redis.Scripter, opts ...Option) (*Store, error) {
	if rdb == nil {
		return nil, invalidf("redis client is nil")
	}
	s := &Store{
		rdb:      rdb,
		ns:       "attrcache",
		log:      slog.New(slog.DiscardHandler),
		limits:   DefaultLimits,
		maxAttrs: DefaultLimits.MaxAttributes,
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(s); err != nil {
			return nil, err
		}
	}
	if s.wait.replicas > 0 {
		if err := s.pipelineCheck(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// pipelineCheck refuses clients on which WithReplicaWait cannot work: WAIT
// must reach the node that took the write, on the same connection.
func (s *Store) pipelineCheck() error {
	switch s.rdb.(type) {
	case *redis.ClusterClient:
		return nil
	case *redis.Ring:
		return invalidf("WithReplicaWait does not work on a *redis.Ring")
	case interface{ Pipeline() redis.Pipeliner }:
		return nil
	}
	return invalidf(fmt.Sprintf("WithReplicaWait needs a client with pipelines; %T has none", s.rdb))
}

// pipeline returns a pipeline on the connection pool of the master that
// holds key.
func (s *Store) pipeline(ctx context.Context, key string) (redis.Pipeliner, error) {
	if c, ok := s.rdb.(*redis.ClusterClient); ok {
		node, err := c.MasterForKey(ctx, key)
		if err != nil {
			return nil, err
		}
		return node.Pipeline(), nil
	}
	return s.rdb.(interface{ Pipeline() redis.Pipeliner }).Pipeline(), nil
}

// Namespace returns the Store's key prefix.
func (s *Store) Namespace() string { return s.ns }

// Limits returns the limits in force, defaults filled in.
func (s *Store) Limits() Limits { return s.limits }

// Session returns a handle on the session with id sid. It does no I/O and
// does not check that the session exists; calls on the handle do. The
// handle keeps only a digest of sid.
func (s *Store) Session(sid string) *Session {
	sum := sha256.Sum256([]byte(sid))
	digest := base64.RawURLEncoding.EncodeToString(sum[:])
	return &Session{
		store:  s,
		keys:   [1]string{s.ns + ":s:" + digest},
		digest: digest,
		logID:  hex.EncodeToString(sum[:4]),
	}
}

// Session is a handle on one session's attributes. It is cheap, safe for
// concurrent use, and holds a digest of the session id, never the id.
type Session struct {
	store  *Store
	keys   [1]string // the Redis key, namespace ":s:" base64url(SHA-256(sid)), as scripts take it
	digest string    // base64url(SHA-256(sid)), bound into ciphertexts
	logID  string    // first 4 bytes of the digest, hex: safe to log
}

// Key returns the Redis key holding the session's hash, for operators
// and tests. It contains a digest of the session id, never the id.
func (s *Session) Key() string { return s.keys[0] }

// ID returns a short digest of the session id that is safe to log and to
// show operators; it is what this package logs as "session".
func (s *Session) ID() string { return s.logID }

// appendAD appends to ad the associated data that binds a ciphertext to
// its namespace, session and attribute name. The NUL separators cannot
// occur in any of the three (namespaces and names exclude control
// characters, the digest is base64url), so the encoding is unambiguous.
// The part before the last NUL is the same for every attribute of a
// session: a cipher may use it to pick a per-session data key (package
// keys does).
func (s *Session) appendAD(ad []byte, name string) []byte {
	ad = append(ad, s.store.ns...)
	ad = append(ad, 0)
	ad = append(ad, s.digest...)
	ad = append(ad, 0)
	return append(ad, name...)
}
