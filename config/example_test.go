package config_test

import (
	"fmt"

	"github.com/attrcache/attrcache/config"
)

func ExampleLoadWith() {
	cfg, err := config.LoadWith("example.yaml", []string{
		"ATTRCACHE_REDIS_ADDRS=10.0.0.1:7000,10.0.0.2:7000,10.0.0.3:7000",
		"ATTRCACHE_REDIS_PASSWORD=s3cret",
		"ATTRCACHE_SESSION_TTL=8h",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Redis.ResolvedMode(), cfg.Redis.Addrs)
	fmt.Println("password:", cfg.Redis.Password)
	fmt.Println("session ttl:", cfg.Store.SessionTTL)
	// Output:
	// cluster [10.0.0.1:7000 10.0.0.2:7000 10.0.0.3:7000]
	// password: [redacted]
	// session ttl: 8h0m0s
}

// Every problem is reported at once, values of the wrong form and values
// that mean something wrong alike, each naming its key and variable.
func ExampleLoadWith_errors() {
	_, err := config.LoadWith("", []string{
		"ATTRCACHE_REDIS_ADDRS=10.0.0.1:7000,10.0.0.2",
		"ATTRCACHE_REDIS_READ_TIMEOUT=30",
		"ATTRCACHE_LOG_LEVEL=trace",
	})
	fmt.Println(err)
	// Output:
	// config: redis.read_timeout: "30" has no unit; write a duration such as "30s" or "5m" (set by ATTRCACHE_REDIS_READ_TIMEOUT)
	// config: redis.addrs: item 1: "10.0.0.2" has no port (want host:port or a redis:// URL) (set by ATTRCACHE_REDIS_ADDRS)
	// config: log.level: "trace" is not one of debug, info, warn, error (set by ATTRCACHE_LOG_LEVEL)
}

// A URL from a Redis provider goes in redis.addrs as it is; its password
// never shows.
func ExampleAddrs() {
	cfg, err := config.LoadWith("", []string{
		"ATTRCACHE_REDIS_ADDRS=rediss://default:s3cretPW@redis.example.com:6380/2",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Redis.Addrs)
	fmt.Println(cfg.RedisAddrs(), cfg.Redis.ResolvedMode())
	// Output:
	// [rediss://default:[redacted]@redis.example.com:6380/2]
	// [redis.example.com:6380] single
}

// A misspelt variable is not an error, but Warnings names it, and the
// setting it most likely meant.
func ExampleConfig_Warnings() {
	cfg, err := config.LoadWith("", []string{"ATTRCACHE_REDIS_ADRS=10.0.0.1:6379"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, w := range cfg.Warnings() {
		fmt.Println(w)
	}
	// Output:
	// ATTRCACHE_REDIS_ADRS is not an attrcache setting and is ignored (did you mean ATTRCACHE_REDIS_ADDRS?)
}
