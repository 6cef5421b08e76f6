package redistest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
)

// Ports handed out but maybe not bound yet by their redis-server. The
// kernel knows nothing of them, so two servers started at once in this
// test binary could otherwise be given the same port. Other processes are
// handled by retrying when redis fails to bind.
var (
	portMu   sync.Mutex
	reserved = map[int]bool{}
)

func releasePort(ports ...int) {
	portMu.Lock()
	defer portMu.Unlock()
	for _, p := range ports {
		delete(reserved, p)
	}
}

// freePort returns a loopback port the kernel considers free right now.
func freePort() (int, error) {
	portMu.Lock()
	defer portMu.Unlock()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("redistest: pick a free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !reserved[port] {
			reserved[port] = true
			return port, nil
		}
	}
	return 0, fmt.Errorf("redistest: no free port found")
}

// Cluster nodes also listen on port+10000 for the cluster bus. Their ports
// are drawn below the usual Linux ephemeral range (32768 and up), so that
// neither port collides with the local end of some outgoing connection.
const (
	clusterPortMin = 10000
	clusterPortMax = 22768 // exclusive; the bus port stays below 32768
	busOffset      = 10000
)

// freeClusterPort returns a port such that it and its bus port are free.
func freeClusterPort() (int, error) {
	portMu.Lock()
	defer portMu.Unlock()
	for range 200 {
		port := clusterPortMin + rand.IntN(clusterPortMax-clusterPortMin)
		if reserved[port] || reserved[port+busOffset] {
			continue
		}
		if !canBind(port) || !canBind(port+busOffset) {
			continue
		}
		reserved[port] = true
		reserved[port+busOffset] = true
		return port, nil
	}
	return 0, fmt.Errorf("redistest: no free port pair (port, port+%d) found", busOffset)
}

func canBind(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
