package config_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/config"
)

func newClient(t *testing.T, c *config.Config) redis.UniversalClient {
	t.Helper()
	rdb, err := c.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func TestNewClientSingle(t *testing.T) {
	c := config.Default()
	c.Redis.Addrs = []string{"10.1.2.3:6380"}
	c.Redis.Username = "app"
	c.Redis.Password = "pw"
	c.Redis.DB = 3
	c.Redis.DialTimeout = time.Second
	c.Redis.ReadTimeout = 2 * time.Second
	c.Redis.WriteTimeout = 4 * time.Second
	c.Redis.PoolSize = 17
	c.Redis.MaxRetries = 5

	rdb, ok := newClient(t, c).(*redis.Client)
	if !ok {
		t.Fatalf("one address gives %T, want *redis.Client", rdb)
	}
	o := rdb.Options()
	if o.Addr != "10.1.2.3:6380" || o.Username != "app" || o.Password != "pw" || o.DB != 3 ||
		o.DialTimeout != time.Second || o.ReadTimeout != 2*time.Second || o.WriteTimeout != 4*time.Second ||
		o.PoolSize != 17 || o.MaxRetries != 5 || o.TLSConfig != nil || !o.ContextTimeoutEnabled {
		t.Errorf("options: %+v", o)
	}
}

func TestNewClientDefaultAddress(t *testing.T) {
	rdb, ok := newClient(t, config.Default()).(*redis.Client)
	if !ok || rdb.Options().Addr != config.DefaultAddr {
		t.Fatalf("got %T", rdb)
	}
	// Zero retries in the configuration mean none, not go-redis's default.
	c := config.Default()
	c.Redis.MaxRetries = 0
	// (go-redis takes -1 for none and shows it as 0 once initialised.)
	if got := newClient(t, c).(*redis.Client).Options().MaxRetries; got != 0 {
		t.Errorf("go-redis MaxRetries = %d, want 0 (none)", got)
	}
}

func TestNewClientCluster(t *testing.T) {
	c := config.Default()
	c.Redis.Addrs = []string{"a:7000", "b:7001", "c:7002"}
	c.Redis.Username = "app"
	c.Redis.Password = "pw"
	c.Redis.PoolSize = 8
	c.Redis.MaxRetries = 2
	rdb, ok := newClient(t, c).(*redis.ClusterClient)
	if !ok {
		t.Fatalf("several addresses give %T, want *redis.ClusterClient", rdb)
	}
	o := rdb.Options()
	if !slices.Equal(o.Addrs, c.Redis.Addrs) || o.Username != "app" || o.Password != "pw" ||
		o.PoolSize != 8 || o.MaxRetries != 2 || o.ReadTimeout != 3*time.Second || !o.ContextTimeoutEnabled {
		t.Errorf("options: %+v", o)
	}

	// One seed node with mode cluster is a cluster too.
	c.Redis.Mode = config.ModeCluster
	c.Redis.Addrs = c.Redis.Addrs[:1]
	if rdb := newClient(t, c); !isCluster(rdb) {
		t.Errorf("mode cluster with one address gives %T", rdb)
	}
}

func TestNewClientSentinel(t *testing.T) {
	c := config.Default()
	c.Redis.Addrs = []string{"s1:26379", "s2:26379"}
	c.Redis.MasterName = "mymaster"
	c.Redis.Username = "app"
	c.Redis.Password = "pw"
	c.Redis.SentinelPassword = "spw"
	c.Redis.DB = 1
	rdb, ok := newClient(t, c).(*redis.Client)
	if !ok {
		t.Fatalf("master_name gives %T, want the *redis.Client of NewFailoverClient", rdb)
	}
	o := rdb.Options()
	// go-redis names the address of a failover client "FailoverClient"
	// and dials through the sentinels.
	if o.Addr == "s1:26379" || o.Addr == config.DefaultAddr || o.Dialer == nil {
		t.Errorf("not a failover client: Addr %q", o.Addr)
	}
	if o.Username != "app" || o.Password != "pw" || o.DB != 1 || !o.ContextTimeoutEnabled {
		t.Errorf("options: %+v", o)
	}
}

func TestNewClientTLS(t *testing.T) {
	pki := newTestPKI(t)
	c := config.Default()
	c.Redis.TLS = config.TLS{
		Enabled:    true,
		CAFile:     pki.CAFile,
		CertFile:   pki.CertFile,
		KeyFile:    pki.KeyFile,
		ServerName: "redis.internal",
	}
	for _, addrs := range [][]string{{"a:6379"}, {"a:7000", "b:7001"}} {
		c.Redis.Addrs = addrs
		var tc *tls.Config
		switch rdb := newClient(t, c).(type) {
		case *redis.Client:
			tc = rdb.Options().TLSConfig
		case *redis.ClusterClient:
			tc = rdb.Options().TLSConfig
		}
		if tc == nil {
			t.Fatalf("%v: no TLS config", addrs)
		}
		if tc.MinVersion != tls.VersionTLS12 || tc.ServerName != "redis.internal" || tc.InsecureSkipVerify {
			t.Errorf("tls.Config: MinVersion %x ServerName %q InsecureSkipVerify %v", tc.MinVersion, tc.ServerName, tc.InsecureSkipVerify)
		}
		if len(tc.Certificates) != 1 || !tc.Certificates[0].Leaf.Equal(pki.Leaf) {
			t.Error("client certificate not loaded")
		}
		// The configured CA, and only it, verifies the server certificate.
		opts := x509.VerifyOptions{Roots: tc.RootCAs, DNSName: "localhost"}
		if _, err := pki.Leaf.Verify(opts); err != nil {
			t.Errorf("RootCAs do not verify a certificate the CA signed: %v", err)
		}
		if _, err := pki.Leaf.Verify(x509.VerifyOptions{Roots: x509.NewCertPool(), DNSName: "localhost"}); err == nil {
			t.Error("an empty pool verifies the certificate: test is broken")
		}
	}

	// Without a CA file the system roots are used.
	c.Redis.TLS = config.TLS{Enabled: true}
	c.Redis.Addrs = nil
	tc := newClient(t, c).(*redis.Client).Options().TLSConfig
	if tc == nil || tc.RootCAs != nil || len(tc.Certificates) != 0 || tc.MinVersion != tls.VersionTLS12 {
		t.Errorf("plain TLS: %+v", tc)
	}
}

func TestNewClientRefusesInvalidRedisSettings(t *testing.T) {
	c := config.Default()
	c.Redis.Addrs = []string{"nohost"}
	c.Redis.TLS.CertFile = "x.pem"
	rdb, err := c.NewClient()
	if rdb != nil {
		t.Error("client returned with an error")
	}
	wantKeyError(t, err, "redis.addrs")
	wantKeyError(t, err, "redis.tls.cert_file")

	// Problems outside redis.* are Validate's business, not NewClient's.
	c = config.Default()
	c.Log.Level = "loud"
	newClient(t, c)
}

func TestConnectFailsFast(t *testing.T) {
	c := config.Default()
	c.Redis.Addrs = []string{"127.0.0.1:1"} // nothing listens on port 1
	c.Redis.DialTimeout = 200 * time.Millisecond
	c.Redis.MaxRetries = 0
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rdb, err := c.Connect(ctx)
	if err == nil || rdb != nil {
		t.Fatalf("Connect to a closed port: %v, %v", rdb, err)
	}
}

func isCluster(rdb redis.UniversalClient) bool {
	_, ok := rdb.(*redis.ClusterClient)
	return ok
}
