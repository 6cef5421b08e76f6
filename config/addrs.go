package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Addrs holds redis.addrs: the server, the cluster seed nodes or the
// sentinels, each as host:port or as a redis:// or rediss:// URL, the
// form Redis providers hand out:
//
//	redis[s]://[user[:password]@]host[:port][/db]
//
// The port defaults to 6379. go-redis reads the URL (redis.ParseURL,
// ParseClusterURL, ParseFailoverURL, by the mode in use); query
// parameters and fragments are refused, since every setting they could
// carry has its redis.* key. A URL combines with the other keys so:
//
//   - Either every item is a URL or none is, and the URLs agree on
//     scheme, user, password and database: they describe one deployment.
//   - The user and password of the URL are those of redis.username and
//     redis.password; with Sentinel they are the sentinels' own, those of
//     redis.sentinel_username and redis.sentinel_password, as go-redis
//     reads them. A value may be given in the URL or in its key; given in
//     both, they must be the same, or Load refuses the configuration.
//   - The path /db is the database of redis.db (the master's, with
//     Sentinel; Redis Cluster has only 0). redis.db left at its default
//     takes it; set to another number, Load refuses the configuration.
//   - rediss:// turns TLS on (with the redis.tls.* keys), as
//     redis.tls.enabled does; redis:// with redis.tls.enabled true, or
//     rediss:// with redis.tls.enabled set to false, is refused.
//
// A password with '/', '?', '#', '@' or a space must be percent-encoded
// (%2F, %3F, %23, %40, %20): unencoded, the first three end the host part
// before the '@', so the URL holds no password at all for go-redis, and
// Load refuses such an item.
//
// Every way of printing Addrs (String, fmt verbs, slog, JSON) shows a
// URL with its password and query replaced by [redacted], and an item
// that holds '@' but is no readable URL as [redacted], whole: an '@'
// that net/url does not read as the end of the user part (one in the
// path, query or fragment) counts, since the characters before it are a
// password that ended up there. So a Config is safe to log. The strings
// themselves are what was configured.
type Addrs []string

// Redacted returns the items as they may be shown: host:port as is, a
// URL with its password (and any query or fragment) replaced by
// [redacted], anything else that could hold a password, such as a URL
// with an '@' after its host part, as [redacted].
func (a Addrs) Redacted() []string {
	if a == nil {
		return nil
	}
	out := make([]string, len(a))
	for i, s := range a {
		out[i] = redactAddr(s)
	}
	return out
}

// String returns the redacted items in brackets, separated by spaces, as
// fmt prints a []string.
func (a Addrs) String() string { return fmt.Sprint(a.Redacted()) }

// GoString returns the Go syntax of the redacted items, for %#v.
func (a Addrs) GoString() string {
	return "config.Addrs" + strings.TrimPrefix(fmt.Sprintf("%#v", a.Redacted()), "[]string")
}

// Format applies any verb and flags to the redacted items, so no format
// string shows a password.
func (a Addrs) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, a.GoString())
		return
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), a.Redacted())
}

// LogValue returns the redacted items for log/slog.
func (a Addrs) LogValue() slog.Value { return slog.AnyValue(a.Redacted()) }

// MarshalJSON returns the redacted items as a JSON array.
func (a Addrs) MarshalJSON() ([]byte, error) { return json.Marshal(a.Redacted()) }

// redactAddr returns one item of redis.addrs as it may be shown.
func redactAddr(s string) string {
	if !isURL(s) {
		if strings.Contains(s, "@") {
			return redacted
		}
		return s
	}
	if strayAt(s) {
		return redacted
	}
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" {
		return redacted
	}
	var b strings.Builder
	b.WriteString(u.Scheme + "://")
	if u.User != nil {
		b.WriteString(url.User(u.User.Username()).String())
		if _, ok := u.User.Password(); ok {
			b.WriteString(":" + redacted)
		}
		b.WriteByte('@')
	}
	b.WriteString(u.Host)
	b.WriteString(u.EscapedPath())
	if u.RawQuery != "" || u.ForceQuery {
		b.WriteString("?" + redacted)
	}
	if u.Fragment != "" {
		b.WriteString("#" + redacted)
	}
	return b.String()
}

