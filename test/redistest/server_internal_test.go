package redistest

import (
	"net"
	"testing"
)

// A port taken between picking and binding must cost a retry, not the test.
func TestStartRetriesTakenPort(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	busy := taken.Addr().(*net.TCPAddr).Port

	picks := 0
	pick := func() (int, error) {
		picks++
		if picks == 1 {
			return busy, nil
		}
		return freePort()
	}
	cfg := newServerConfig(nil)
	s := newServer(t, Require(t), t.TempDir(), cfg, cfg.dataArgs(), pick)
	if err := s.start(true); err != nil {
		t.Fatalf("start: %v", err)
	}
	if picks != 2 || s.Addr() == taken.Addr().String() {
		t.Fatalf("picked %d ports, serving on %s (taken: %s)", picks, s.Addr(), taken.Addr())
	}
}
