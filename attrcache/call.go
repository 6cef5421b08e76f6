package attrcache

import (
	"context"
	_ "embed"
	"encoding/binary"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/attrcache/attrcache/internal/backend"
	"github.com/attrcache/attrcache/internal/format"
)

// The Lua, one script per operation family, with lib.lua shared; see
// internal/backend for how it runs (FCALL of one versioned library, or
// EVALSHA) and internal/format for the bytes it reads and writes.
var (
	//go:embed lua/lib.lua
	libLua string
	//go:embed lua/write.lua
	writeLua string
	//go:embed lua/session.lua
	sessionLua string

	library       = backend.NewLibrary("attrcache", libLua, [2]string{"write", writeLua}, [2]string{"session", sessionLua})
	writeScript   = library.Scripts[0]
	sessionScript = library.Scripts[1]
)

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

	resent    bool     // Redis recognised a resent copy of a script this call sent
	reclaimed int64    // expired records the call's writes reclaimed
	last      *callArg // the exactly-once argument of the script last sent

	// one is a one-attribute write's arguments, allocated when the call
	// begins so that its bounded context and its first script's
	// exactly-once argument live in the same allocation (see oneWrite);
	// each is taken once.
	one *oneWrite
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

// begin starts a call: its deadline (the Store's call timeout, unless
// the caller's context ends sooner), its clock and, when traced, its
// span, a child of the caller's. Run the call with the context it
// returns and call cancel when done. who is the session or user, nil for
// Store-wide calls.
func (s *Store) begin(ctx context.Context, c *call, who *owner) (context.Context, context.CancelFunc) {
	var room *backend.Room
	if c.one != nil {
		room = &c.one.room
	}
	return s.be.Bound(s.tel.begin(ctx, c, who), s.timeout, room)
}

// finish ends a call: it ends its span, measures it and logs it, and
// returns err. Answers are logged at debug level, faults (network,
// corrupt data, decryption) at warn (see outcome). The session or user
// appears only as its short digest; values never appear. When nobody
// listens it costs a few comparisons.
func (s *Store) finish(ctx context.Context, c *call, who *owner, err error) error {
	o := outcomeOf(err)
	lvl := slog.LevelDebug
	if o.fault() {
		lvl = slog.LevelWarn
	}
	metering := s.tel.metering()
	logging := s.log.Enabled(ctx, lvl)
	if c.span == nil && !metering && !logging {
		return err
	}
	var d time.Duration
	if !c.start.IsZero() { // zero: telemetry or the log level changed during the call
		d = time.Since(c.start)
	}
	if c.span != nil {
		s.tel.endSpan(c, o, err)
	}
	if metering {
		s.tel.record(ctx, c, o, d, err)
	}
	if logging {
		s.logCall(ctx, lvl, c, who, d, err)
	}
	return err
}

