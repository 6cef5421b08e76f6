package web

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
)

// responseWriter runs the middleware's last decisions (renewal, cookie,
// caching headers) once, just before the response's headers go out: the
// handler's first WriteHeader, Write, ReadFrom or Flush. Informational
// 1xx responses go through untouched, since the real headers follow them.
type responseWriter struct {
	http.ResponseWriter
	st      *state
	r       *http.Request
	started bool
}

func (w *responseWriter) WriteHeader(code int) {
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.beforeHeaders()
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	w.beforeHeaders()
	return w.ResponseWriter.Write(b)
}

// ReadFrom keeps io.Copy and http.ServeContent on the server's own
// ReadFrom (sendfile for files).
func (w *responseWriter) ReadFrom(src io.Reader) (int64, error) {
	w.beforeHeaders()
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(struct{ io.Writer }{w.ResponseWriter}, src)
}

// Flush sends the headers first; without it a flush through Unwrap would
// send them before the middleware added its own.
func (w *responseWriter) Flush() { _ = w.FlushError() }

// FlushError is Flush for http.ResponseController, with the error.
func (w *responseWriter) FlushError() error {
	w.beforeHeaders()
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack hands the connection over: no headers will be sent.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.started = true
	w.st.mu.Lock()
	w.st.out = true
	w.st.mu.Unlock()
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap gives http.ResponseController the writer underneath.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// beforeHeaders renews the session if due, then adds the caching headers
// the request's use of the session calls for. It runs once.
func (w *responseWriter) beforeHeaders() {
	if w.started {
		return
	}
	w.started = true
	st := w.st
	st.renew(w.r, w.ResponseWriter)

	st.mu.Lock()
	st.out = true
	looked, held, cookie := st.looked, st.held, st.cookie
	st.mu.Unlock()
	h := w.Header()
	if looked || cookie {
		addVary(h, "Cookie")
	}
	switch {
	case cookie:
		// A session id must never be stored by a cache, whatever the
		// handler said about the rest of the response.
		h.Set("Cache-Control", "no-store")
	case held && h.Get("Cache-Control") == "":
		h.Set("Cache-Control", "no-store")
	}
}

// addVary adds field to the Vary header unless it, or "*", is there.
func addVary(h http.Header, field string) {
	for _, line := range h.Values("Vary") {
		for f := range strings.SplitSeq(line, ",") {
			if f = strings.TrimSpace(f); f == "*" || strings.EqualFold(f, field) {
				return
			}
		}
	}
	h.Add("Vary", field)
}
