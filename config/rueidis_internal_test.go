package config

import (
	"context"
	"errors"
	"testing"

	"github.com/attrcache/attrcache/config/internal/rueidishook"
)

// TestOpenStoreWithoutRueidisconfig: redis.client rueidis in a binary
// that does not link package rueidisconfig says what to import.
func TestOpenStoreWithoutRueidisconfig(t *testing.T) {
	saved := rueidishook.Open
	rueidishook.Open = nil
	defer func() { rueidishook.Open = saved }()
	c, err := LoadWith("", []string{"ATTRCACHE_REDIS_CLIENT=rueidis"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.OpenStore(context.Background(), nil); !errors.Is(err, ErrNoRueidis) {
		t.Fatalf("OpenStore: %v, want ErrNoRueidis", err)
	}
}
