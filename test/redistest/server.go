package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Timeouts of the helpers. They bound every wait so a broken server fails
// the test quickly instead of hanging it.
const (
	readyTimeout    = 10 * time.Second // process start until PING answers
	shutdownGrace   = 10 * time.Second // SIGTERM until SIGKILL in Restart
	cleanupGrace    = time.Second      // SIGTERM until SIGKILL at cleanup
	bindAttempts    = 5                // launches tried when the port is taken
	pollInterval    = 20 * time.Millisecond
	logName         = "redis.log"
	outputName      = "redis.out"
	errAddrInUseLog = "Address already in use"
)

var errAddrInUse = errors.New("port already in use")

// ServerOption configures a server started by StartServer, or every data
// node started by StartCluster and StartSentinel.
type ServerOption func(*serverConfig)

type serverConfig struct {
	aof      bool
	password string // requirepass, the default user's password
	user     string // ACL user, see WithACLUser
	userPass string
	args     []string
}

// WithAOF turns on the append-only file with appendfsync always, so every
// acknowledged write survives Restart and Kill.
func WithAOF() ServerOption {
	return func(c *serverConfig) { c.aof = true }
}

// WithArgs appends raw redis-server command-line arguments such as
// "--maxmemory", "10mb". They come last, so they override the defaults.
func WithArgs(args ...string) ServerOption {
	return func(c *serverConfig) { c.args = append(c.args, args...) }
}

// WithPassword sets requirepass: clients must AUTH with password as the
// default user. Replicas are given the same password as masterauth.
func WithPassword(password string) ServerOption {
	return func(c *serverConfig) { c.password = password }
}

// WithACLUser creates the ACL user name with the given password and every
// permission ("user NAME on >PASS ~* &* +@all") and turns the default user
// off, so only clients that authenticate as name get in. Replicas
// authenticate to their master as that user.
func WithACLUser(name, password string) ServerOption {
	return func(c *serverConfig) { c.user, c.userPass = name, password }
}

func newServerConfig(opts []ServerOption) serverConfig {
	var c serverConfig
	for _, o := range opts {
		o(&c)
	}
	return c
}

// credentials returns what a client sends in AUTH (or HELLO).
func (c serverConfig) credentials() (user, password string) {
	if c.user != "" {
		return c.user, c.userPass
	}
	return "", c.password
}

// dataArgs returns the configuration arguments of a data node: the
// defaults, then extra, then the caller's WithArgs, which win.
func (c serverConfig) dataArgs(extra ...string) []string {
	// Replicas would otherwise wait 5 s for company before a full sync.
	args := []string{"--save", "", "--repl-diskless-sync-delay", "0"}
	if c.aof {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	if c.password != "" {
		args = append(args, "--requirepass", c.password, "--masterauth", c.password)
	}
	if c.user != "" {
		args = append(args,
			"--user", c.user, "on", ">"+c.userPass, "~*", "&*", "+@all",
			"--user", "default", "off",
			"--masteruser", c.user, "--masterauth", c.userPass)
	}
	args = append(args, extra...)
	return append(args, c.args...)
}

// Server is a redis-server process owned by a test. It is stopped when the
// test ends. Its methods are safe for concurrent use.
type Server struct {
	bin      string
	dir      string
	confFile string // first argument when set (sentinels)
	sentinel bool
	args     []string
	user     string
	password string
	pickPort func() (int, error)
	bus      bool // the port+10000 cluster bus port is reserved too

	mu    sync.Mutex
	port  int
	proc  *process
	probe *redis.Client // see probeClient
}

// StartServer starts a redis-server on a free loopback port, in a fresh
// t.TempDir(), with persistence off unless WithAOF is given, and waits until
// it answers PING. The server is stopped when the test ends.
func StartServer(t testing.TB, opts ...ServerOption) *Server {
	t.Helper()
	cfg := newServerConfig(opts)
	s := newServer(t, Require(t), t.TempDir(), cfg, cfg.dataArgs(), freePort)
	if err := s.start(true); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	return s
}

// newServer makes a Server that is stopped when the test ends; the caller
// starts it.
func newServer(t testing.TB, bin, dir string, cfg serverConfig, args []string, pick func() (int, error)) *Server {
	user, password := cfg.credentials()
	s := &Server{
		bin:      bin,
		dir:      dir,
		args:     args,
		user:     user,
		password: password,
		pickPort: pick,
	}
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.probe != nil {
			_ = s.probe.Close()
		}
		if s.proc != nil {
			s.proc.stop(cleanupGrace)
		}
		s.releasePort()
	})
	return s
}

