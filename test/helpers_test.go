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
func newStore(t testing.TB, rdb attrcache.Client, opts ...attrcache.Option) *attrcache.Store {
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
	rawLogField    = "\x01"
	rawHeaderSize  = 19
)

// rawKey is the documented key of session sid:
// "<namespace>:s:" + base64url(SHA-256(sid)), unpadded.
func rawKey(ns, sid string) string {
	sum := sha256.Sum256([]byte(sid))
	return ns + ":s:" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// rawMarker is a decoded session marker (format 2).
type rawMarker struct {
	state    byte // 'L' live, 'R' rotating, 'E' ended
	created  int64
	deadline int64 // ms
	most     int64 // absolute deadline, 0: none
	count    int64 // attribute fields stored
	bytes    int64 // their names and records
	next     int64 // no record expires before this
	cycmin   int64
	cursor   int64
	rotation int64
}

// rawRecord is a decoded attribute record.
type rawRecord struct {
	flags                      byte
	created, modified, expires int64 // ms since the epoch; expires 0: never
	value                      string
}

func u48(s string) int64 {
	var n int64
	for i := range 6 {
		n = n<<8 | int64(s[i])
	}
	return n
}

// decodeMarker reads a marker of format 2: 56 bytes.
func decodeMarker(s string) (rawMarker, error) {
	if len(s) != 56 || s[0] != 2 {
		return rawMarker{}, fmt.Errorf("marker of %d bytes, format %d", len(s), firstByte(s))
	}
	if s[1] != 'L' && s[1] != 'E' && s[1] != 'R' {
		return rawMarker{}, fmt.Errorf("marker state %q", s[1])
	}
	f := func(i int) int64 { return u48(s[2+6*i:]) }
	return rawMarker{state: s[1], created: f(0), deadline: f(1), most: f(2), count: f(3), bytes: f(4),
		next: f(5), cycmin: f(6), cursor: f(7), rotation: f(8)}, nil
}

func decodeRecord(s string) (rawRecord, error) {
	if len(s) < rawHeaderSize || s[0]>>4 != 2 {
		return rawRecord{}, fmt.Errorf("record of %d bytes, version %d", len(s), firstByte(s)>>4)
	}
	return rawRecord{
		flags:    s[0] & 0x0f,
		created:  u48(s[1:7]),
		modified: u48(s[7:13]),
		expires:  u48(s[13:19]),
		value:    s[rawHeaderSize:],
	}, nil
}

// rawLog is a decoded resend log.
type rawLog struct {
	base, dropped int64
	tokens        []string
	applied       []int64 // ms
}

func decodeLog(s string) (rawLog, error) {
	if len(s) < 12 || (len(s)-12)%10 != 0 {
		return rawLog{}, fmt.Errorf("resend log of %d bytes", len(s))
	}
	l := rawLog{base: u48(s), dropped: u48(s[6:])}
	for i := 12; i < len(s); i += 10 {
		l.tokens = append(l.tokens, s[i:i+8])
		l.applied = append(l.applied, l.base+(int64(s[i+8])<<8|int64(s[i+9])))
	}
	return l, nil
}

// attrFields counts the attribute fields of a session hash: every field
// but the marker and the resend log.
func attrFields(hash map[string]string) int {
	n := 0
	for f := range hash {
		if f != rawMarkerField && f != rawLogField {
			n++
		}
	}
	return n
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
	log    rawLog
	pttl   time.Duration // -1: no expiry
	attrs  map[string]rawRecord
	size   int64 // names and records of the attribute fields
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
		if f == rawLogField {
			l, err := decodeLog(v)
			if err != nil {
				errs = append(errs, err)
			}
			rs.log = l
			continue
		}
		rs.size += int64(len(f) + len(v))
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
