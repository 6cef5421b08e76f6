package redistest

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// Environment variables that steer the package.
const (
	// EnvServer names the redis-server binary to use instead of the one
	// found in PATH.
	EnvServer = "ATTRCACHE_REDIS_SERVER"
	// EnvRequire, when true, turns a missing redis-server into a test
	// failure instead of a skip.
	EnvRequire = "ATTRCACHE_REQUIRE_REDIS"
)

// Require returns the path of the redis-server binary: the value of
// ATTRCACHE_REDIS_SERVER when set, otherwise redis-server looked up in PATH.
// When no usable binary is found it skips the test, unless CI=true or
// ATTRCACHE_REQUIRE_REDIS=1 is set, in which case it fails the test: a CI
// run must not pass by skipping every real-Redis test.
func Require(t testing.TB) string {
	t.Helper()
	name := "redis-server"
	if v := os.Getenv(EnvServer); v != "" {
		name = v
	}
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if envTrue("CI") || envTrue(EnvRequire) {
		t.Fatalf("redistest: redis-server is required (CI or %s is set) but %q is not usable: %v; "+
			"install it (apt-get install redis-server) or point %s at the binary",
			EnvRequire, name, err, EnvServer)
	}
	t.Skip("redis-server not found: install it (apt-get install redis-server) to run the real-Redis tests")
	return ""
}

func envTrue(name string) bool {
	v, err := strconv.ParseBool(os.Getenv(name))
	return err == nil && v
}
