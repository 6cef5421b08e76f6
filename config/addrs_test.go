package config_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/config"
)

func TestURLAddrsAccepted(t *testing.T) {
	pki := newTestPKI(t)
	for _, tc := range []struct {
		name    string
		environ []string
		yaml    string
		check   func(t *testing.T, c *config.Config, rdb redis.UniversalClient)
	}{
		{name: "password and database", environ: []string{"ATTRCACHE_REDIS_ADDRS=redis://:s3cretPW@127.0.0.1:6380/3"},
			check: func(t *testing.T, c *config.Config, rdb redis.UniversalClient) {
				o := rdb.(*redis.Client).Options()
				if o.Addr != "127.0.0.1:6380" || o.Username != "" || o.Password != "s3cretPW" || o.DB != 3 || o.TLSConfig != nil {
					t.Errorf("options: Addr %s user %q password set %v DB %d TLS %v", o.Addr, o.Username, o.Password != "", o.DB, o.TLSConfig != nil)
				}
			}},
		{name: "no password, default port", environ: []string{"ATTRCACHE_REDIS_ADDRS=redis://redis.internal"},
			check: func(t *testing.T, c *config.Config, rdb redis.UniversalClient) {
				o := rdb.(*redis.Client).Options()
				if o.Addr != "redis.internal:6379" || o.Password != "" || o.DB != 0 {
					t.Errorf("options: %s %d", o.Addr, o.DB)
				}
			}},
		{name: "user from URL, password from key", environ: []string{"ATTRCACHE_REDIS_ADDRS=redis://app@h:1", "ATTRCACHE_REDIS_PASSWORD=pw"},
			check: func(t *testing.T, c *config.Config, rdb redis.UniversalClient) {
				o := rdb.(*redis.Client).Options()
				if o.Username != "app" || o.Password != "pw" {
					t.Errorf("user %q, password %q", o.Username, o.Password)
				}
			}},
		{name: "same password in URL and key", environ: []string{"ATTRCACHE_REDIS_ADDRS=redis://:pw@h:1", "ATTRCACHE_REDIS_PASSWORD=pw", "ATTRCACHE_REDIS_DB=0"},
			check: func(t *testing.T, c *config.Config, rdb redis.UniversalClient) {
				if o := rdb.(*redis.Client).Options(); o.Password != "pw" {
					t.Error("password lost")
				}
			}},
		{name: "rediss turns TLS on", environ: []string{"ATTRCACHE_REDIS_ADDRS=rediss://default:pw@redis.example.com:6380"},
			check: func(t *testing.T, c *config.Config, rdb redis.UniversalClient) {
				o := rdb.(*redis.Client).Options()
				if o.TLSConfig == nil || o.TLSConfig.MinVersion != tls.VersionTLS12 || o.Username != "default" || o.Password != "pw" || o.Addr != "redis.example.com:6380" {
					t.Errorf("options: %+v", o)
				}
			}},
		{name: "rediss with a CA and redis.tls.enabled true", environ: []string{
			"ATTRCACHE_REDIS_ADDRS=rediss://h:6380", "ATTRCACHE_REDIS_TLS_ENABLED=true", "ATTRCACHE_REDIS_TLS_CA_FILE=" + pki.CAFile},
			check: func(t *testing.T, c *config.Config, rdb redis.UniversalClient) {
				if tc := rdb.(*redis.Client).Options().TLSConfig; tc == nil || tc.RootCAs == nil {
					t.Error("CA not applied")
				}
			}},
		{name: "rediss with a CA, redis.tls.enabled unset", yaml: "redis:\n  addrs: [\"rediss://h:6380\"]\n  tls:\n    ca_file: \"" + pki.CAFile + "\"\n",
			check: func(t *testing.T, c *config.Config, rdb redis.UniversalClient) {
				if tc := rdb.(*redis.Client).Options().TLSConfig; tc == nil || tc.RootCAs == nil {
					t.Error("CA not applied")
				}
			}},
		{name: "cluster of URLs", environ: []string{"ATTRCACHE_REDIS_ADDRS=rediss://app:pw@a:7000,rediss://app:pw@b:7001"},
			check: func(t *testing.T, c *config.Config, rdb redis.UniversalClient) {
				o := rdb.(*redis.ClusterClient).Options()
				if !slices.Equal(o.Addrs, []string{"a:7000", "b:7001"}) || o.Username != "app" || o.Password != "pw" || o.TLSConfig == nil {
					t.Errorf("options: %v", o.Addrs)
				}
			}},
		{name: "sentinel URLs carry the sentinels' credentials", environ: []string{
			"ATTRCACHE_REDIS_ADDRS=redis://sentuser:sentpw@s1:26379/2,redis://sentuser:sentpw@s2:26379/2",
			"ATTRCACHE_REDIS_MASTER_NAME=mymaster", "ATTRCACHE_REDIS_USERNAME=app", "ATTRCACHE_REDIS_PASSWORD=apppw"},
			check: func(t *testing.T, c *config.Config, rdb redis.UniversalClient) {
				o := rdb.(*redis.Client).Options()
				if o.Username != "app" || o.Password != "apppw" || o.DB != 2 {
					t.Errorf("master options: user %q DB %d", o.Username, o.DB)
				}
				if got := c.RedisAddrs(); !slices.Equal(got, []string{"s1:26379", "s2:26379"}) {
					t.Errorf("RedisAddrs() = %v", got)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.yaml != "" {
				path = writeFile(t, "c.yaml", tc.yaml)
			}
			c, err := config.LoadWith(path, tc.environ)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c, newClient(t, c))
		})
	}
}

