package attrcache

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Telemetry: one span and one measurement per public call, through the
// OpenTelemetry API only. What they hold is documented on
// WithTracerProvider (spans) and WithMeterProvider (metrics), the options
// a user reads; the package documentation says what it costs and how it
// combines with go-redis's instrumentation.

// scopeName is the instrumentation scope of attrcache's tracer and meter.
const scopeName = "github.com/attrcache/attrcache/attrcache"

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
	return func(s *Store) error {
		if tp == nil {
			return invalidf("tracer provider is nil")
		}
		s.tel.tp = tp
		return nil
	}
}

// WithMeterProvider makes the Store record its metrics with mp instead of
// the global meter provider; a no-op provider turns metrics off. Without
// it the Store follows the global provider, including one installed
// after New.
//
// Every metric carries db.system.name ("redis"), attrcache.namespace and,
// when the client shows it, db.namespace; none carries a session digest,
// an attribute name or a value, so their cardinality stays low:
//
//	db.client.operation.duration     histogram, s: every public call, by
//	                                 db.operation.name and
//	                                 attrcache.outcome, with error.type on
//	                                 faults (see WithTracerProvider)
//	attrcache.resends                counter, {resend}: writes that Redis
//	                                 recognised as resent copies of a call
//	                                 that had already run
//	attrcache.reclaimed_records      counter, {record}: expired records the
//	                                 writes' bounded reclaim deleted
//	attrcache.corrupt_records        counter, {record}: records, or session
//	                                 keys, a call met that attrcache did
//	                                 not write
//	attrcache.undecryptable_records  counter, {record}: values the Cipher
//	                                 would not open
//	attrcache.near_cache.hits        observable counters, {hit} and {miss},
//	attrcache.near_cache.misses      with a NearCache: its Stats (which
//	                                 count every key the cache holds)
//
// The four counters are by db.operation.name too, and count what calls
// met: a corrupt record read three times counts three.
//
// The duration histogram takes the database convention's name because an
// attrcache call is a database client operation: one round trip, as a
// stored procedure call is. Its db.operation.name values (attrcache's, in
// lower case) never equal a Redis command's, and its instrumentation
// scope is this package's import path, so it is told apart from any
// command-level measurement (go-redis's redisotel records connection
// metrics, not this one). Its advisory buckets add sub-millisecond ones
// to the convention's 1 ms to 10 s, since most calls take well under a
// millisecond.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(s *Store) error {
		if mp == nil {
			return invalidf("meter provider is nil")
		}
		s.tel.mp = mp
		return nil
	}
}

// WithTracedNames adds the attribute names a call names to its span, as
// attrcache.attribute.names (at most 32), and lets fault descriptions
// keep them. Names are off by default: in some deployments a name says
// something about a user (a flag, a product). Values never reach a span.
func WithTracedNames() Option {
	return func(s *Store) error {
		s.tel.names = true
		return nil
	}
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
	// keyNewSession is the digest of the id a Rotate moved the session to.
	keyNewSession = attribute.Key("attrcache.session.new_digest")
	keyCount      = attribute.Key("attrcache.attribute.count")
	keyNames      = attribute.Key("attrcache.attribute.names")
	keyOutcome    = attribute.Key("attrcache.outcome")
	keyResent     = attribute.Key("attrcache.resent")
	keyReclaimed  = attribute.Key("attrcache.reclaimed")
)

// op is a public operation.
type op uint8

const (
	opStartCall op = iota
	opCreate
	opCreateMany
	opSet
	opSetMany
	opUpdate
	opUpdateMany
	opGet
	opGetMany
	opGetAll
	opExists
	opExistsMany
	opNames
	opDelete
	opDeleteMany
	opSetExpiry
	opSetExpiryMany
	opRenewCall
	opTTL
	opEndCall
	opPurge
	opRotate
	opInspect
	opPing
	numOps
)

// opNameText holds the operations as logs, spans and metrics name them.
var opNameText = [numOps]string{
	"start", "create", "create_many", "set", "set_many", "update", "update_many",
	"get", "get_many", "get_all", "exists", "exists_many", "names",
	"delete", "delete_many", "set_expiry", "set_expiry_many",
	"renew", "ttl", "end", "purge", "rotate", "inspect", "ping",
}

