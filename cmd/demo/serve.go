package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// defaultIdle is the shop's idle timeout when -idle is not given: short,
// so that someone trying the demo sees a session end.
const defaultIdle = 5 * time.Minute

// serve runs the shop (shop.go) over HTTPS at addr, on the configured
// Redis or the embedded miniredis, until ctx ends. It prints where it
// listens and the certificate's fingerprint to w; never a session id or a
// value.
func serve(ctx context.Context, w, warn io.Writer, configPath, addr string, idle time.Duration) error {
	store, b, err := open(ctx, w, warn, configPath)
	if err != nil {
		return err
	}
	defer b.close()
	if b.mr != nil {
		defer keepTime(b.mr)()
	}
	shop, err := newShop(store, idle, log.New(warn, "demo: ", 0))
	if err != nil {
		return err
	}
	srv, err := startHTTPS(addr, shop)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "serving the shop at %s/ (sessions end %v after their last request, %v after login at the latest)\n", srv.URL, shortDuration(idle), shortDuration(shopAbsoluteTimeout))
	fmt.Fprintf(w, "its certificate is made up at start, so the browser warns: SHA-256 fingerprint %x\n", sha256.Sum256(srv.cert.Raw))
	fmt.Fprintln(w, "interrupt (Ctrl-C) to stop")
	select {
	case <-ctx.Done():
	case err := <-srv.done:
		return fmt.Errorf("serving: %w", err)
	}
	stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(stop)
	fmt.Fprintln(w, "stopped")
	return err
}

// keepTime moves the embedded miniredis's key TTLs along with the wall
// clock, as a real Redis does, and returns the function that stops it.
// attrcache judges expiry by Redis's TIME, which miniredis keeps in real
// time, so sessions end without it; but their keys would stay, and a shop
// left serving would fill its memory with them. (The walk-through moves
// the TTLs itself, step by step.)
func keepTime(mr *miniredis.Miniredis) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		last := time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				mr.FastForward(now.Sub(last))
				last = now
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// httpsServer serves a handler over HTTPS with a throwaway certificate.
type httpsServer struct {
	*http.Server
	// URL is the server's address as a browser should use it, without a
	// trailing slash: https://host:port.
	URL  string
	cert *x509.Certificate
	done chan error // Serve's error, once it stops
}

// startHTTPS listens on addr (a port of 0 picks a free one) and serves h
// there over HTTPS, with a self-signed certificate made now for
// localhost, the loopback addresses and addr's host.
func startHTTPS(addr string, h http.Handler) (*httpsServer, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(l.Addr().String())
	if asked, _, _ := net.SplitHostPort(addr); asked != "" && net.ParseIP(asked) == nil {
		host = asked // a name: the browser should use it too
	} else if net.ParseIP(host).IsUnspecified() {
		// Listening on every address: localhost reaches it, and is
		// what the certificate names first.
		host = "localhost"
	}
	cert, err := selfSigned(host)
	if err != nil {
		l.Close()
		return nil, err
	}
	s := &httpsServer{
		Server: &http.Server{
			Handler:           h,
			TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}},
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       time.Minute,
			// Browsers that refuse the certificate end their handshakes
			// with an error each time: nothing worth printing.
			ErrorLog: log.New(io.Discard, "", 0),
		},
		URL:  (&url.URL{Scheme: "https", Host: net.JoinHostPort(host, port)}).String(),
		cert: cert.Leaf,
		done: make(chan error, 1),
	}
	go func() {
		err := s.ServeTLS(l, "", "")
		if !errors.Is(err, http.ErrServerClosed) {
			s.done <- err
		}
		close(s.done)
	}()
	return s, nil
}

// selfSigned makes a certificate valid for a day, for localhost, 127.0.0.1,
// ::1 and host, signed by its own key, which lives only in memory.
func selfSigned(host string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		// A nil SerialNumber gets a random one.
		Subject:               pkix.Name{CommonName: "attrcache demo"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if ip := net.ParseIP(host); ip == nil {
		if host != "localhost" {
			tmpl.DNSNames = append(tmpl.DNSNames, host)
		}
	} else if !slices.ContainsFunc(tmpl.IPAddresses, ip.Equal) {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
