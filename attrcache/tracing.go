package attrcache

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// WithTracerProvider makes the Store trace its calls with tp instead of
// the global tracer provider; a no-op provider turns tracing off. Without
// it the Store follows the global provider, including one installed
// after New.
//
// Every public call (Store.Start, Store.Ping, and each Session method
// that talks to Redis) makes one span, a child of the span in the
// caller's context. It follows OpenTelemetry's semantic conventions for
// database client spans (stable as of semantic conventions 1.45; the
// Redis page, still in development, where it fits):
//
//	name     attrcache.<operation>: attrcache.start, attrcache.create_many,
//	         attrcache.get, ... attrcache.ping. The convention's
//	         "{db.operation.name} {target}" has no target here (the key is
//	         a digest, and no collection exists), and a name that says
//	         which library made it reads better above go-redis's spans.
//	kind     client
//	db.system.name            "redis"
//	db.operation.name         the operation: start, create_many, get, ...
//	                          attrcache's operations, not Redis commands
//	                          (the Redis page's use), since one call may
//	                          send TIME, FCALL or EVALSHA, and WAIT;
//	                          go-redis's instrumentation names those.
//	db.namespace              the Redis database index ("0" on a cluster),
//	                          when the client shows it
//	attrcache.namespace       the Store's key prefix (WithNamespace)
//	attrcache.session.digest  Session.ID, the short digest logs show
//	attrcache.session.new_digest  Rotate, once it succeeded: the new id's
//	attrcache.user.digest     calls on a User: its short digest
//	attrcache.attribute.count how many attributes the call names; for
//	                          GetAll and Names, how many it returned
//	attrcache.attribute.names the names, at most 32: WithTracedNames only
//	attrcache.outcome         "ok", or the short name of the error's
//	                          sentinel: not_found, exists,
//	                          session_not_found, session_exists, invalid,
//	                          too_many_attributes, too_big, no_cipher,
//	                          unavailable, not_replicated, corrupt, decrypt
//	attrcache.resent          true when Redis recognised a resent write
//	attrcache.reclaimed       expired records the call's write reclaimed
//	error.type                the outcome, on faults only
//	db.response.status_code   the Redis error prefix (ERR, READONLY, ...)
//	                          when a fault came back as a Redis error
//
// Faults are errors, answers are not. A fault is a call that could not do
// its work: ErrUnavailable, ErrNotReplicated, ErrCorrupt, ErrDecrypt. Its
// span gets status Error, error.type, and the error's text as the status
// description (with the sentinel's text and the kind of cause instead
// where the text names attributes, unless WithTracedNames). An answer is
// the call doing what it documents and telling the caller something:
// ErrNotFound, ErrExists, ErrSessionNotFound, ErrSessionExists,
// ErrTooManyAttributes, ErrTooBig, and the caller's own mistakes,
// ErrInvalid and ErrNoCipher. Its status stays unset and
// attrcache.outcome says what happened, as a Redis GET of a missing key
// is no error either. The logs draw the same line: answers at debug,
// faults at warn.
//
// No span holds a value, a session id, a key or a secret.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return Option{func(s *settings) error {
		if tp == nil {
			return invalidf("tracer provider is nil")
		}
		s.tel.tp = tp
		return nil
	}}
}

// WithTracedNames adds the attribute names a call names to its span, as
// attrcache.attribute.names (at most 32), and lets fault descriptions
// keep them. Names are off by default: in some deployments a name says
// something about a user (a flag, a product). Values never reach a span.
func WithTracedNames() Option {
	return Option{func(s *settings) error {
		s.tel.names = true
		return nil
	}}
}

// Semantic-convention attribute keys.
const (
	keyDBSystem     = attribute.Key("db.system.name")
	keyDBOperation  = attribute.Key("db.operation.name")
	keyDBNamespace  = attribute.Key("db.namespace")
	keyDBStatusCode = attribute.Key("db.response.status_code")
	keyErrorType    = attribute.Key("error.type")
)

