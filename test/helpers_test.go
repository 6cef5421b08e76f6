package test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
)

// testCtx returns a context that ends well before a hung test would be
// killed by go test's own timeout, and with the test.
func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newStore returns a Store in a namespace of its own, so tests sharing a
// server never see each other's sessions.
func newStore(t testing.TB, rdb redis.Scripter, opts ...attrcache.Option) *attrcache.Store {
	t.Helper()
	opts = append([]attrcache.Option{attrcache.WithNamespace("t-" + randHex(4))}, opts...)
	st, err := attrcache.New(rdb, opts...)
	if err != nil {
		t.Fatalf("attrcache.New: %v", err)
	}
	return st
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The stored format, decoded here from its description in
// attrcache/record.go rather than with the library, so that the checks
// of this package are an independent reading of what is in Redis.
const (
	rawMarkerField = "\x00"
	rawHeaderSize  = 24
)

// rawKey is the documented key of session sid:
// "<namespace>:s:" + base64url(SHA-256(sid)), unpadded.
func rawKey(ns, sid string) string {
	sum := sha256.Sum256([]byte(sid))
	return ns + ":s:" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// rawMarker is a decoded session marker.
type rawMarker struct {
	state    byte // 'L' live, 'E' ended
	created  int64
	token    string
	deadline int64 // ms; 0 when the marker carries none (the key's TTL is the deadline)
}

// rawRecord is a decoded attribute record.
type rawRecord struct {
	flags                      byte
	created, modified, expires int64 // ms since the epoch; expires 0: never
	token                      string
	value                      string
}

func u48(s string) int64 {
	var n int64
	for i := range 6 {
		n = n<<8 | int64(s[i])
	}
	return n
}

// decodeMarker reads a marker of format 1: state, created and token in 16
// bytes, followed in the current layout by the 6-byte deadline.
func decodeMarker(s string) (rawMarker, error) {
	if (len(s) != 16 && len(s) != 22) || s[0] != 1 {
		return rawMarker{}, fmt.Errorf("marker of %d bytes, format %d", len(s), firstByte(s))
	}
	if s[1] != 'L' && s[1] != 'E' {
		return rawMarker{}, fmt.Errorf("marker state %q", s[1])
	}
	m := rawMarker{state: s[1], created: u48(s[2:8]), token: s[8:16]}
	if len(s) == 22 {
		m.deadline = u48(s[16:22])
	}
	return m, nil
}

func decodeRecord(s string) (rawRecord, error) {
	if len(s) < rawHeaderSize || s[0]>>4 != 1 {
		return rawRecord{}, fmt.Errorf("record of %d bytes, version %d", len(s), firstByte(s)>>4)
	}
	return rawRecord{
		flags:    s[0] & 0x0f,
		created:  u48(s[1:7]),
		modified: u48(s[7:13]),
		expires:  u48(s[13:19]),
		token:    s[19:24],
		value:    s[rawHeaderSize:],
	}, nil
}

func firstByte(s string) byte {
	if s == "" {
		return 0
	}
	return s[0]
}

// rawSession is one session hash as the independent reader sees it.
type rawSession struct {
	exists bool
	marker rawMarker
	pttl   time.Duration // -1: no expiry
	attrs  map[string]rawRecord
}

// readRaw reads a session hash with plain HGETALL and PTTL in one
// transaction (so both describe the same instant) and decodes it.
func readRaw(ctx context.Context, rdb redis.Cmdable, key string) (rawSession, error) {
	var all *redis.MapStringStringCmd
	var pttl *redis.DurationCmd
	_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		all = p.HGetAll(ctx, key)
		pttl = p.PTTL(ctx, key)
		return nil
	})
	if err != nil {
		return rawSession{}, err
	}
	m := all.Val()
	if len(m) == 0 {
		return rawSession{}, nil
	}
	rs := rawSession{exists: true, pttl: pttl.Val(), attrs: map[string]rawRecord{}}
	var errs []error
	for f, v := range m {
		if f == rawMarkerField {
			mk, err := decodeMarker(v)
			if err != nil {
				errs = append(errs, err)
			}
			rs.marker = mk
			continue
		}
		r, err := decodeRecord(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("field %q: %w", f, err))
			continue
		}
		rs.attrs[f] = r
	}
	if _, ok := m[rawMarkerField]; !ok {
		errs = append(errs, errors.New("hash has no session marker"))
	}
	return rs, errors.Join(errs...)
}

// redisNow is the server's clock in ms, the clock the scripts use.
func redisNow(ctx context.Context, rdb redis.Cmdable) (int64, error) {
	t, err := rdb.Time(ctx).Result()
	if err != nil {
		return 0, err
	}
	return t.UnixMilli(), nil
}

// retryCall runs f until it succeeds, for at most d, and returns the last
// error. It is how a caller rides out a failover.
func retryCall(ctx context.Context, d time.Duration, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		err := f()
		if err == nil || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// isAnswer reports errors that are attrcache's answers about the data,
// not faults of the path to Redis.
func isAnswer(err error) bool {
	for _, e := range []error{attrcache.ErrNotFound, attrcache.ErrExists, attrcache.ErrSessionNotFound, attrcache.ErrSessionExists} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func short(err error) string {
	if err == nil {
		return "<nil>"
	}
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
