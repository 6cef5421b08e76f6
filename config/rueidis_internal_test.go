package config

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// TestRueidisSettingsRedacted: the settings handed to rueidisconfig never
// print their passwords, in any of fmt's forms.
func TestRueidisSettingsRedacted(t *testing.T) {
	s := rueidishook.Settings{Mode: ModeSentinel, Addrs: []string{"127.0.0.1:26379"}, Username: "app",
		Password: "pw-never-shown", SentinelPassword: "sentinel-pw-never-shown"}
	for _, form := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(form, s)
		if strings.Contains(out, "never-shown") || !strings.Contains(out, "[redacted]") || !strings.Contains(out, "127.0.0.1:26379") {
			t.Errorf("%s of Settings: %s", form, out)
		}
	}
}
