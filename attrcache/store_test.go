package attrcache_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
)

// TestReplicaWaitTimeout: a WithReplicaWait timeout the client's read
// timeout would cut short is refused at New, naming both, instead of
// making every write hang and fail with a raw i/o timeout.
func TestReplicaWaitTimeout(t *testing.T) {
	for _, c := range []struct {
		name string
		rdb  attrcache.Client
	}{
		{"client", redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ReadTimeout: time.Second})},
		{"cluster", redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}, ReadTimeout: time.Second})},
		{"default read timeout", redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})},
	} {
		_, err := attrcache.New(c.rdb, attrcache.WithReplicaWait(1, 5*time.Second))
		if !errors.Is(err, attrcache.ErrInvalid) || !strings.Contains(err.Error(), "ReadTimeout") {
			t.Errorf("%s: WithReplicaWait(1, 5s) over the read timeout: %v", c.name, err)
		}
		if _, err := attrcache.New(c.rdb, attrcache.WithReplicaWait(1, 500*time.Millisecond)); err != nil {
			t.Errorf("%s: WithReplicaWait(1, 500ms): %v", c.name, err)
		}
	}
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
	if _, err := attrcache.New(ring, attrcache.WithReplicaWait(1, 500*time.Millisecond)); !errors.Is(err, attrcache.ErrInvalid) {
		t.Errorf("WithReplicaWait on a ring: %v", err)
	}
}

// TestResendWindow: the window follows the client's retry settings, and
// WithResendWindow takes 1s to 25s.
func TestResendWindow(t *testing.T) {
	for _, c := range []struct {
		o    redis.Options
		want time.Duration
	}{
		{redis.Options{}, 23 * time.Second}, // go-redis's defaults: 4 x 5s + 3 x 1s
		{redis.Options{ReadTimeout: 3 * time.Second}, 15 * time.Second},
		{redis.Options{MaxRetries: -1, ReadTimeout: 2 * time.Second}, 2 * time.Second},
		{redis.Options{MaxRetries: 1, ReadTimeout: 200 * time.Millisecond, MaxRetryBackoff: -1}, time.Second},
		{redis.Options{MaxRetries: 10, ReadTimeout: 5 * time.Second}, 25 * time.Second},
		{redis.Options{ReadTimeout: -1}, 25 * time.Second},
	} {
		o := c.o
		o.Addr = "127.0.0.1:1"
		st, err := attrcache.New(redis.NewClient(&o))
		if err != nil {
			t.Fatal(err)
		}
		if got := st.ResendWindow(); got != c.want {
			t.Errorf("options %+v: window %v, want %v", c.o, got, c.want)
		}
	}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	for _, bad := range []time.Duration{0, 999 * time.Millisecond, 26 * time.Second} {
		if _, err := attrcache.New(rdb, attrcache.WithResendWindow(bad)); !errors.Is(err, attrcache.ErrInvalid) {
			t.Errorf("WithResendWindow(%v): %v", bad, err)
		}
	}
	st, err := attrcache.New(rdb, attrcache.WithResendWindow(2*time.Second))
	if err != nil || st.ResendWindow() != 2*time.Second {
		t.Fatalf("WithResendWindow(2s): %v, %v", st, err)
	}
}