func TestURLConflictsRefused(t *testing.T) {
	pki := newTestPKI(t)
	for _, tc := range []struct {
		name    string
		environ []string
		key     string
		says    string
	}{
		{"two passwords", []string{"ATTRCACHE_REDIS_ADDRS=redis://:a@h:1", "ATTRCACHE_REDIS_PASSWORD=b"}, "redis.password", "give it in one place"},
		{"two users", []string{"ATTRCACHE_REDIS_ADDRS=redis://u1:a@h:1", "ATTRCACHE_REDIS_USERNAME=u2"}, "redis.username", "give it in one place"},
		{"two sentinel passwords", []string{"ATTRCACHE_REDIS_ADDRS=redis://:a@s:26379", "ATTRCACHE_REDIS_MASTER_NAME=m", "ATTRCACHE_REDIS_SENTINEL_PASSWORD=b"}, "redis.sentinel_password", "give it in one place"},
		{"two databases", []string{"ATTRCACHE_REDIS_ADDRS=redis://h:1/2", "ATTRCACHE_REDIS_DB=3"}, "redis.db", "give the database in one place"},
		{"database 0 set against the URL's", []string{"ATTRCACHE_REDIS_ADDRS=redis://h:1/2", "ATTRCACHE_REDIS_DB=0"}, "redis.db", "give the database in one place"},
		{"redis:// with TLS on", []string{"ATTRCACHE_REDIS_ADDRS=redis://h:1", "ATTRCACHE_REDIS_TLS_ENABLED=true"}, "redis.tls.enabled", "rediss://"},
		{"rediss:// with TLS set off", []string{"ATTRCACHE_REDIS_ADDRS=rediss://h:1", "ATTRCACHE_REDIS_TLS_ENABLED=false"}, "redis.tls.enabled", "rediss://"},
		{"redis:// with a CA file", []string{"ATTRCACHE_REDIS_ADDRS=redis://h:1", "ATTRCACHE_REDIS_TLS_CA_FILE=" + pki.CAFile}, "redis.tls.ca_file", "enabled is false"},
		{"URLs with other passwords", []string{"ATTRCACHE_REDIS_ADDRS=redis://:a@h:1,redis://:b@h:2"}, "redis.addrs", "differ"},
		{"URLs with other schemes", []string{"ATTRCACHE_REDIS_ADDRS=redis://h:1,rediss://h:2"}, "redis.addrs", "differ"},
		{"URL and host:port", []string{"ATTRCACHE_REDIS_ADDRS=redis://h:1,h:2"}, "redis.addrs", "mixes"},
		{"cluster URL with a database", []string{"ATTRCACHE_REDIS_ADDRS=redis://h:1/1,redis://h:2/1"}, "redis.addrs", "only database 0"},
		{"query parameters", []string{"ATTRCACHE_REDIS_ADDRS=redis://h:1?dial_timeout=3"}, "redis.addrs", "query parameters"},
		{"unix socket", []string{"ATTRCACHE_REDIS_ADDRS=unix:///tmp/redis.sock"}, "redis.addrs", "only redis://"},
		{"no host", []string{"ATTRCACHE_REDIS_ADDRS=redis://:pw@:6379"}, "redis.addrs", "no host"},
		{"port out of range", []string{"ATTRCACHE_REDIS_ADDRS=redis://h:0"}, "redis.addrs", "port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.LoadWith("", tc.environ)
			ke := wantKeyError(t, err, tc.key)
			if !strings.Contains(ke.Problem, tc.says) {
				t.Errorf("problem %q does not say %q", ke.Problem, tc.says)
			}
		})
	}
}

