package attrcache

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

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
	return Option{func(s *settings) error {
		if mp == nil {
			return invalidf("meter provider is nil")
		}
		s.tel.mp = mp
		return nil
	}}
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
