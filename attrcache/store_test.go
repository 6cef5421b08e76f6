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

// TestReplicaWaitCallTimeout: a call timeout that leaves no room for the
// replica wait is refused, naming both; without one the wait fits.
func TestReplicaWaitCallTimeout(t *testing.T) {
	if err := attrcache.CheckOptions(attrcache.WithReplicaWait(1, 2*time.Second)); err != nil {
		t.Errorf("WithReplicaWait(1, 2s) with the default call timeout: %v", err)
	}
	err := attrcache.CheckOptions(attrcache.WithReplicaWait(1, 2*time.Second), attrcache.WithCallTimeout(time.Second))
	if !errors.Is(err, attrcache.ErrInvalid) || !strings.Contains(err.Error(), "call timeout 1s") || !strings.Contains(err.Error(), "2s") {
		t.Errorf("WithCallTimeout(1s) under WithReplicaWait(1, 2s): %v, want ErrInvalid naming both", err)
	}
	if err := attrcache.CheckOptions(attrcache.WithCallTimeout(3*time.Second), attrcache.WithReplicaWait(1, 2*time.Second)); err != nil {
		t.Errorf("WithCallTimeout(3s) with WithReplicaWait(1, 2s): %v", err)
	}
	if err := attrcache.CheckOptions(attrcache.WithReplicaWait(1, 30*time.Second)); !errors.Is(err, attrcache.ErrInvalid) {
		t.Errorf("WithReplicaWait(1, 30s): %v, want ErrInvalid", err)
	}
}