// spanNames are built once: a span name made per call would allocate.
var spanNames = func() (n [numOps]string) {
	for i, name := range opNameText {
		n[i] = "attrcache." + name
	}
	return n
}()

func (o op) String() string { return opNameText[o] }

// outcome is how a call ended: ok, or which sentinel its error is.
type outcome uint8

const (
	outcomeOK outcome = iota
	outcomeNotFound
	outcomeExists
	outcomeSessionNotFound
	outcomeSessionExists
	outcomeInvalid
	outcomeTooMany
	outcomeTooBig
	outcomeNoCipher
	// Faults from here on.
	outcomeUnavailable
	outcomeNotReplicated
	outcomeCorrupt
	outcomeDecrypt
	outcomeOther // an error that is no sentinel's: never returned, but named if it is
	numOutcomes
)

var outcomeNames = [numOutcomes]string{
	"ok", "not_found", "exists", "session_not_found", "session_exists", "invalid",
	"too_many_attributes", "too_big", "no_cipher",
	"unavailable", "not_replicated", "corrupt", "decrypt", "other",
}

func (o outcome) String() string { return outcomeNames[o] }

// fault reports outcomes that are faults, not answers.
func (o outcome) fault() bool { return o >= outcomeUnavailable }

// outcomeSentinels maps sentinels to outcomes, faults first: an error
// that joins a fault with an answer (a rotation that failed, then failed
// to thaw) is the fault.
var outcomeSentinels = []struct {
	err error
	o   outcome
}{
	{ErrUnavailable, outcomeUnavailable},
	{ErrNotReplicated, outcomeNotReplicated},
	{ErrCorrupt, outcomeCorrupt},
	{ErrDecrypt, outcomeDecrypt},
	{ErrInvalid, outcomeInvalid},
	{ErrNoCipher, outcomeNoCipher},
	{ErrSessionNotFound, outcomeSessionNotFound},
	{ErrSessionExists, outcomeSessionExists},
	{ErrNotFound, outcomeNotFound},
	{ErrExists, outcomeExists},
	{ErrTooManyAttributes, outcomeTooMany},
	{ErrTooBig, outcomeTooBig},
}

func outcomeOf(err error) outcome {
	if err == nil {
		return outcomeOK
	}
	for _, s := range outcomeSentinels {
		if errors.Is(err, s.err) {
			return s.o
		}
	}
	return outcomeOther
}

// The global providers as otel starts: delegating shells that do nothing
// until the application installs a provider. Seeing them tells that no
// one listens. Should a package initialised before this one have
// installed a provider already, these are that provider, which is no
// shell: then nil, and every call asks the provider.
var (
	unsetTracerProvider = shell(otel.GetTracerProvider())
	unsetMeterProvider  = shell(otel.GetMeterProvider())
)

func shell(p any) any {
	switch fmt.Sprintf("%T", p) {
	case "*global.tracerProvider", "*global.meterProvider":
		return p
	}
	return nil
}

// telemetry is a Store's tracer, meter and instruments.
type telemetry struct {
	tp    trace.TracerProvider // as given, nil: the global one
	mp    metric.MeterProvider // as given, nil: the global one
	names bool                 // WithTracedNames

	tracer      trace.Tracer // nil: tracing off
	tracerShell bool         // tracer is the global one: off while no provider is installed
	meterOn     bool
	meterShell  bool

	duration                                   metric.Float64Histogram
	resends, reclaimed, corrupt, undecryptable metric.Int64Counter

	base []attribute.KeyValue // on every span and measurement

	// Measurement options by operation and outcome, and by operation for
	// the counters, made on first use: an attribute set built per call
	// would allocate.
	callSets  [numOps][numOutcomes]atomic.Pointer[measureOpts]
	countSets [numOps]atomic.Pointer[measureOpts]
}

type measureOpts struct {
	rec []metric.RecordOption
	add []metric.AddOption
}

// durationBuckets are the convention's (1 ms to 10 s) with finer ones
// below a millisecond, where a call on a near cache or a local Redis
// lands.
var durationBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10}

