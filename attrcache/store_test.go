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
