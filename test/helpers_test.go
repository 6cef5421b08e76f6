package test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/test/redistest"
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
// internal/format (doc.go) rather than with the library, so that the
// checks of this package are an independent reading of what is in Redis.
const (
	rawMarkerField = "\x00"
	rawLogField    = "\x01"
	rawMovedField  = "\x02"
)

// rawKey is the documented key of unbound session sid:
// "<namespace>:s:{" + base64url(SHA-256(sid)) + "}", unpadded.
func rawKey(ns, sid string) string {
	sum := sha256.Sum256([]byte(sid))
	return ns + ":s:{" + base64.RawURLEncoding.EncodeToString(sum[:]) + "}"
}

// rawMarker is a decoded marker (format 4).
type rawMarker struct {
	state    byte // 'L' live, 'R' rotating, 'P' pending, 'E' ended, 'U' user, 'G' registry
	bound    bool
	created  int64
	deadline int64 // ms
	most     int64 // absolute deadline, 0: none
	count    int64 // attribute fields stored (the marker's counters)
	bytes    int64 // their names and records (the marker's counters)
	next     int64 // no record expires before this
	cycmin   int64
	cursor   int64
	rotation int64
	moved    int64 // at or after every entry the resend log sent to its overflow
}

// rawRecord is a decoded attribute record; its times are absolute.
type rawRecord struct {
	sealed                     bool
	created, modified, expires int64 // ms since the epoch; expires 0: never
	value                      string
}

func un(s string, n int) int64 {
	var v int64
	for i := range n {
		v = v<<8 | int64(s[i])
	}
	return v
}

func u48(s string) int64 { return un(s, 6) }

// decodeMarker reads a marker of format 4: 28 bytes, the tails its flags
// name, then the counters: attribute count (4 bytes), stored bytes (4).
func decodeMarker(s string) (rawMarker, error) {
	if len(s) < 36 || s[0] != 4 {
		return rawMarker{}, fmt.Errorf("marker of %d bytes, format %d", len(s), firstByte(s))
	}
	if !strings.ContainsRune("LRPEUG", rune(s[1])) {
		return rawMarker{}, fmt.Errorf("marker state %q", s[1])
	}
	m := rawMarker{state: s[1], bound: s[2]&1 != 0, created: u48(s[3:]), deadline: u48(s[9:]), most: u48(s[15:]),
		next: u48(s[21:])}
	tail, rest := s[27], s[28:len(s)-8]
	m.count, m.bytes = un(s[len(s)-8:], 4), un(s[len(s)-4:], 4)
	want := 0
	for bit, n := range []int{12, 14, 12} {
		if tail&(1<<bit) != 0 {
			want += n
		}
	}
	if tail >= 8 || len(rest) != want {
		return rawMarker{}, fmt.Errorf("marker tail %#x with %d bytes", tail, len(rest))
	}
	if tail&1 != 0 {
		m.cycmin, m.cursor, rest = u48(rest), u48(rest[6:]), rest[12:]
	}
	if tail&2 != 0 {
		m.rotation, rest = u48(rest), rest[14:]
	}
	if tail&4 != 0 {
		m.moved = u48(rest)
	}
	return m, nil
}

// decodeRecord reads a record of a hash whose marker's created time is
// base: a flags byte with three width codes, the offsets, the value.
func decodeRecord(s string, base int64) (rawRecord, error) {
	if s == "" || s[0]&0x80 != 0 {
		return rawRecord{}, fmt.Errorf("record of %d bytes, flags %#x", len(s), firstByte(s))
	}
	w := [4]int{0, 2, 4, 6}
	wc, wm, we := w[s[0]&3], w[s[0]>>2&3], w[s[0]>>4&3]
	h := 1 + wc + wm + we
	if len(s) < h {
		return rawRecord{}, fmt.Errorf("record of %d bytes, header of %d", len(s), h)
	}
	r := rawRecord{sealed: s[0]&0x40 != 0, value: s[h:]}
	r.created = base + un(s[1:], wc)
	r.modified = r.created + un(s[1+wc:], wm)
	if we > 0 {
		r.expires = base + un(s[1+wc+wm:], we)
	}
	return r, nil
}

// recordIn decodes field of a session hash, with the base its marker
// gives.
func recordIn(hash map[string]string, field string) (rawRecord, error) {
	m, err := decodeMarker(hash[rawMarkerField])
	if err != nil {
		return rawRecord{}, err
	}
	return decodeRecord(hash[field], m.created)
}

// rawLog is a decoded resend log: its entries' tokens and deadlines
// (modulo 2^32 ms).
type rawLog struct {
	tokens    []string
	deadlines []int64
}

func decodeLog(s string) (rawLog, error) {
	if len(s)%12 != 0 || len(s) > 60 {
		return rawLog{}, fmt.Errorf("resend log of %d bytes", len(s))
	}
	var l rawLog
	for i := 0; i < len(s); i += 12 {
		l.tokens = append(l.tokens, s[i:i+8])
		l.deadlines = append(l.deadlines, un(s[i+8:], 4))
	}
	return l, nil
}

// attrFields counts the attribute fields of a session hash: every field
// but the marker and the resend log.
func attrFields(hash map[string]string) int {
	n := 0
	for f := range hash {
		if f != rawMarkerField && f != rawLogField && f != rawMovedField {
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
	if v, ok := m[rawMarkerField]; ok {
		mk, err := decodeMarker(v)
		if err != nil {
			errs = append(errs, err)
		}
		rs.marker = mk
	}
	for f, v := range m {
		if f == rawMarkerField || f == rawMovedField {
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
		r, err := decodeRecord(v, rs.marker.created)
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

// stepFaults is a hook that numbers the commands of the calls under test
// (scripts and reads; not TIME, which the Store sends on its own) and
// injects one fault at one of them: the reply lost (go-redis resends the
// command unless retries are off), the connection down when it is sent
// (the command never reaches Redis; later ones go through), or a crash
// of the process after it (every later command fails, cleanup included).
// A Rotate's steps are 1 freeze, 2 read, 3 commit of the new id,
// unreadable, 4 retire of the old id, 5 activation of the new id.
type stepFaults struct {
	proxy     *redistest.Proxy
	mu        sync.Mutex
	n         int
	dropAt    int // lose the reply of this step (0: none)
	downAt    int // close the connection and refuse new ones while this step is sent (0: none)
	crashFrom int // fail every command from this step on (0: never)
	seen      []string
}

var errCrashed = errors.New("the process crashed")

func (h *stepFaults) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *stepFaults) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		switch cmd.Name() {
		case "fcall", "evalsha", "eval", "hgetall", "hmget":
		default:
			return next(ctx, cmd)
		}
		h.mu.Lock()
		h.n++
		n := h.n
		h.seen = append(h.seen, cmd.Name())
		crashed := h.crashFrom > 0 && n >= h.crashFrom
		if n == h.dropAt {
			h.proxy.DropNextReply()
		}
		h.mu.Unlock()
		switch {
		case crashed:
			cmd.SetErr(errCrashed)
			return errCrashed
		case n == h.downAt:
			h.proxy.Refuse(true)
			h.proxy.CloseAll()
			err := next(ctx, cmd)
			h.proxy.Refuse(false)
			return err
		}
		return next(ctx, cmd)
	}
}
func (h *stepFaults) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// count returns how many commands were numbered, and their names.
func (h *stepFaults) count() (int, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n, slices.Clone(h.seen)
}