// init sets up the tracer and instruments once the options are applied.
func (t *telemetry) init(st *Store) {
	t.base = append(t.base, keyDBSystem.String("redis"))
	if db, ok := dbIndex(st.rdb); ok {
		t.base = append(t.base, keyDBNamespace.String(strconv.Itoa(db)))
	}
	t.base = append(t.base, keyNamespace.String(st.ns))

	tp := t.tp
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	switch tp.(type) {
	case tracenoop.TracerProvider, *tracenoop.TracerProvider:
	default:
		t.tracer = tp.Tracer(scopeName)
		t.tracerShell = tp == unsetTracerProvider
	}

	mp := t.mp
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	switch mp.(type) {
	case metricnoop.MeterProvider, *metricnoop.MeterProvider:
		return
	}
	t.meterOn, t.meterShell = true, mp == unsetMeterProvider
	m := mp.Meter(scopeName)
	var errs []error
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	t.duration, err = m.Float64Histogram("db.client.operation.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of attrcache calls."), metric.WithExplicitBucketBoundaries(durationBuckets...))
	note(err)
	t.resends, err = m.Int64Counter("attrcache.resends", metric.WithUnit("{resend}"),
		metric.WithDescription("Writes that Redis recognised as resent copies of a call that had already run."))
	note(err)
	t.reclaimed, err = m.Int64Counter("attrcache.reclaimed_records", metric.WithUnit("{record}"),
		metric.WithDescription("Expired attribute records deleted by the writes' reclaim steps."))
	note(err)
	t.corrupt, err = m.Int64Counter("attrcache.corrupt_records", metric.WithUnit("{record}"),
		metric.WithDescription("Records or session keys met that attrcache did not write."))
	note(err)
	t.undecryptable, err = m.Int64Counter("attrcache.undecryptable_records", metric.WithUnit("{record}"),
		metric.WithDescription("Encrypted values the Cipher would not open."))
	note(err)
	if nc := st.near; nc != nil {
		opt := metric.WithAttributeSet(attribute.NewSet(t.base...))
		_, err = m.Int64ObservableCounter("attrcache.near_cache.hits", metric.WithUnit("{hit}"),
			metric.WithDescription("Reads the near cache answered."),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				o.Observe(int64(nc.Stats().Hits), opt)
				return nil
			}))
		note(err)
		_, err = m.Int64ObservableCounter("attrcache.near_cache.misses", metric.WithUnit("{miss}"),
			metric.WithDescription("Reads the near cache sent on to Redis."),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				o.Observe(int64(nc.Stats().Misses), opt)
				return nil
			}))
		note(err)
	}
	if err := errors.Join(errs...); err != nil {
		// The API hands back working instruments with the error: report
		// it the way OpenTelemetry reports its own, and carry on.
		otel.Handle(err)
	}
}

// dbIndex is the client's database index, when the client shows it.
func dbIndex(rdb Client) (int, bool) {
	switch c := rdb.(type) {
	case *redis.Client:
		return c.Options().DB, true
	case *redis.Ring:
		return c.Options().DB, true
	case *redis.ClusterClient:
		return 0, true // a cluster has database 0 only
	}
	return 0, false
}

// tracing reports whether calls are traced now.
func (t *telemetry) tracing() bool {
	if t.tracer == nil {
		return false
	}
	if !t.tracerShell {
		return true
	}
	p := otel.GetTracerProvider()
	if p == unsetTracerProvider {
		return false
	}
	_, off := p.(tracenoop.TracerProvider)
	return !off
}

// metering reports whether calls are measured now.
func (t *telemetry) metering() bool {
	if !t.meterOn {
		return false
	}
	if !t.meterShell {
		return true
	}
	p := otel.GetMeterProvider()
	if p == unsetMeterProvider {
		return false
	}
	_, off := p.(metricnoop.MeterProvider)
	return !off
}

