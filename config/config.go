package config

import "time"

// DefaultAddr is the address NewClient connects to when redis.addrs is
// not configured.
const DefaultAddr = "127.0.0.1:6379"

// Redis modes, the values of redis.mode.
const (
	// ModeAuto picks the shape from the other settings: ModeSentinel
	// when redis.master_name is set, ModeCluster when redis.addrs holds
	// several addresses, ModeSingle otherwise.
	ModeAuto = "auto"
	// ModeSingle is one Redis server (redis.addrs holds one address).
	ModeSingle = "single"
	// ModeCluster is a Redis Cluster; redis.addrs are seed nodes.
	ModeCluster = "cluster"
	// ModeSentinel is a master found through Sentinel; redis.addrs are
	// the sentinels and redis.master_name names the master.
	ModeSentinel = "sentinel"
)

// Redis clients, the values of redis.client.
const (
	// ClientGoRedis runs the Store on go-redis (attrcache.New).
	ClientGoRedis = "go-redis"
	// ClientRueidis runs the Store on rueidis (package rueidisstore):
	// pipelined, with a near cache on every shape.
	ClientRueidis = "rueidis"
)

// Config is the whole configuration. Load and LoadWith return it
// validated; Default returns the defaults. A Config built or changed by
// hand should be checked with Validate.
type Config struct {
	// Redis says how to reach Redis (keys redis.*).
	Redis Redis `mapstructure:"redis"`
	// Store configures the attrcache.Store (keys attrcache.*).
	Store Store `mapstructure:"attrcache"`
	// Encryption says where the Tink keysets come from (keys
	// encryption.*).
	Encryption Encryption `mapstructure:"encryption"`
	// Log configures the logger of NewLogger (keys log.*).
	Log Log `mapstructure:"log"`

	// fromEnv maps each key set from the environment to its variable,
	// so errors can say where a bad value came from.
	fromEnv map[string]string
	// given holds the keys given in the file or the environment.
	given map[string]bool
	// lookupEnv reads the environment Load was given; nil means the
	// process environment.
	lookupEnv func(string) (string, bool)
	// warnings are what Warnings returns.
	warnings []string
}

// Redis holds the redis.* settings.
type Redis struct {
	// Mode is auto, single, cluster or sentinel; see ModeAuto.
	Mode string `mapstructure:"mode"`
	// Client is the client OpenStore runs the Store on: ClientGoRedis
	// (the default) or ClientRueidis. NewClient and Connect build a
	// go-redis client whatever it says.
	Client string `mapstructure:"client"`
	// Addrs are the server, the cluster seed nodes, or the sentinels:
	// host:port addresses or redis:// and rediss:// URLs (see Addrs).
	// Empty means not configured: NewClient then connects to
	// DefaultAddr, and a demo may use an embedded server instead (see
	// RedisConfigured).
	Addrs Addrs `mapstructure:"addrs" config:"noecho"`
	// MasterName is the Sentinel master name; setting it selects
	// Sentinel in auto mode.
	MasterName string `mapstructure:"master_name"`
	// SentinelUsername is the ACL user for the sentinels themselves.
	SentinelUsername string `mapstructure:"sentinel_username"`
	// SentinelPassword is the password for the sentinels themselves.
	SentinelPassword Secret `mapstructure:"sentinel_password"`
	// Username is the Redis ACL user; empty means the default user.
	Username string `mapstructure:"username"`
	// Password is the password of Username (or of the default user).
	Password Secret `mapstructure:"password"`
	// DB is the database number; Redis Cluster has only 0.
	DB int `mapstructure:"db"`
	// TLS configures TLS to Redis (and to the sentinels).
	TLS TLS `mapstructure:"tls"`
	// DialTimeout bounds establishing a connection; 0 means the go-redis
	// default (5s).
	DialTimeout time.Duration `mapstructure:"dial_timeout"`
	// ReadTimeout bounds reading one reply; 0 means the go-redis default
	// (3s).
	ReadTimeout time.Duration `mapstructure:"read_timeout"`
	// WriteTimeout bounds writing one command; 0 means the go-redis
	// default (ReadTimeout).
	WriteTimeout time.Duration `mapstructure:"write_timeout"`
	// PoolSize is the most connections per node; 0 means the go-redis
	// default (10 per GOMAXPROCS).
	PoolSize int `mapstructure:"pool_size"`
	// MaxRetries is how many times a failed command is retried; 0
	// disables retries. Every attrcache write is safe to run twice.
	MaxRetries int `mapstructure:"max_retries"`
	// ClientSideCache is the near cache (redis.client_side_cache.*).
	ClientSideCache ClientSideCache `mapstructure:"client_side_cache"`
}

// ClientSideCache holds the redis.client_side_cache.* settings: go-redis's
// client-side cache through attrcache.NewNearCache, so that repeated
// reads of an unchanged session answer from memory. go-redis caches only
// on a single-node client (mode single), on database 0, with RESP3, which
// NewClient then selects; with Sentinel or a cluster the setting is
// ignored with a warning (see Warnings) and reads go to Redis.
type ClientSideCache struct {
	// Enabled turns the near cache on.
	Enabled bool `mapstructure:"enabled"`
	// MaxEntries bounds the cached replies (one per distinct read: a Get
	// of one name, a GetAll, ...).
	MaxEntries int `mapstructure:"max_entries"`
	// MaxBytes bounds the cache's estimated memory.
	MaxBytes int `mapstructure:"max_bytes"`
	// MaxStaleness is the backstop for a lost invalidation: no reply is
	// served older than this, invalidated or not.
	MaxStaleness time.Duration `mapstructure:"max_staleness"`
}

