package redistest

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy is a loopback TCP proxy in front of a Redis server that injects
// faults: latency, lost replies and refused connections. Its methods are
// safe for concurrent use and take effect at once, also on connections
// already open.
//
// The proxy does not parse RESP. It sees a "reply" as one read from the
// server side of a connection: for request/response traffic, where each
// command's reply is small and the client waits for it before sending the
// next, one read is one reply. Pipelined or very large replies may arrive
// in several reads or share one.
type Proxy struct {
	target string
	ln     net.Listener
	wg     sync.WaitGroup // the accept loop and every connection

	mu           sync.Mutex
	closed       bool
	refuse       bool
	replyDelay   time.Duration
	requestDelay time.Duration
	drop         int // replies still to drop
	links        map[*link]struct{}
	connections  int
	refused      int
	dropped      int
}

// link is one client connection and its connection to the target.
type link struct {
	client, server net.Conn
	once           sync.Once
	done           chan struct{} // closed by close
}

func (l *link) close() {
	l.once.Do(func() {
		close(l.done)
		l.client.Close()
		l.server.Close()
	})
}

// dialTimeout bounds the proxy's connection to its target.
const dialTimeout = 2 * time.Second

// NewProxy starts a proxy on a free loopback port that forwards every
// connection to target ("host:port"). It passes traffic through unchanged
// until told otherwise, and is closed when the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: proxy listen: %v", err)
	}
	p := &Proxy{target: target, ln: ln, links: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr returns the address clients connect to instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetDelay delays every chunk the server sends back by d before the
// client gets it; 0 turns the delay off. The request has already reached
// the server, so a client that times out meanwhile leaves the write
// applied.
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.replyDelay = d
}

// SetRequestDelay delays every chunk the client sends by d before the
// server gets it; 0 turns the delay off.
func (p *Proxy) SetRequestDelay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requestDelay = d
}

// DropNextReply is DropReplies(1).
func (p *Proxy) DropNextReply() { p.DropReplies(1) }

// DropReplies makes the proxy lose the next n replies: each time a
// connection reads a chunk from the server, the chunk is thrown away and
// that connection is closed on both sides. The server has applied the
// command; the client sees a broken connection instead of the reply, as
// when a network fails at the worst moment. Replies count on every
// connection, including a client's connection handshake (HELLO, AUTH,
// CLIENT SETINFO): open the connection first, with a PING, to be sure the
// intended command's reply is the one lost. go-redis retries a command
// that failed on a broken connection unless MaxRetries is -1, in which case
// it returns the error. n adds to replies still pending; n <= 0 does
// nothing.
func (p *Proxy) DropReplies(n int) {
	if n <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drop += n
}

// Refuse makes the proxy accept and immediately close every new
// connection while on is true, like a server that is down. Connections
// already open carry on; CloseAll breaks them.
func (p *Proxy) Refuse(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = on
}

// CloseAll closes every open connection, on both sides.
func (p *Proxy) CloseAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.links {
		l.close()
	}
}

// Connections returns how many client connections were forwarded to the
// target so far, open or closed; refused ones are not counted.
func (p *Proxy) Connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.connections
}

// OpenConnections returns how many forwarded connections are open now.
func (p *Proxy) OpenConnections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// RefusedConnections returns how many connections were closed at once
// because of Refuse.
func (p *Proxy) RefusedConnections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused
}

// DroppedReplies returns how many replies were lost on purpose so far.
func (p *Proxy) DroppedReplies() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dropped
}

// Close stops the proxy: it stops listening, closes every connection and
// returns once all its goroutines are gone. NewProxy arranges for it to
// run when the test ends; calling it again does nothing.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.ln.Close()
	p.CloseAll()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // closed
		}
		p.mu.Lock()
		stop, refuse := p.closed, p.refuse
		if refuse && !stop {
			p.refused++
		}
		p.mu.Unlock()
		if stop || refuse {
			c.Close()
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// serve forwards one client connection until either side closes it.
func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	server, err := net.DialTimeout("tcp", p.target, dialTimeout)
	if err != nil {
		client.Close()
		return
	}
	l := &link{client: client, server: server, done: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		l.close()
		return
	}
	p.links[l] = struct{}{}
	p.connections++
	p.mu.Unlock()

	requests := make(chan struct{})
	go func() {
		defer close(requests)
		p.pump(l, client, server, false)
	}()
	p.pump(l, server, client, true)
	<-requests

	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}

// pump copies src to dst, applying the proxy's faults, until either
// connection fails; then it closes both. replies says src is the server.
func (p *Proxy) pump(l *link, src, dst net.Conn, replies bool) {
	defer l.close()
	buf := make([]byte, 32<<10)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		n, err := src.Read(buf)
		if n > 0 {
			drop, delay := p.fault(replies)
			if drop {
				return
			}
			if delay > 0 {
				if timer == nil {
					timer = time.NewTimer(delay)
				} else {
					timer.Reset(delay)
				}
				select {
				case <-timer.C:
				case <-l.done:
					return
				}
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// fault decides what happens to a chunk just read: whether it is dropped,
// and otherwise how long it waits.
func (p *Proxy) fault(reply bool) (drop bool, delay time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !reply {
		return false, p.requestDelay
	}
	if p.drop > 0 {
		p.drop--
		p.dropped++
		return true, 0
	}
	return false, p.replyDelay
}