func isURL(s string) bool { return strings.Contains(s, "://") }

// strayAt reports whether the URL s holds an '@' after its host part
// began: in what net/url reads as the path, query or fragment, so not as
// the end of a user part. Such an '@' most likely follows a password
// holding '/', '?' or '#' that was not percent-encoded, and what comes
// before it must not be shown.
func strayAt(s string) bool {
	_, rest, _ := strings.Cut(s, "://")
	end := strings.IndexAny(rest, "/?#")
	return end >= 0 && strings.Contains(rest[end:], "@")
}

// checkAddr returns what is wrong with a host:port address, or "".
func checkAddr(a string) string {
	switch {
	case a == "":
		return "empty address"
	case strings.Contains(a, "@"):
		// user:password@host without a scheme, most likely.
		return "holds '@' but is not a redis:// URL; write redis://user:password@host:port, or set redis.username and redis.password (the value is not shown)"
	case strings.ContainsAny(a, " \t\r\n"):
		return fmt.Sprintf("%s contains white space", echo(a))
	}
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) && ae.Err == "missing port in address" {
			return fmt.Sprintf("%s has no port (want host:port or a redis:// URL)", echo(a))
		}
		return fmt.Sprintf("%s is not host:port or a redis:// URL", echo(a))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("%s: port %s is not a number from 1 to 65535", echo(a), echo(port))
	}
	return ""
}

// redisURL is one redis:// or rediss:// item of redis.addrs, read by
// go-redis.
type redisURL struct {
	addr     string // host:port
	tls      bool   // rediss://
	user     string // "" when the URL gives none
	password string // "" when the URL gives none
	db       int
	hasDB    bool // the URL has a /db path
}

// parseRedisURL reads one URL item for the given mode, or returns what is
// wrong with it without showing its password.
func parseRedisURL(s, mode string) (redisURL, string) {
	shown := strconv.Quote(redactAddr(s))
	if strayAt(s) {
		return redisURL{}, shown + " has an '@' after a '/', '?' or '#', so go-redis would read no user or password in it; " +
			"percent-encode those characters in the password (%2F, %3F, %23; '@' is %40 and a space %20)"
	}
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" {
		return redisURL{}, shown + " is not a valid URL; percent-encode special characters in the password (a space is %20)"
	}
	switch {
	case u.Scheme != "redis" && u.Scheme != "rediss":
		return redisURL{}, shown + ": only redis:// and rediss:// URLs are accepted"
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return redisURL{}, shown + ": query parameters are not read; set the redis.* keys instead"
	case u.Hostname() == "":
		return redisURL{}, shown + " has no host"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return redisURL{}, fmt.Sprintf("%s: port %q is not a number from 1 to 65535", shown, p)
		}
	}
	r := redisURL{tls: u.Scheme == "rediss"}
	switch path := strings.Trim(u.Path, "/"); {
	case path == "":
	case strings.Trim(path, "0123456789") == "" && len(path) < 10:
		r.db, _ = strconv.Atoi(path)
		r.hasDB = true
	default:
		return redisURL{}, shown + ": the path must be a database number, as in redis://host:6379/0"
	}

	// go-redis reads the rest, as it would read the URL itself. Its
	// errors may quote the URL, so none is passed on.
	bad := shown + ": go-redis cannot read this URL"
	switch mode {
	case ModeCluster:
		o, err := redis.ParseClusterURL(s)
		if err != nil || len(o.Addrs) == 0 {
			return redisURL{}, bad
		}
		r.addr, r.user, r.password = o.Addrs[0], o.Username, o.Password
	case ModeSentinel:
		o, err := redis.ParseFailoverURL(s)
		if err != nil || len(o.SentinelAddrs) == 0 {
			return redisURL{}, bad
		}
		r.addr, r.user, r.password = o.SentinelAddrs[0], o.SentinelUsername, o.SentinelPassword
	default:
		o, err := redis.ParseURL(s)
		if err != nil {
			return redisURL{}, bad
		}
		r.addr, r.user, r.password = o.Addr, o.Username, o.Password
	}
	return r, ""
}