// TLS holds the redis.tls.* settings.
type TLS struct {
	// Enabled turns TLS on, as rediss:// addresses do. The settings below
	// need one or the other.
	Enabled bool `mapstructure:"enabled"`
	// CAFile is a PEM file of the certificates that may sign the
	// server's; empty means the system roots.
	CAFile string `mapstructure:"ca_file" config:"noecho"`
	// CertFile is the PEM client certificate, for servers that ask for
	// one; it needs KeyFile.
	CertFile string `mapstructure:"cert_file" config:"noecho"`
	// KeyFile is the PEM private key of CertFile.
	KeyFile string `mapstructure:"key_file" config:"noecho"`
	// ServerName is the name checked in the server's certificate; empty
	// means the host part of the address dialled.
	ServerName string `mapstructure:"server_name"`
	// InsecureSkipVerify accepts any server certificate. For tests only.
	InsecureSkipVerify bool `mapstructure:"insecure_skip_verify"`
}

// Store holds the attrcache.* settings.
type Store struct {
	// Namespace prefixes every key the Store writes.
	Namespace string `mapstructure:"namespace"`
	// SessionTTL is the session lifetime the application passes to
	// Start and Renew. attrcache itself does not read it.
	SessionTTL time.Duration `mapstructure:"session_ttl"`
	// Limits are the Store's limits; 0 means the attrcache default.
	Limits Limits `mapstructure:"limits"`
	// ReplicaWait makes writes wait for replicas (attrcache.WithReplicaWait).
	ReplicaWait ReplicaWait `mapstructure:"replica_wait"`
	// CallTimeout bounds every call of the Store
	// (attrcache.WithCallTimeout): a request whose Redis is frozen fails
	// after it. 0 means the attrcache default: 1s, plus the replica
	// wait's timeout when replicas are awaited. Set, it must be longer
	// than that timeout.
	CallTimeout time.Duration `mapstructure:"call_timeout"`
}

// ReplicaWait holds the attrcache.replica_wait.* settings.
type ReplicaWait struct {
	// Replicas is how many replicas must acknowledge each write; 0 means
	// writes do not wait.
	Replicas int `mapstructure:"replicas"`
	// Timeout bounds the wait; it must be below redis.read_timeout.
	Timeout time.Duration `mapstructure:"timeout"`
}

// Limits holds the attrcache.limits.* settings; they map one to one onto
// attrcache.Limits, and 0 means the attrcache default.
type Limits struct {
	// MaxNameBytes is the longest attribute name in bytes.
	MaxNameBytes int `mapstructure:"max_name_bytes"`
	// MaxValueBytes is the longest value in bytes.
	MaxValueBytes int `mapstructure:"max_value_bytes"`
	// MaxCallBytes is the most bytes (names and stored values) one write
	// may send.
	MaxCallBytes int `mapstructure:"max_call_bytes"`
	// MaxSessionBytes is the most bytes one session may hold.
	MaxSessionBytes int `mapstructure:"max_session_bytes"`
	// MaxAttributes is the most attributes in one session.
	MaxAttributes int `mapstructure:"max_attributes"`
	// MaxBatch is the most attributes one *Many call may name.
	MaxBatch int `mapstructure:"max_batch"`
}

// Encryption holds the encryption.* settings. Encryption is on when a
// keyset is configured, in a file or in an environment variable (not
// both). Errors do not echo these values, but for the path of a file
// that cannot be read: a keyset typed in place of a name or a path is
// refused as such, unseen.
type Encryption struct {
	// KeysetFile is a file holding the Tink keyset.
	KeysetFile string `mapstructure:"keyset_file" config:"noecho"`
	// KeysetEnv is the name of an environment variable holding the Tink
	// keyset (JSON or base64); the keyset itself is never a setting.
	KeysetEnv string `mapstructure:"keyset_env" config:"noecho"`
	// MasterKeysetFile is a file holding a cleartext Tink AEAD keyset
	// under which the keyset is encrypted; empty means the keyset is in
	// clear. attrcache-keys generate -type aead makes one.
	MasterKeysetFile string `mapstructure:"master_keyset_file" config:"noecho"`
}

// Log holds the log.* settings.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `mapstructure:"level"`
	// Format is text or json.
	Format string `mapstructure:"format"`
}

// Default returns the configuration used for every key that is set
// neither in the file nor in the environment.
func Default() *Config {
	return &Config{
		Redis: Redis{
			Mode:         ModeAuto,
			Client:       ClientGoRedis,
			DialTimeout:  5 * time.Second,
			ReadTimeout:  3 * time.Second,
			WriteTimeout: 3 * time.Second,
			MaxRetries:   3,
			ClientSideCache: ClientSideCache{
				MaxEntries:   100_000,
				MaxBytes:     64 << 20,
				MaxStaleness: 5 * time.Second,
			},
		},
		Store: Store{
			Namespace:   "attrcache",
			SessionTTL:  30 * time.Minute,
			ReplicaWait: ReplicaWait{Timeout: time.Second},
		},
		Log: Log{Level: "info", Format: "text"},
	}
}

// RedisConfigured reports whether redis.addrs was given (in the file or
// the environment). When it was not, NewClient connects to DefaultAddr,
// and a demo may run an embedded server instead.
func (c *Config) RedisConfigured() bool { return len(c.Redis.Addrs) > 0 }
