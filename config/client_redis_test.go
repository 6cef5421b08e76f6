package config_test

// Tests that build each client shape from a configuration and run a
// command through it against real redis-server processes (see
// test/redistest). They skip when redis-server is not installed, unless
// CI or ATTRCACHE_REQUIRE_REDIS is set.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/config"
	"github.com/attrcache/attrcache/test/redistest"
)

// load builds a Config from environment entries only, as a deployment
// would set them.
func load(t *testing.T, environ ...string) *config.Config {
	t.Helper()
	c, err := config.LoadWith("", append(environ, "ATTRCACHE_REDIS_DIAL_TIMEOUT=2s"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func connect(t *testing.T, c *config.Config) redis.UniversalClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rdb, err := c.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// setGet writes and reads back n keys, which land on different slots of
// a cluster.
func setGet(t *testing.T, rdb redis.UniversalClient, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range n {
		key := fmt.Sprintf("config-test:%d", i)
		if err := rdb.Set(ctx, key, "v"+strconv.Itoa(i), time.Minute).Err(); err != nil {
			t.Fatalf("SET %s: %v", key, err)
		}
		got, err := rdb.Get(ctx, key).Result()
		if err != nil || got != "v"+strconv.Itoa(i) {
			t.Fatalf("GET %s = %q, %v", key, got, err)
		}
	}
}

// connectFails checks that Connect refuses c, with an error containing
// want, and returns the error.
func connectFails(t *testing.T, c *config.Config, want string) error {
	t.Helper()
	c.Redis.MaxRetries = 0
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rdb, err := c.Connect(ctx)
	if err == nil {
		_ = rdb.Close()
		t.Fatalf("Connect succeeded, want an error containing %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("Connect error %q does not contain %q", err, want)
	}
	return err
}

func TestRedisSingleNodeACL(t *testing.T) {
	srv := redistest.StartServer(t, redistest.WithACLUser("app", "app-pass"))
	c := load(t,
		"ATTRCACHE_REDIS_ADDRS="+srv.Addr(),
		"ATTRCACHE_REDIS_USERNAME=app",
		"ATTRCACHE_REDIS_PASSWORD=app-pass",
		"ATTRCACHE_REDIS_DB=2",
	)
	rdb := connect(t, c)
	if _, ok := rdb.(*redis.Client); !ok {
		t.Fatalf("got %T", rdb)
	}
	setGet(t, rdb, 3)

	// The database setting reached the server: the key is in db 2.
	ctx := context.Background()
	other := srv.Options()
	other.DB = 2
	direct := redis.NewClient(other)
	defer direct.Close()
	if got, err := direct.Get(ctx, "config-test:0").Result(); err != nil || got != "v0" {
		t.Errorf("db 2 holds %q, %v", got, err)
	}

	// Refused credentials are an authentication failure, not
	// "unreachable", and the error holds no password.
	wrong := load(t, "ATTRCACHE_REDIS_ADDRS="+srv.Addr(), "ATTRCACHE_REDIS_USERNAME=app", "ATTRCACHE_REDIS_PASSWORD=nope-pw-never-shown")
	err := connectFails(t, wrong, "WRONGPASS")
	if !errors.Is(err, config.ErrAuth) || errors.Is(err, config.ErrUnreachable) || !strings.Contains(err.Error(), "authentication failed at "+srv.Addr()) ||
		strings.Contains(err.Error(), "nope-pw-never-shown") {
		t.Errorf("wrong password: %v", err)
	}
	anonymous := load(t, "ATTRCACHE_REDIS_ADDRS="+srv.Addr())
	if err := connectFails(t, anonymous, "NOAUTH"); !errors.Is(err, config.ErrAuth) {
		t.Errorf("no password: %v", err)
	}
	wrongURL := load(t, "ATTRCACHE_REDIS_ADDRS=redis://app:nope-pw-never-shown@"+srv.Addr())
	if err := connectFails(t, wrongURL, "WRONGPASS"); !errors.Is(err, config.ErrAuth) ||
		!strings.Contains(err.Error(), "redis.addrs URL") || strings.Contains(err.Error(), "nope-pw-never-shown") {
		t.Errorf("wrong password in a URL: %v", err)
	}
}

// TestRedisURL connects with a URL as a provider hands it out: user,
// password and database in the URL, with and without a password.
func TestRedisURL(t *testing.T) {
	srv := redistest.StartServer(t, redistest.WithACLUser("app", "app-pass"))
	c := load(t, "ATTRCACHE_REDIS_ADDRS=redis://app:app-pass@"+srv.Addr()+"/3")
	setGet(t, connect(t, c), 3)
	other := srv.Options()
	other.DB = 3
	direct := redis.NewClient(other)
	defer direct.Close()
	if got, err := direct.Get(context.Background(), "config-test:0").Result(); err != nil || got != "v0" {
		t.Errorf("db 3 holds %q, %v", got, err)
	}
	if s := c.String(); strings.Contains(s, "app-pass") || !strings.Contains(s, "[redacted]") {
		t.Errorf("String() = %s", s)
	}

	// The user in the URL, the password from its own key.
	setGet(t, connect(t, load(t, "ATTRCACHE_REDIS_ADDRS=redis://app@"+srv.Addr(), "ATTRCACHE_REDIS_PASSWORD=app-pass")), 1)

	// Without any password, a server without ACLs.
	open := redistest.StartServer(t)
	setGet(t, connect(t, load(t, "ATTRCACHE_REDIS_ADDRS=redis://"+open.Addr())), 1)
}

func TestConnectUnreachable(t *testing.T) {
	c := load(t, "ATTRCACHE_REDIS_ADDRS=127.0.0.1:"+strconv.Itoa(freeTCPPort(t)), "ATTRCACHE_REDIS_DIAL_TIMEOUT=500ms")
	err := connectFails(t, c, "connection refused")
	if !errors.Is(err, config.ErrUnreachable) || errors.Is(err, config.ErrAuth) || !strings.Contains(err.Error(), c.RedisAddrs()[0]+" (single)") {
		t.Errorf("closed port: %v", err)
	}
}

func TestRedisCluster(t *testing.T) {
	cl := redistest.StartCluster(t, redistest.WithACLUser("app", "app-pass"))
	c := load(t,
		"ATTRCACHE_REDIS_ADDRS="+strings.Join(cl.Addrs(), ","),
		"ATTRCACHE_REDIS_USERNAME=app",
		"ATTRCACHE_REDIS_PASSWORD=app-pass",
	)
	if c.Redis.ResolvedMode() != config.ModeCluster {
		t.Fatalf("mode %s", c.Redis.ResolvedMode())
	}
	rdb := connect(t, c)
	if _, ok := rdb.(*redis.ClusterClient); !ok {
		t.Fatalf("got %T", rdb)
	}
	setGet(t, rdb, 30)

	// One seed node is enough in cluster mode.
	seed := load(t,
		"ATTRCACHE_REDIS_MODE=cluster",
		"ATTRCACHE_REDIS_ADDRS="+cl.Addrs()[0],
		"ATTRCACHE_REDIS_USERNAME=app",
		"ATTRCACHE_REDIS_PASSWORD=app-pass",
	)
	setGet(t, connect(t, seed), 30)
}

func TestRedisSentinel(t *testing.T) {
	sn := redistest.StartSentinel(t, redistest.WithACLUser("app", "app-pass"))
	c := load(t,
		"ATTRCACHE_REDIS_ADDRS="+strings.Join(sn.SentinelAddrs(), ","),
		"ATTRCACHE_REDIS_MASTER_NAME="+sn.MasterName(),
		"ATTRCACHE_REDIS_USERNAME=app",
		"ATTRCACHE_REDIS_PASSWORD=app-pass",
	)
	rdb := connect(t, c)
	if _, ok := rdb.(*redis.Client); !ok {
		t.Fatalf("got %T", rdb)
	}
	setGet(t, rdb, 3)

	// The write went to the master the sentinels name.
	ctx := context.Background()
	master := redis.NewClient(&redis.Options{Addr: sn.MasterAddr(), Username: "app", Password: "app-pass"})
	defer master.Close()
	if got, err := master.Get(ctx, "config-test:0").Result(); err != nil || got != "v0" {
		t.Errorf("master holds %q, %v", got, err)
	}

	unknown := load(t,
		"ATTRCACHE_REDIS_ADDRS="+strings.Join(sn.SentinelAddrs(), ","),
		"ATTRCACHE_REDIS_MASTER_NAME=no-such-master",
		"ATTRCACHE_REDIS_USERNAME=app",
		"ATTRCACHE_REDIS_PASSWORD=app-pass",
	)
	connectFails(t, unknown, "sentinels")
}

// TestRedisTLS runs a server with a TLS port that requires a client
// certificate, using certificates made by the test.
func TestRedisTLS(t *testing.T) {
	pki := newTestPKI(t)
	tlsPort := freeTCPPort(t)
	srv := redistest.StartServer(t,
		redistest.WithACLUser("app", "app-pass"),
		redistest.WithArgs(
			"--tls-port", strconv.Itoa(tlsPort),
			"--tls-cert-file", pki.CertFile,
			"--tls-key-file", pki.KeyFile,
			"--tls-ca-cert-file", pki.CAFile,
			"--tls-auth-clients", "yes",
		))
	addr := "127.0.0.1:" + strconv.Itoa(tlsPort)
	base := []string{
		"ATTRCACHE_REDIS_ADDRS=" + addr,
		"ATTRCACHE_REDIS_USERNAME=app",
		"ATTRCACHE_REDIS_PASSWORD=app-pass",
		"ATTRCACHE_REDIS_TLS_ENABLED=true",
		"ATTRCACHE_REDIS_TLS_CA_FILE=" + pki.CAFile,
	}
	withCert := append(base[:len(base):len(base)],
		"ATTRCACHE_REDIS_TLS_CERT_FILE="+pki.CertFile,
		"ATTRCACHE_REDIS_TLS_KEY_FILE="+pki.KeyFile,
	)

	setGet(t, connect(t, load(t, withCert...)), 3)
	setGet(t, connect(t, load(t, append(withCert, "ATTRCACHE_REDIS_TLS_SERVER_NAME=localhost")...)), 1)

	// The same key is visible on the plain port: one server.
	if got, err := srv.Client(t).Get(context.Background(), "config-test:0").Result(); err != nil || got != "v0" {
		t.Errorf("plain port reads %q, %v", got, err)
	}

	// A rediss:// URL turns TLS on by itself, with the same CA and
	// client certificate, and the credentials in the URL.
	rediss := load(t,
		"ATTRCACHE_REDIS_ADDRS=rediss://app:app-pass@"+addr,
		"ATTRCACHE_REDIS_TLS_CA_FILE="+pki.CAFile,
		"ATTRCACHE_REDIS_TLS_CERT_FILE="+pki.CertFile,
		"ATTRCACHE_REDIS_TLS_KEY_FILE="+pki.KeyFile,
	)
	setGet(t, connect(t, rediss), 1)
	// The same URL as redis:// speaks plain text to a TLS port.
	plain := load(t, "ATTRCACHE_REDIS_ADDRS=redis://app:app-pass@"+addr)
	plain.Redis.DialTimeout = time.Second
	plain.Redis.ReadTimeout = time.Second
	connectFails(t, plain, "")

	// The server name is checked against the certificate.
	connectFails(t, load(t, append(withCert, "ATTRCACHE_REDIS_TLS_SERVER_NAME=wrong.example")...), "certificate")
	// The server wants a client certificate.
	connectFails(t, load(t, base...), "")
	// Without the CA the server's certificate is not trusted.
	noCA := load(t, withCert...)
	noCA.Redis.TLS.CAFile = ""
	connectFails(t, noCA, "certificate")
}

// freeTCPPort returns a loopback port that was free a moment ago.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