// logCall writes a call's log line.
func (s *Store) logCall(ctx context.Context, lvl slog.Level, c *call, who *owner, d time.Duration, err error) {
	attrs := make([]slog.Attr, 0, 7)
	attrs = append(attrs, slog.String("op", c.op.String()))
	switch {
	case who == nil:
	case who.isUser():
		attrs = append(attrs, slog.String("user", who.logID))
	default:
		attrs = append(attrs, slog.String("session", who.logID))
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
	s.log.LogAttrs(ctx, lvl, "attrcache", attrs...)
}

// noteReply records what a script's reply says about the call: a
// recognised resend, and the records write.lua's reclaim step deleted.
func (c *call) noteReply(sc *backend.Script, rep backend.Reply) {
	switch rep.Code {
	case format.StatusResent:
		c.resent = true
	case format.StatusOK, format.StatusTooMany, format.StatusTooBig:
		if sc == writeScript {
			if n, ok := rep.Int(1); ok && n > 0 {
				c.reclaimed += n
			}
		}
	}
}

// run runs a script on the keys with the call's exactly-once argument
// first (see callArg), feeds the reply's clock to the Store's estimate,
// and evicts the keys' owner from the near cache. A CLOCK reply (the
// estimate was off; the call did not run) is retried once with the
// estimate the reply corrected.
func (s *Store) run(ctx context.Context, c *call, sc *backend.Script, keys backend.Keys, head []byte, args []any) (backend.Reply, error) {
	for try := 0; ; try++ {
		ms, bound, err := s.estimate(ctx, keys.Names[0])
		if err != nil {
			return backend.Reply{}, err
		}
		w := s.window
		if d, ok := ctx.Deadline(); ok {
			w = min(w, max(time.Until(d), minResendWindow))
		}
		ca := c.callArg()
		ca.init(s, ms+bound.Milliseconds()+w.Milliseconds(), head)
		args[0], c.last = ca, ca
		sent := time.Now()
		rep, err := s.be.Run(ctx, sc, keys, args)
		for _, k := range keys.Names {
			s.be.Evict(k)
		}
		if err != nil {
			// Declared here: errorsAs takes its address, which costs an
			// allocation, and only a failed call needs it.
			var nr *backend.NotReplicatedError
			if errorsAs(err, &nr) {
				s.observe(nr.Reply, sent)
				return nr.Reply, &notReplicatedError{msg: nr.Msg}
			}
			if isReplyShape(err) {
				return backend.Reply{}, corruptf("%s", err.Error())
			}
			if backend.WrongType(s.be, err) {
				return backend.Reply{}, corruptf("the key holds something attrcache did not write")
			}
			return backend.Reply{}, unavailable(err)
		}
		s.observe(rep, sent)
		c.noteReply(sc, rep)
		if rep.Code == format.StatusClock && try == 0 {
			continue
		}
		return rep, nil
	}
}

// callArg is a script's first argument, which makes a call exactly-once:
// an 8-byte random token, the earliest time on Redis's clock the call can
// have been sent (t0), and its deadline, then what the script's head
// holds (write.lua: mode, owner, limits, and the meta its attributes
// share, see shareMeta). go-redis marshals arguments
// that are encoding.BinaryMarshalers when it writes the command, so t0
// is taken when the call first goes out rather than when it began: a
// call that waited for a pooled connection would otherwise look older
// than it is. It is fixed at the first marshal, so every resend carries
// the same bytes.
type callArg struct {
	once sync.Once
	st   *Store
	dl   int64
	b    [20 + 17]byte // then the script's head (write.lua: up to 17 bytes)
	n    int
}

// oneArgs returns a oneWrite for a one-attribute write's arguments: the
// one the call allocated when it began, the first time, and a new one
// after that (a RESEAL retry builds its arguments again).
func (c *call) oneArgs() *oneWrite {
	if c.one != nil && !c.one.argsTaken {
		c.one.argsTaken = true
		return c.one
	}
	return new(oneWrite)
}

// callArg returns room for the call's next exactly-once argument: the
// one a one-attribute write allocated with its arguments, the first time,
// and a new one after that.
func (c *call) callArg() *callArg {
	if c.one != nil && !c.one.caTaken {
		c.one.caTaken = true
		return &c.one.ca
	}
	return new(callArg)
}

// init makes a a fresh argument: a new token, the deadline dl and head.
func (a *callArg) init(st *Store, dl int64, head []byte) {
	a.st, a.dl, a.n = st, dl, 20+len(head)
	binary.LittleEndian.PutUint64(a.b[:8], rand.Uint64())
	copy(a.b[20:], head)
}

// MarshalBinary returns the argument as the scripts read it.
func (a *callArg) MarshalBinary() ([]byte, error) {
	a.once.Do(func() {
		lo, ok := a.st.clock.Lower()
		if !ok {
			lo = a.dl - int64(maxResendWindow/time.Millisecond)
		}
		put48(a.b[8:14], lo-1)
		put48(a.b[14:20], a.dl)
	})
	return a.b[:a.n], nil
}

// token is the call's token.
func (a *callArg) token() string { return string(a.b[:8]) }

// String shows what a log of the command would: the argument's meaning,
// never its bytes.
func (a *callArg) String() string { return "call" }

func put48(b []byte, v int64) {
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}