// begin starts the call's clock and, when traced, its span, a child of
// the caller's; the returned context carries the span down to go-redis.
// sess is the session's digest, empty for Store-wide calls.
func (t *telemetry) begin(ctx context.Context, c *call, sess string) context.Context {
	c.start = time.Now()
	if !t.tracing() {
		return ctx
	}
	attrs := make([]attribute.KeyValue, 0, len(t.base)+4)
	attrs = append(attrs, t.base...)
	attrs = append(attrs, keyDBOperation.String(c.op.String()))
	if sess != "" {
		attrs = append(attrs, keySession.String(sess))
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
			if code, ok := redisStatus(err); ok {
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
			if cause := causeKind(err); cause != "" {
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
func causeKind(err error) string {
	var rerr redis.Error
	var nerr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "context deadline exceeded"
	case errors.Is(err, context.Canceled):
		return "context canceled"
	case errors.As(err, &rerr):
		if code, ok := redisStatus(err); ok {
			return "redis replied " + code
		}
		return "redis replied an error"
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
func redisStatus(err error) (string, bool) {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return "", false
	}
	msg := rerr.Error()
	code, _, _ := strings.Cut(msg, " ")
	if code == "" || len(code) > 32 || strings.IndexFunc(code, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
		return "", false
	}
	return code, true
}

// record measures the call.
func (t *telemetry) record(ctx context.Context, c *call, o outcome, d time.Duration, err error) {
	t.duration.Record(ctx, d.Seconds(), t.callOpts(c.op, o).rec...)
	var corrupt, undecryptable int
	if err != nil {
		corrupt, undecryptable = recordsIn(err, ErrCorrupt), recordsIn(err, ErrDecrypt)
	}
	if !c.resent && c.reclaimed == 0 && corrupt == 0 && undecryptable == 0 {
		return
	}
	opts := t.countOpts(c.op).add
	if c.resent {
		t.resends.Add(ctx, 1, opts...)
	}
	if c.reclaimed > 0 {
		t.reclaimed.Add(ctx, c.reclaimed, opts...)
	}
	if corrupt > 0 {
		t.corrupt.Add(ctx, int64(corrupt), opts...)
	}
	if undecryptable > 0 {
		t.undecryptable.Add(ctx, int64(undecryptable), opts...)
	}
}

func (t *telemetry) callOpts(o op, out outcome) *measureOpts {
	p := &t.callSets[o][out]
	if m := p.Load(); m != nil {
		return m
	}
	attrs := append(t.base[:len(t.base):len(t.base)], keyDBOperation.String(o.String()), keyOutcome.String(out.String()))
	if out.fault() {
		attrs = append(attrs, keyErrorType.String(out.String()))
	}
	m := newMeasureOpts(attrs)
	p.CompareAndSwap(nil, m)
	return p.Load()
}

func (t *telemetry) countOpts(o op) *measureOpts {
	p := &t.countSets[o]
	if m := p.Load(); m != nil {
		return m
	}
	m := newMeasureOpts(append(t.base[:len(t.base):len(t.base)], keyDBOperation.String(o.String())))
	p.CompareAndSwap(nil, m)
	return p.Load()
}

func newMeasureOpts(attrs []attribute.KeyValue) *measureOpts {
	opt := metric.WithAttributeSet(attribute.NewSet(attrs...))
	return &measureOpts{rec: []metric.RecordOption{opt}, add: []metric.AddOption{opt}}
}

// recordsIn counts the records err reports under sentinel: the names of
// each *NamesError of it, or one for an error of it that names none (a
// session key attrcache cannot read).
func recordsIn(err error, sentinel error) int {
	if !errors.Is(err, sentinel) {
		return 0
	}
	n := 0
	var walk func(error)
	walk = func(e error) {
		if ne, ok := e.(*NamesError); ok && ne.Err == sentinel {
			n += len(ne.Names)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			if next := u.Unwrap(); next != nil {
				walk(next)
			}
		case interface{ Unwrap() []error }:
			for _, next := range u.Unwrap() {
				walk(next)
			}
		}
	}
	walk(err)
	if n == 0 {
		return 1
	}
	return n
}

// sealError is a Cipher's failure to seal a value: a fault (a KMS out of
// reach, say), reported as ErrUnavailable with the attribute's name.
type sealError struct {
	name  string
	cause error
}

func (e *sealError) Error() string {
	return "encrypting " + strconv.Quote(e.name) + ": " + e.cause.Error()
}
func (e *sealError) Unwrap() error { return e.cause }