// endpoint is what the redis.* settings resolve to once the URLs in
// redis.addrs are read: what NewClient hands go-redis.
type endpoint struct {
	addrs            []string // host:port
	username         string
	password         string
	db               int
	tls              bool
	sentinelUsername string
	sentinelPassword string
}

// dialAddrs is the addresses to dial: ep's, or DefaultAddr when none is
// configured.
func (ep endpoint) dialAddrs() []string {
	if len(ep.addrs) == 0 {
		return []string{DefaultAddr}
	}
	return ep.addrs
}

// resolveRedis reads redis.addrs and combines its URLs with the other
// redis.* keys as Addrs describes, adding a problem for every item it
// cannot read and every conflict.
func (c *Config) resolveRedis(p *problems) endpoint {
	r := &c.Redis
	ep := endpoint{
		username:         r.Username,
		password:         r.Password.Value(),
		db:               r.DB,
		tls:              r.TLS.Enabled,
		sentinelUsername: r.SentinelUsername,
		sentinelPassword: r.SentinelPassword.Value(),
	}
	mode := r.ResolvedMode()
	var urls []redisURL
	plain := 0
	seen := make(map[string]bool)
	for i, a := range r.Addrs {
		addr := a
		if isURL(a) {
			u, prob := parseRedisURL(a, mode)
			if prob != "" {
				p.add("redis.addrs", "item %d: %s", i, prob)
				continue
			}
			urls = append(urls, u)
			addr = u.addr
		} else {
			if prob := checkAddr(a); prob != "" {
				p.add("redis.addrs", "item %d: %s", i, prob)
				continue
			}
			plain++
		}
		if seen[addr] {
			p.add("redis.addrs", "%s is listed twice", echo(addr))
		}
		seen[addr] = true
		ep.addrs = append(ep.addrs, addr)
	}
	if len(urls) == 0 {
		return ep
	}
	if plain > 0 {
		p.add("redis.addrs", "mixes redis:// URLs and host:port addresses; write every address the same way")
	}
	u := urls[0]
	for _, o := range urls[1:] {
		if o.tls != u.tls || o.user != u.user || o.password != u.password || o.hasDB != u.hasDB || o.db != u.db {
			p.add("redis.addrs", "the URLs differ in scheme, user, password or database; they must describe one deployment")
			break
		}
	}

	userKey, passKey, user, pass := "redis.username", "redis.password", &ep.username, &ep.password
	if mode == ModeSentinel {
		userKey, passKey, user, pass = "redis.sentinel_username", "redis.sentinel_password", &ep.sentinelUsername, &ep.sentinelPassword
	}
	if u.user != "" {
		if *user != "" && *user != u.user {
			p.add(userKey, "differs from the user in the redis.addrs URL; give it in one place")
		}
		*user = u.user
	}
	if u.password != "" {
		if *pass != "" && *pass != u.password {
			p.add(passKey, "differs from the password in the redis.addrs URL; give it in one place (neither is shown)")
		}
		*pass = u.password
	}
	if u.hasDB {
		switch {
		case mode == ModeCluster && u.db != 0:
			p.add("redis.addrs", "names database %d, but Redis Cluster has only database 0", u.db)
		case (r.DB != 0 || c.IsSet("redis.db")) && r.DB != u.db:
			p.add("redis.db", "is %d, but the URL in redis.addrs names database %d; give the database in one place", r.DB, u.db)
		}
		ep.db = u.db
	}
	switch {
	case u.tls && c.IsSet("redis.tls.enabled") && !r.TLS.Enabled:
		p.add("redis.tls.enabled", "is false, but redis.addrs uses rediss:// (TLS); drop one of them")
	case !u.tls && r.TLS.Enabled:
		p.add("redis.tls.enabled", "is true, but redis.addrs uses redis:// (no TLS); write rediss:// to use TLS")
	}
	ep.tls = ep.tls || u.tls
	return ep
}
