package rueidisstore_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/rueidis"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/rueidisstore"
)

func TestNewRefuses(t *testing.T) {
	if _, err := rueidisstore.New(nil); !errors.Is(err, attrcache.ErrInvalid) {
		t.Fatalf("New(nil) = %v, want ErrInvalid", err)
	}
	c := miniClient(t, miniredis.RunT(t))
	if _, err := rueidisstore.New(c, attrcache.WithNamespace("a{b}")); !errors.Is(err, attrcache.ErrInvalid) {
		t.Fatalf("a bad namespace: %v, want ErrInvalid", err)
	}
	if _, err := rueidisstore.New(c, attrcache.WithReplicaWait(-1, time.Second)); !errors.Is(err, attrcache.ErrInvalid) {
		t.Fatalf("WithReplicaWait(-1): %v, want ErrInvalid", err)
	}
	var log bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := rueidisstore.New(c, attrcache.WithNamespace("ok"), attrcache.WithCallTimeout(time.Second), attrcache.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	if st.Namespace() != "ok" {
		t.Fatalf("namespace %q", st.Namespace())
	}
	// New checks its options without a word to the application's log.
	if log.Len() > 0 {
		t.Fatalf("New logged %q", log.String())
	}
}

// TestMiniredis walks a session through its life on miniredis: scripts
// as EVALSHA, reads through a client that does not cache.
func TestMiniredis(t *testing.T) {
	mr := miniredis.RunT(t)
	st, err := rueidisstore.New(miniClient(t, mr))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	s, err := st.Start(ctx, attrcache.NewSessionID(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, "a", []byte("2")); !errors.Is(err, attrcache.ErrExists) {
		t.Fatalf("second Create: %v", err)
	}
	n, err := s.Incr(ctx, "n", 5)
	if err != nil || n != 5 {
		t.Fatalf("Incr = %d, %v", n, err)
	}
	e, err := s.Get(ctx, "a")
	if err != nil || string(e.Value) != "1" {
		t.Fatalf("Get = %v, %v", e, err)
	}
	if err := s.End(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "a"); !errors.Is(err, attrcache.ErrSessionNotFound) {
		t.Fatalf("Get after End: %v", err)
	}
	mr.Close()
	if err := st.Ping(ctx); !errors.Is(err, attrcache.ErrUnavailable) {
		t.Fatalf("Ping of a stopped server: %v, want ErrUnavailable", err)
	}
}

func TestOptions(t *testing.T) {
	o := rueidisstore.Options(rueidis.ClientOption{ConnWriteTimeout: 200 * time.Millisecond,
		Sentinel: rueidis.SentinelOption{MasterSet: "m"}})
	if o.PipelineMultiplex != -1 || o.Dialer.KeepAlive != 300*time.Millisecond || o.ConnWriteTimeout != 200*time.Millisecond ||
		o.CacheSizeEachConn <= 0 || o.Sentinel.TopologyRefreshInterval <= 0 {
		t.Fatalf("Options gave %+v", o)
	}
	if b := 2*o.Dialer.KeepAlive + 800*time.Millisecond; b != rueidisstore.PartitionBound || b >= 2*time.Second {
		t.Fatalf("PartitionBound %v", rueidisstore.PartitionBound)
	}
}