// Addr returns the server's address, "127.0.0.1:PORT". It stays the same
// across Restart.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr()
}

func (s *Server) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Dir returns the server's working directory, which holds its log
// (redis.log), its data files and, for cluster nodes, nodes.conf.
func (s *Server) Dir() string { return s.dir }

// Options returns client options that reach this server with its
// credentials. Callers may change them before redis.NewClient.
func (s *Server) Options() *redis.Options {
	return &redis.Options{
		Addr:     s.Addr(),
		Username: s.user,
		Password: s.password,
	}
}

// Client returns a go-redis client of this server, closed when the test
// ends.
func (s *Server) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(s.Options())
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Running reports whether the process is alive: started and not killed,
// stopped or crashed.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil && !s.proc.exited()
}

// Kill sends SIGKILL, like a crash or a power cut: nothing is flushed
// beyond what the server already wrote. It returns once the process is
// gone. Restart brings the server back.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.kill()
	}
}

// Restart shuts the server down cleanly (SIGTERM, which redis handles like
// SHUTDOWN), then starts it again on the same port with the same directory
// and configuration, so data persisted with WithAOF can be read back. A
// killed server is simply started again.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	if s.proc != nil {
		s.proc.stop(shutdownGrace)
	}
	s.mu.Unlock()
	if err := s.start(false); err != nil {
		t.Fatalf("redistest: restart: %v", err)
	}
}

// Role returns the first element of the ROLE reply: "master", "slave" or
// "sentinel".
func (s *Server) Role(ctx context.Context) (string, error) {
	v, err := s.probeClient().Do(ctx, "ROLE").Slice()
	if err != nil {
		return "", err
	}
	if len(v) == 0 {
		return "", fmt.Errorf("redistest: empty ROLE reply from %s", s.Addr())
	}
	role, ok := v[0].(string)
	if !ok {
		return "", fmt.Errorf("redistest: unexpected ROLE reply %v from %s", v, s.Addr())
	}
	return role, nil
}

// probeClient returns the client the helpers use to inspect the server.
// It is kept for the server's lifetime so polling loops do not open a
// connection per probe.
func (s *Server) probeClient() *redis.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.probe == nil || s.probe.Options().Addr != s.addr() {
		if s.probe != nil {
			_ = s.probe.Close()
		}
		o := s.quickOptions()
		s.probe = redis.NewClient(o)
	}
	return s.probe
}

// quickOptions are client options for the helpers' own probes: fail fast,
// never retry behind our back. s.mu is held.
func (s *Server) quickOptions() *redis.Options {
	o := &redis.Options{Addr: s.addr(), Username: s.user, Password: s.password}
	o.DialTimeout = time.Second
	o.ReadTimeout = 2 * time.Second
	o.WriteTimeout = 2 * time.Second
	o.MaxRetries = -1
	o.PoolSize = 1
	o.Protocol = 2
	o.DisableIdentity = true
	return o
}

// start launches the process and waits until it answers. With newPort it
// draws a fresh port for each attempt; otherwise it keeps s.port and
// retries a few times should the port be briefly taken.
func (s *Server) start(newPort bool) error {
	var err error
	for attempt := 1; attempt <= bindAttempts; attempt++ {
		if newPort {
			s.mu.Lock()
			s.releasePort()
			s.mu.Unlock()
			port, perr := s.pickPort()
			if perr != nil {
				return perr
			}
			s.mu.Lock()
			s.port = port
			s.mu.Unlock()
		} else if attempt > 1 {
			time.Sleep(200 * time.Millisecond)
		}
		err = s.launch()
		if !errors.Is(err, errAddrInUse) {
			return err
		}
	}
	return err
}

