package attrcache

import (
	"context"
	"encoding/binary"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Session script operations, boxed once: converting a value to an
// interface on every call would allocate.
var (
	opStart  any = "start"
	opRenew  any = "renew"
	opEnd    any = "end"
	opFreeze any = "freeze"
	opThaw   any = "thaw"
	opCommit any = "commit"
)

// Start begins a session with id sid that lives for ttl (at least a
// millisecond, at most MaxExpiration) and holds no attributes. sid must
// be 1 to MaxSessionIDBytes bytes; NewSessionID makes good ones. It
// returns ErrSessionExists when a live session has the id. A resent
// Start (after a lost reply) reports the first run's success.
func (s *Store) Start(ctx context.Context, sid string, ttl time.Duration, opts ...StartOption) (*Session, error) {
	sess := s.Session(sid)
	c := call{op: opStartCall}
	ctx = sess.begin(ctx, &c)
	err := sess.start(ctx, &c, ttl, opts)
	sess.finish(ctx, &c, err)
	if err != nil {
		return nil, err
	}
	return sess, nil
}

func (s *Session) start(ctx context.Context, c *call, ttl time.Duration, opts []StartOption) error {
	if s.bad != nil {
		return s.bad
	}
	if !validDuration(ttl) {
		return invalidf("session ttl must be between 1ms and MaxExpiration")
	}
	var spec startSpec
	for _, o := range opts {
		if o != nil {
			o(&spec)
		}
	}
	if spec.bad {
		return invalidf("max lifetime must be between 1ms and MaxExpiration")
	}
	rep, err := s.runScript(ctx, c, sessionScript, opStart, []any{4: ttl.Milliseconds(), 5: spec.maxLifetime.Milliseconds()})
	if err != nil {
		return err
	}
	return rep.err()
}

// Renew makes the session live for ttl from now (Redis's clock), but not
// past its WithMaxLifetime, and returns its new expiry time: earlier than
// now + ttl when the lifetime cut it. Attributes keep their own expiry
// times. It returns ErrSessionNotFound when the session has ended or
// expired: an expired session cannot be brought back. A resent Renew
// reports the session's expiry at the time of the resend.
func (s *Session) Renew(ctx context.Context, ttl time.Duration) (time.Time, error) {
	c := call{op: opRenewCall}
	ctx = s.begin(ctx, &c)
	exp, err := s.renew(ctx, &c, ttl)
	return exp, s.finish(ctx, &c, err)
}

func (s *Session) renew(ctx context.Context, c *call, ttl time.Duration) (time.Time, error) {
	if s.bad != nil {
		return time.Time{}, s.bad
	}
	if !validDuration(ttl) {
		return time.Time{}, invalidf("session ttl must be between 1ms and MaxExpiration")
	}
	rep, err := s.runScript(ctx, c, sessionScript, opRenew, []any{4: ttl.Milliseconds()})
	if err != nil {
		return time.Time{}, err
	}
	if err := rep.err(); err != nil {
		return time.Time{}, err
	}
	ms, err := int64At(rep.payload, 0)
	if err != nil {
		return time.Time{}, err
	}
	if ms == 0 { // resent, and the session has ended since
		return time.Time{}, ErrSessionNotFound
	}
	return time.UnixMilli(ms), nil
}

// End ends the session: all its attributes are gone at once, and every
// later call on it returns ErrSessionNotFound. Ending a session that does
// not exist returns ErrSessionNotFound; a resent End reports success and
// never ends a session started on the same id after it. End also clears
// a session that attrcache cannot read (ErrCorrupt), so that the id can
// be started again.
func (s *Session) End(ctx context.Context) error {
	c := call{op: opEndCall}
	ctx = s.begin(ctx, &c)
	err := s.end(ctx, &c)
	return s.finish(ctx, &c, err)
}

func (s *Session) end(ctx context.Context, c *call) error {
	if s.bad != nil {
		return s.bad
	}
	rep, err := s.runScript(ctx, c, sessionScript, opEnd, make([]any, 4))
	if err != nil {
		return err
	}
	return rep.err()
}

// Purge deletes the session's key, whatever it holds: the operator's way
// out when a key holds something attrcache did not write. Unlike End it
// leaves no tombstone, so a resent End or Start that was still in flight
// is not recognised. Purging a key that does not exist is not an error.
func (s *Session) Purge(ctx context.Context) error {
	c := call{op: opPurge}
	ctx = s.begin(ctx, &c)
	err := s.bad
	if err == nil {
		err = unavailable(s.store.rdb.Del(ctx, s.keys[0]).Err())
		s.evict()
	}
	return s.finish(ctx, &c, err)
}

// runScript runs a write script on the session and evicts the session
// from the near cache. args[:4] are filled here with what makes a write
// exactly-once: op, a fresh call token, the earliest Redis time the call
// can have been sent at (see sendTime), and its deadline (the resend
// window, or the context's deadline if that comes first, but at least
// minResendWindow).
// What the reply tells about resends and reclaims is noted on c.
func (s *Session) runScript(ctx context.Context, c *call, sc *script, op any, args []any) (reply, error) {
	st := s.store
	now, _, err := st.clock.ensure(ctx, st.rdb)
	if err != nil {
		return reply{}, err
	}
	w := st.window
	if d, ok := ctx.Deadline(); ok {
		w = min(w, max(time.Until(d), minResendWindow))
	}
	args[0], args[1], args[2], args[3] = op, token(), &sendTime{c: &st.clock}, now+w.Milliseconds()
	rep, err := s.exec(ctx, sc, args)
	s.evict()
	if err == nil {
		c.noteReply(sc, rep)
	}
	if err == nil && (rep.code == stOK || rep.code == stResent) && (sc == writeScript || op == opStart || op == opRenew || op == opCommit || op == opThaw) {
		if dl, ok := rep.payload0(); ok {
			s.seen.Store(dl)
		}
	}
	return rep, err
}

// evict drops the session's key from the near cache, so that a read
// after this write, on this Store, sees it.
func (s *Session) evict() {
	if nc := s.store.near; nc != nil {
		nc.evict(s.keys[0])
	}
}

// token returns 8 random bytes that identify one call in the session's
// resend log. They need to be unique, not secret: math/rand/v2's
// per-thread ChaCha8 source is fast and unseeded by callers.
func token() string {
	var b [tokenSize]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	return string(b[:])
}

// call is one public call, as its log line, span and measurements
// describe it. It lives on the caller's stack: begin and finish take its
// address and keep nothing.
type call struct {
	op    op
	start time.Time
	span  trace.Span // nil when the call is not traced
	name  string     // single-attribute calls
	names []string   // batches by name
	attrs []Attr     // batches of Attr
	count int        // attributes returned, by GetAll and Names

	resent    bool  // Redis recognised a resent copy of a script this call sent
	reclaimed int64 // expired records the call's writes reclaimed
}

// attrCount is how many attributes the call names, for calls that name
// some.
func (c *call) attrCount() (int, bool) {
	switch {
	case c.name != "":
		return 1, true
	case c.names != nil:
		return len(c.names), true
	case c.attrs != nil:
		return len(c.attrs), true
	}
	return 0, false
}

// maxLoggedNames bounds the names one log line or span lists.
const maxLoggedNames = 32

// nameList is the names the call names, at most maxLoggedNames.
func (c *call) nameList() []string {
	switch {
	case c.name != "":
		return []string{c.name}
	case c.names != nil:
		return c.names[:min(len(c.names), maxLoggedNames)]
	case c.attrs != nil:
		names := make([]string, 0, min(len(c.attrs), maxLoggedNames))
		for _, a := range c.attrs[:cap(names)] {
			names = append(names, a.Name)
		}
		return names
	}
	return nil
}

// noteReply records what a script's reply says about the call: a
// recognised resend, and the records write.lua's reclaim step deleted
// (the last element of its OK, TOOMANY and TOOBIG replies).
func (c *call) noteReply(sc *script, rep reply) {
	switch rep.code {
	case stResent:
		c.resent = true
	case stOK, stTooMany, stTooBig:
		if sc == writeScript && len(rep.payload) >= 2 {
			if n, ok := rep.payload[1].(int64); ok && n > 0 {
				c.reclaimed += n
			}
		}
	}
}

// begin starts a call on the session: its clock and, when traced, its
// span. Run the call with the context it returns.
func (s *Session) begin(ctx context.Context, c *call) context.Context {
	return s.store.tel.begin(ctx, c, s.logID)
}

// finish ends a call on the session and returns err (see Store.finish).
func (s *Session) finish(ctx context.Context, c *call, err error) error {
	return s.store.finish(ctx, c, s.logID, err)
}

// finish ends a call: it ends its span, measures it and logs it, and
// returns err. Answers are logged at debug level, faults (network,
// corrupt data, decryption) at warn (see outcome). The session appears
// only as its short digest; values never appear. When nobody listens it
// costs a few comparisons.
func (st *Store) finish(ctx context.Context, c *call, sess string, err error) error {
	o := outcomeOf(err)
	lvl := slog.LevelDebug
	if o.fault() {
		lvl = slog.LevelWarn
	}
	metering := st.tel.metering()
	logging := st.log.Enabled(ctx, lvl)
	if c.span == nil && !metering && !logging {
		return err
	}
	d := time.Since(c.start)
	if c.span != nil {
		st.tel.endSpan(c, o, err)
	}
	if metering {
		st.tel.record(ctx, c, o, d, err)
	}
	if logging {
		st.logCall(ctx, lvl, c, sess, d, err)
	}
	return err
}

// logCall writes a call's log line.
func (st *Store) logCall(ctx context.Context, lvl slog.Level, c *call, sess string, d time.Duration, err error) {
	attrs := make([]slog.Attr, 0, 7)
	attrs = append(attrs, slog.String("op", c.op.String()))
	if sess != "" {
		attrs = append(attrs, slog.String("session", sess))
	}
	switch {
	case c.name != "":
		attrs = append(attrs, slog.String("name", c.name))
	case c.names != nil || c.attrs != nil:
		n, _ := c.attrCount()
		attrs = append(attrs, slog.Int("count", n), slog.Any("names", c.nameList()))
	case c.count > 0:
		attrs = append(attrs, slog.Int("count", c.count))
	}
	attrs = append(attrs, slog.Duration("duration", d))
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	st.log.LogAttrs(ctx, lvl, "attrcache", attrs...)
}

// sendTime is the earliest Redis time a write can have begun at, taken
// when go-redis first writes the command to a connection rather than when
// the call began: a call that waited for a pooled connection would
// otherwise look older than it is, and on a session written many times a
// second its token could seem dropped from the resend log already (the
// script then refuses it as one that may have run). go-redis writes
// arguments that are encoding.BinaryMarshalers by calling MarshalBinary;
// the value is fixed at the first call, so every resend carries the same
// time as the first attempt, and a hook that marshals earlier only makes
// it earlier, which is safe.
type sendTime struct {
	once sync.Once
	c    *clock
	b    []byte
}

// MarshalBinary returns the time in ms, in decimal, as the script reads
// it.
func (t *sendTime) MarshalBinary() ([]byte, error) {
	t.once.Do(func() {
		ms, bound, _ := t.c.estimate()
		t.b = strconv.AppendInt(nil, ms-bound.Milliseconds()-1, 10)
	})
	return t.b, nil
}

// String shows what a log of the command would: the argument's meaning,
// not its value, which is fixed only when the command is sent.
func (t *sendTime) String() string { return "call-start" }