func TestAddrsPrintRedacted(t *testing.T) {
	a := config.Addrs{
		"10.0.0.1:6379",
		"redis://app:pw1@h:1/2",
		"rediss://:pw2@h:2",
		"redis://h:3?password=pw3#pw4",
		":pw5@h:4",
		"redis://:pw6%zz@h:5",
	}
	want := []string{
		"10.0.0.1:6379",
		"redis://app:[redacted]@h:1/2",
		"rediss://:[redacted]@h:2",
		"redis://h:3?[redacted]#[redacted]",
		"[redacted]",
		"[redacted]",
	}
	if got := a.Redacted(); !slices.Equal(got, want) {
		t.Errorf("Redacted() =\n%q\nwant\n%q", got, want)
	}
	j, err := json.Marshal(struct{ A config.Addrs }{a})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	slog.New(slog.NewJSONHandler(&b, nil)).Info("m", "addrs", a)
	slog.New(slog.NewTextHandler(&b, nil)).Info("m", "addrs", a)
	outs := []string{a.String(), a.GoString(), string(j), b.String()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%20v"} {
		outs = append(outs, fmt.Sprintf(verb, a))
	}
	for _, out := range outs {
		for i := 1; i <= 6; i++ {
			if strings.Contains(out, fmt.Sprintf("pw%d", i)) {
				t.Errorf("a password shows in %q", out)
			}
		}
	}
	if got := fmt.Sprintf("%#v", config.Addrs{"h:1"}); got != `config.Addrs{"h:1"}` {
		t.Errorf("%%#v = %s", got)
	}
	if got := fmt.Sprint(config.Addrs(nil)); got != "[]" {
		t.Errorf("nil Addrs prints %q", got)
	}
}

func TestRedisAddrs(t *testing.T) {
	for _, tc := range []struct {
		environ []string
		want    []string
	}{
		{nil, []string{config.DefaultAddr}},
		{[]string{"ATTRCACHE_REDIS_ADDRS=a:1,b:2"}, []string{"a:1", "b:2"}},
		{[]string{"ATTRCACHE_REDIS_ADDRS=redis://:pw@a/0"}, []string{"a:6379"}},
	} {
		c, err := config.LoadWith("", tc.environ)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.RedisAddrs(); !slices.Equal(got, tc.want) {
			t.Errorf("%v: RedisAddrs() = %v, want %v", tc.environ, got, tc.want)
		}
	}
	// An empty file applies the defaults too, and dials the default
	// address.
	c, err := config.LoadWith(writeFile(t, "empty.yaml", ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.RedisAddrs(); !slices.Equal(got, []string{config.DefaultAddr}) || c.String() != config.Default().String() {
		t.Errorf("empty file: RedisAddrs() = %v, config %v", got, c)
	}
}