// releasePort gives the server's ports back to the pool; s.mu is held.
func (s *Server) releasePort() {
	if s.port == 0 {
		return
	}
	releasePort(s.port)
	if s.bus {
		releasePort(s.port + busOffset)
	}
}

// RestartAsReplica is Restart, the server coming back as a replica of
// master (host:port): what an operator does with a crashed Sentinel
// master, which would otherwise come back as an empty master until the
// sentinels reconfigure it.
func (s *Server) RestartAsReplica(t testing.TB, master string) {
	t.Helper()
	host, port, err := net.SplitHostPort(master)
	if err != nil {
		t.Fatalf("redistest: restart as a replica of %q: %v", master, err)
	}
	s.mu.Lock()
	var args []string
	for i := 0; i < len(s.args); i++ {
		if s.args[i] == "--replicaof" && i+2 < len(s.args) {
			i += 2
			continue
		}
		args = append(args, s.args[i])
	}
	s.args = append(args, "--replicaof", host, port)
	s.mu.Unlock()
	s.Restart(t)
}

func (s *Server) commandArgs() []string {
	var args []string
	if s.confFile != "" {
		args = append(args, s.confFile)
	}
	if s.sentinel {
		args = append(args, "--sentinel")
	}
	args = append(args,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--protected-mode", "no",
		"--daemonize", "no",
		"--dir", s.dir,
		"--logfile", filepath.Join(s.dir, logName),
	)
	return append(args, s.args...)
}

// launch runs one attempt to start the process on s.port.
func (s *Server) launch() error {
	logPath := filepath.Join(s.dir, logName)
	logStart := fileSize(logPath)
	s.mu.Lock()
	p, err := startProcess(s.bin, s.commandArgs(), s.dir, filepath.Join(s.dir, outputName))
	if err != nil {
		s.mu.Unlock()
		return err
	}
	s.proc = p
	addr := s.addr()
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	err = s.waitReady(ctx, p)
	if err == nil {
		return nil
	}
	p.kill()
	// The log is appended to across attempts: only this attempt's part
	// tells whether it died because the port was taken.
	if strings.Contains(readFrom(logPath, logStart), errAddrInUseLog) {
		return fmt.Errorf("redis-server on %s: %w", addr, errAddrInUse)
	}
	return fmt.Errorf("redis-server on %s (dir %s) did not become ready: %w%s",
		addr, s.dir, err, logTails(s.dir, outputName, logName))
}

// waitReady polls until the server answers, is the process we started
// and has loaded its data.
func (s *Server) waitReady(ctx context.Context, p *process) error {
	s.mu.Lock()
	o := s.quickOptions()
	s.mu.Unlock()
	// Should another process hold the port and accept without answering,
	// a short timeout lets the loop notice that redis exited.
	o.ReadTimeout = 500 * time.Millisecond
	c := redis.NewClient(o)
	defer c.Close()
	pid := fmt.Sprintf("process_id:%d\r\n", p.cmd.Process.Pid)
	sections := []string{"server", "persistence"}
	if s.sentinel {
		sections = sections[:1]
	}
	var last error
	for {
		if p.exited() {
			return fmt.Errorf("process exited: %v", p.err)
		}
		var info string
		info, last = c.Info(ctx, sections...).Result()
		switch {
		case last != nil:
		case !strings.Contains(info, pid):
			// Another test's server that took the port first, while
			// ours is about to exit for want of it.
			last = errors.New("another process answers on the port")
		case !s.sentinel && !strings.Contains(info, "loading:0\r\n"):
			// The port opens before the data set is loaded; until then
			// commands fail with LOADING.
			last = errors.New("still loading its data set")
		default:
			return nil
		}
		if err := sleepCtx(ctx, pollInterval); err != nil {
			return fmt.Errorf("%w; last error: %v", err, last)
		}
	}
}

// sleepCtx sleeps for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
