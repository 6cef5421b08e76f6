package attrcache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
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
	opPing
	opIncr
	opSessions
	opEndSessions
	opPurgeUser
	numOps
)

// opNameText holds the operations as logs, spans and metrics name them.
var opNameText = [numOps]string{
	"start", "create", "create_many", "set", "set_many", "update", "update_many",
	"get", "get_many", "get_all", "exists", "exists_many", "names",
	"delete", "delete_many", "set_expiry", "set_expiry_many",
	"renew", "ttl", "end", "purge", "rotate", "ping",
	"incr", "sessions", "end_sessions", "purge_user",
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
	outcomeTooManySessions
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
	"too_many_attributes", "too_big", "no_cipher", "too_many_sessions",
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
	{ErrTooManySessions, outcomeTooManySessions},
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

// telSettings are what the telemetry options set.
type telSettings struct {
	tp    trace.TracerProvider // as given, nil: the global one
	mp    metric.MeterProvider // as given, nil: the global one
	names bool                 // WithTracedNames
}

// telemetry is a Store's tracer, meter and instruments.
type telemetry struct {
	telSettings

	tracer      trace.Tracer // nil: tracing off
	tracerShell bool         // tracer is the global one: off while no provider is installed
	meterOn     bool
	meterShell  bool

	duration                                   metric.Float64Histogram
	resends, reclaimed, corrupt, undecryptable metric.Int64Counter

	base   []attribute.KeyValue       // on every span and measurement
	prefix func(error) (string, bool) // the Redis error prefix in an error, from the backend
	log    *slog.Logger               // the Store's: whether a call may be logged

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
	info := st.be.Info()
	t.base = append(t.base, keyDBNamespace.String(strconv.Itoa(info.DB)))
	t.prefix = st.be.ErrorPrefix
	t.log = st.log
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
	if nc := info.Cache; nc != nil {
		opt := metric.WithAttributeSet(attribute.NewSet(t.base...))
		_, err = m.Int64ObservableCounter("attrcache.near_cache.hits", metric.WithUnit("{hit}"),
			metric.WithDescription("Reads the near cache answered."),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				o.Observe(int64(nc.Hits()), opt)
				return nil
			}))
		note(err)
		_, err = m.Int64ObservableCounter("attrcache.near_cache.misses", metric.WithUnit("{miss}"),
			metric.WithDescription("Reads the near cache sent on to Redis."),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				o.Observe(int64(nc.Misses()), opt)
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
