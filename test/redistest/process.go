package redistest

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// process is one running redis-server (or sentinel) process.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been reaped
	err  error         // result of Wait, valid after done is closed
}

// startProcess starts bin with args in dir. Its stdout and stderr, where
// redis writes fatal configuration errors before the log file is open, go
// to outPath.
func startProcess(bin string, args []string, dir, outPath string) (*process, error) {
	out, err := os.OpenFile(outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = out
	cmd.Stderr = out
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process to shut down with SIGTERM (redis treats it like
// SHUTDOWN: AOF is flushed, the RDB saved when save points are set) and
// kills it when it is not gone after grace. It returns once the process
// has been reaped.
func (p *process) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	terminate(p.cmd)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
		return
	case <-timer.C:
	}
	p.kill()
}

// kill sends SIGKILL and waits until the process has been reaped.
func (p *process) kill() {
	if !p.exited() {
		kill(p.cmd)
	}
	<-p.done
}

// tail returns at most the last n bytes of the file at path, starting at a
// line boundary, for error messages.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := st.Size() - n
	if off < 0 {
		off = 0
	}
	b, err := io.ReadAll(io.NewSectionReader(f, off, st.Size()-off))
	if err != nil {
		return ""
	}
	if off > 0 {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// logTails formats the end of every non-empty log file in dir.
func logTails(dir string, names ...string) string {
	var buf bytes.Buffer
	for _, name := range names {
		s := tail(filepath.Join(dir, name), 3000)
		if s == "" {
			continue
		}
		fmt.Fprintf(&buf, "\n--- tail of %s ---\n%s", filepath.Join(dir, name), s)
	}
	return buf.String()
}

// fileSize returns the size of the file at path, 0 when it does not exist.
func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// readFrom returns the content of the file at path from offset off on.
func readFrom(path string, off int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(f)
	return string(b)
}
