package config_test

import (
	"fmt"

	"github.com/attrcache/attrcache/config"
)

func ExampleLoadWith() {
	cfg, err := config.LoadWith("example.yaml", []string{
		"ATTRCACHE_REDIS_ADDRS=10.0.0.1:7000,10.0.0.2:7000,10.0.0.3:7000",
		"ATTRCACHE_REDIS_PASSWORD=s3cret",
		"ATTRCACHE_ATTRCACHE_SESSION_TTL=8h",
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

func ExampleLoadWith_errors() {
	_, err := config.LoadWith("", []string{
		"ATTRCACHE_REDIS_ADDRS=10.0.0.1:7000,10.0.0.2",
		"ATTRCACHE_REDIS_READ_TIMEOUT=30",
	})
	fmt.Println(err)
	_, err = config.LoadWith("", []string{
		"ATTRCACHE_REDIS_ADDRS=10.0.0.1:7000,10.0.0.2",
		"ATTRCACHE_LOG_LEVEL=trace",
	})
	fmt.Println(err)
	// Output:
	// config: redis.read_timeout: "30" has no unit; write a duration such as "30s" or "5m" (set by ATTRCACHE_REDIS_READ_TIMEOUT)
	// config: redis.addrs: item 1: "10.0.0.2" has no port (want host:port) (set by ATTRCACHE_REDIS_ADDRS)
	// config: log.level: "trace" is not one of debug, info, warn, error (set by ATTRCACHE_LOG_LEVEL)
}
