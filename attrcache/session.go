package attrcache

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Start begins a session with id sid that lives for ttl (at least a
// millisecond, at most MaxExpiration) and holds no attributes. It returns
// ErrSessionExists when a live session has the id. A resent Start (after
// a lost reply) reports the first run's success.
func (s *Store) Start(ctx context.Context, sid string, ttl time.Duration) (*Session, error) {
	t0 := time.Now()
	sess := s.Session(sid)
	err := sess.start(ctx, sid, ttl)
	sess.finish(ctx, call{op: "start", start: t0}, err)
	if err != nil {
		return nil, err
	}
	return sess, nil
}

func (s *Session) start(ctx context.Context, sid string, ttl time.Duration) error {
	if sid == "" {
		return invalidf("session id is empty")
	}
	if !validDuration(ttl) {
		return invalidf("session ttl must be between 1ms and MaxExpiration")
	}
	code, payload, err := s.runWrite(ctx, sessionScript, []any{"start", ttl.Milliseconds(), token(8)})
	if err != nil {
		return err
	}
	if code != stOK {
		return statusError(code, payload)
	}
	return nil
}

// Renew makes the session live for ttl from now (Redis's clock) and
// returns its new expiry time. Attributes keep their own expiry times.
// It returns ErrSessionNotFound when the session has ended or expired:
// an expired session cannot be brought back.
func (s *Session) Renew(ctx context.Context, ttl time.Duration) (time.Time, error) {
	t0 := time.Now()
	exp, err := s.renew(ctx, ttl)
	return exp, s.finish(ctx, call{op: "renew", start: t0}, err)
}

func (s *Session) renew(ctx context.Context, ttl time.Duration) (time.Time, error) {
	if !validDuration(ttl) {
		return time.Time{}, invalidf("session ttl must be between 1ms and MaxExpiration")
	}
	code, payload, err := s.runWrite(ctx, sessionScript, []any{"renew", ttl.Milliseconds()})
	if err != nil {
		return time.Time{}, err
	}
	if code != stOK {
		return time.Time{}, statusError(code, payload)
	}
	ms, err := int64At(payload, 0)
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(ms), nil
}

// End ends the session: all its attributes are gone at once, and every
// later call on it returns ErrSessionNotFound. Ending a session that does
// not exist returns ErrSessionNotFound; a resent End reports success.
func (s *Session) End(ctx context.Context) error {
	t0 := time.Now()
	code, payload, err := s.runWrite(ctx, sessionScript, []any{"end", token(8)})
	if err == nil && code != stOK {
		err = statusError(code, payload)
	}
	return s.finish(ctx, call{op: "end", start: t0}, err)
}

// TTL returns how long the session has left to live.
func (s *Session) TTL(ctx context.Context) (time.Duration, error) {
	t0 := time.Now()
	ttl, err := s.ttl(ctx)
	return ttl, s.finish(ctx, call{op: "ttl", start: t0}, err)
}

func (s *Session) ttl(ctx context.Context) (time.Duration, error) {
	code, payload, err := s.run(ctx, sessionScript, []any{"ttl"})
	if err != nil {
		return 0, err
	}
	if code != stOK {
		return 0, statusError(code, payload)
	}
	ms, err := int64At(payload, 0)
	if err != nil {
		return 0, err
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// token returns n random bytes (n <= 8) that identify one call, so that a
// resent script recognises its own first run. They need to be unique, not
// secret: math/rand/v2's per-thread ChaCha8 source is fast and unseeded
// by callers.
func token(n int) string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	return string(b[:n])
}

// call describes one public call for its log line.
type call struct {
	op    string
	start time.Time
	name  string   // single-attribute calls
	names []string // batches by name
	attrs []Attr   // batches of Attr
	count int      // batches given as a map
}

// expected reports outcomes that are answers, not faults.
func expected(err error) bool {
	for _, e := range []error{ErrNotFound, ErrExists, ErrSessionNotFound, ErrSessionExists, ErrInvalid, ErrNoCipher, ErrTooManyAttributes} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// maxLoggedNames bounds the names one log line lists.
const maxLoggedNames = 32

// finish logs a call and returns err. Answers are logged at debug level,
// faults (network, corrupt data, decryption) at warn. The session appears
// only as its short digest; values never appear.
func (s *Session) finish(ctx context.Context, c call, err error) error {
	lvl := slog.LevelDebug
	if err != nil && !expected(err) {
		lvl = slog.LevelWarn
	}
	l := s.store.log
	if !l.Enabled(ctx, lvl) {
		return err
	}
	attrs := make([]slog.Attr, 0, 7)
	attrs = append(attrs, slog.String("op", c.op), slog.String("session", s.logID))
	switch {
	case c.name != "":
		attrs = append(attrs, slog.String("name", c.name))
	case c.names != nil:
		attrs = append(attrs, slog.Int("count", len(c.names)), slog.Any("names", c.names[:min(len(c.names), maxLoggedNames)]))
	case c.attrs != nil:
		names := make([]string, 0, min(len(c.attrs), maxLoggedNames))
		for _, a := range c.attrs[:cap(names)] {
			names = append(names, a.Name)
		}
		attrs = append(attrs, slog.Int("count", len(c.attrs)), slog.Any("names", names))
	case c.count > 0:
		attrs = append(attrs, slog.Int("count", c.count))
	}
	attrs = append(attrs, slog.Duration("duration", time.Since(c.start)))
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	l.LogAttrs(ctx, lvl, "attrcache", attrs...)
	return err
}
