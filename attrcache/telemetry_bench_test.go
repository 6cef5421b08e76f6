package attrcache

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/attrcache/attrcache/test/redistest"
)

// The cost of telemetry per call, on a real redis-server (miniredis would
// make the round trip, the denominator, unrealistically slow and noisy).
// Run:
//
//	go test ./attrcache -run '^$' -bench Telemetry -benchmem -count 6
//
// BenchmarkGetTelemetry measures a whole Get in each configuration:
//
//	off             the instrumentation taken out of the Store (tracer nil,
//	                metrics off): what "compiled out" would cost
//	no-provider     no option given and no global provider installed:
//	                what a user who does nothing pays
//	sdk-noop        the OpenTelemetry SDK for traces (always sampled,
//	                batched to an exporter that drops everything) and for
//	                metrics (a reader that is never collected)
//	sdk-unsampled   the same SDKs, with a sampler that never samples:
//	                spans are made but not recorded
//
// The difference between off and no-provider is within the noise of a
// round trip, so BenchmarkTelemetryBookkeeping measures that difference
// alone: the begin and finish every call runs, with nothing else.

// benchStore starts a redis-server and returns a Store on it with one
// session holding attribute "a".
func benchStore(b *testing.B, opts ...Option) (*Store, *Session) {
	b.Helper()
	srv := redistest.StartServer(b)
	rdb := redis.NewClient(srv.Options())
	b.Cleanup(func() { _ = rdb.Close() })
	st, err := New(rdb, opts...)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	s, err := st.Start(ctx, "sid-bench", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Create(ctx, "a", []byte("a value of some thirty bytes..")); err != nil {
		b.Fatal(err)
	}
	return st, s
}

// sdkProviders are SDK providers whose output goes nowhere.
func sdkProviders(b *testing.B, sampler sdktrace.Sampler) []Option {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()), sdktrace.WithSampler(sampler))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	return []Option{WithTracerProvider(tp), WithMeterProvider(mp)}
}

func BenchmarkGetTelemetry(b *testing.B) {
	requireUnsetGlobals(b)
	cases := []struct {
		name  string
		setup func(b *testing.B) []Option
		off   bool
	}{
		{"off", func(*testing.B) []Option { return nil }, true},
		{"no-provider", func(*testing.B) []Option { return nil }, false},
		{"sdk-noop", func(b *testing.B) []Option { return sdkProviders(b, sdktrace.AlwaysSample()) }, false},
		{"sdk-unsampled", func(b *testing.B) []Option { return sdkProviders(b, sdktrace.NeverSample()) }, false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			st, s := benchStore(b, c.setup(b)...)
			if c.off {
				instrumentationOff(st)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Get(ctx, "a"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTelemetryBookkeeping measures begin and finish alone, which
// every call runs: with no provider this is all telemetry costs a call.
func BenchmarkTelemetryBookkeeping(b *testing.B) {
	requireUnsetGlobals(b)
	for _, c := range []struct {
		name  string
		setup func(b *testing.B) []Option
		off   bool
	}{
		{"off", func(*testing.B) []Option { return nil }, true},
		{"no-provider", func(*testing.B) []Option { return nil }, false},
		{"sdk-noop", func(b *testing.B) []Option { return sdkProviders(b, sdktrace.AlwaysSample()) }, false},
		{"sdk-unsampled", func(b *testing.B) []Option { return sdkProviders(b, sdktrace.NeverSample()) }, false},
		{"sdk-traces-only", func(b *testing.B) []Option {
			return append(sdkProviders(b, sdktrace.AlwaysSample())[:1], WithMeterProvider(metricnoop.NewMeterProvider()))
		}, false},
		{"sdk-metrics-only", func(b *testing.B) []Option {
			return append(sdkProviders(b, sdktrace.AlwaysSample())[1:], WithTracerProvider(tracenoop.NewTracerProvider()))
		}, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
			b.Cleanup(func() { _ = rdb.Close() })
			st, err := New(rdb, c.setup(b)...)
			if err != nil {
				b.Fatal(err)
			}
			if c.off {
				instrumentationOff(st)
			}
			sess := st.Session("sid-bench")
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				c := call{op: opGet, name: "a"}
				cctx := sess.store.tel.begin(ctx, &c, &sess.owner)
				_ = sess.store.finish(cctx, &c, &sess.owner, nil)
			}
		})
	}
}
