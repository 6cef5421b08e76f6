package attrcache

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestResendWindow: the window, how long after it began a write may reach
// Redis, follows the client's retry settings, at most 25 s.
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
		st, err := New(redis.NewClient(&o))
		if err != nil {
			t.Fatal(err)
		}
		if got := st.window; got != c.want {
			t.Errorf("options %+v: window %v, want %v", c.o, got, c.want)
		}
	}
}