// attrcache's own attribute keys.
const (
	keyNamespace = attribute.Key("attrcache.namespace")
	keySession   = attribute.Key("attrcache.session.digest")
	keyUser      = attribute.Key("attrcache.user.digest")
	// keyNewSession is the digest of the id a Rotate moved the session to.
	keyNewSession = attribute.Key("attrcache.session.new_digest")
	keyCount      = attribute.Key("attrcache.attribute.count")
	keyNames      = attribute.Key("attrcache.attribute.names")
	keyOutcome    = attribute.Key("attrcache.outcome")
	keyResent     = attribute.Key("attrcache.resent")
	keyReclaimed  = attribute.Key("attrcache.reclaimed")
)

// begin starts the call's clock and, when traced, its span, a child of
// the caller's; the returned context carries the span down to go-redis.
// who is the session or user, nil for Store-wide calls.
func (t *telemetry) begin(ctx context.Context, c *call, who *owner) context.Context {
	tracing := t.tracing()
	// The start is read only for a call that may be traced, measured or
	// logged: on a VM without a fast clock, time.Now is a fifth of a
	// near-cache hit. Logs go at debug (answers) or warn (faults) level.
	if tracing || t.metering() || (t.log != nil && t.log.Enabled(ctx, slog.LevelWarn)) {
		c.start = time.Now()
	}
	if !tracing {
		return ctx
	}
	attrs := make([]attribute.KeyValue, 0, len(t.base)+4)
	attrs = append(attrs, t.base...)
	attrs = append(attrs, keyDBOperation.String(c.op.String()))
	switch {
	case who == nil:
	case who.isUser():
		attrs = append(attrs, keyUser.String(who.logID))
	default:
		attrs = append(attrs, keySession.String(who.logID))
	}
	if n, ok := c.attrCount(); ok {
		attrs = append(attrs, keyCount.Int(n))
	}
	if t.names {
		if names := c.nameList(); names != nil {
			attrs = append(attrs, keyNames.StringSlice(names))
		}
	}
	ctx, c.span = t.tracer.Start(ctx, spanNames[c.op], trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return ctx
}

// endSpan records how the call ended on its span and ends it.
func (t *telemetry) endSpan(c *call, o outcome, err error) {
	sp := c.span
	if sp.IsRecording() {
		attrs := make([]attribute.KeyValue, 0, 6)
		attrs = append(attrs, keyOutcome.String(o.String()))
		if c.count > 0 && (c.op == opGetAll || c.op == opNames) {
			attrs = append(attrs, keyCount.Int(c.count))
		}
		if c.resent {
			attrs = append(attrs, keyResent.Bool(true))
		}
		if c.reclaimed > 0 {
			attrs = append(attrs, keyReclaimed.Int64(c.reclaimed))
		}
		if o.fault() {
			attrs = append(attrs, keyErrorType.String(o.String()))
			if code, ok := t.redisStatus(err); ok {
				attrs = append(attrs, keyDBStatusCode.String(code))
			}
			sp.SetStatus(codes.Error, t.describe(err, o))
		}
		sp.SetAttributes(attrs...)
	}
	sp.End()
}

// describe is a fault's span status description: the error's text, but
// where the error names attributes (which spans do not hold unless
// WithTracedNames) the sentinel's text and the kind of cause.
func (t *telemetry) describe(err error, o outcome) string {
	if t.names || !namesIn(err) {
		return err.Error()
	}
	for _, s := range outcomeSentinels {
		if s.o == o {
			if cause := t.causeKind(err); cause != "" {
				return s.err.Error() + ": " + cause
			}
			return s.err.Error()
		}
	}
	return o.String()
}

// namesIn reports whether err's text may hold attribute names.
func namesIn(err error) bool {
	var ne *NamesError
	var se *sealError
	return errors.As(err, &ne) || errors.As(err, &se)
}

// causeKind names the kind of a fault's cause without its text.
func (t *telemetry) causeKind(err error) string {
	var nerr net.Error
	code, replied := t.redisStatus(err)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "context deadline exceeded"
	case errors.Is(err, context.Canceled):
		return "context canceled"
	case replied:
		return "redis replied " + code
	case errors.As(err, &nerr):
		if nerr.Timeout() {
			return "network timeout"
		}
		return "network error"
	}
	return ""
}

// redisStatus is the prefix of a Redis error reply in err's chain: the
// upper-case word Redis starts its errors with.
func (t *telemetry) redisStatus(err error) (string, bool) {
	if t.prefix == nil {
		return "", false
	}
	return t.prefix(err)
}
