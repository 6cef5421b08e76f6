package attrcache

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/attrcache/attrcache/internal/format"
)

// TestCallAheadOfRedisClock: a call whose start time, from the Store's
// estimate of Redis's clock, is after Redis's own clock is refused by the
// script and not run (an applied call must have started before Redis ran
// it, or a later resend could miss its log entry); the Store corrects its
// estimate from the reply and the call succeeds on its one retry.
func TestCallAheadOfRedisClock(t *testing.T) {
	mr, _, st := miniStore(t)
	ctx := context.Background()
	s, err := st.Start(ctx, "sid-ahead", time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	// The script itself: a start ten seconds ahead is CLOCK, nothing done.
	keys := s.hashKeys()
	var head [10]byte
	head[0], head[1] = modeSet, 's'
	binary.BigEndian.PutUint32(head[2:6], 1000)
	binary.BigEndian.PutUint32(head[6:10], 1<<20)
	now := time.Now().UnixMilli()
	arg := new(callArg)
	arg.init(st, now+20_000, head[:])
	arg.once.Do(func() {})
	put48(arg.b[8:14], now+10_000)
	put48(arg.b[14:20], now+20_000)
	meta := make([]byte, 7)
	put48(meta[1:], keepExpiry)
	rep, err := st.be.Run(ctx, writeScript, keys, []any{arg, "a", meta, []byte("v")})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Code != format.StatusClock {
		t.Fatalf("a call ten seconds ahead of Redis's clock: status %d, want CLOCK", rep.Code)
	}
	if mr.HGet(s.Key(), "a") != "" {
		t.Fatal("the refused call wrote its attribute")
	}

	// Through the Store, with its estimate ten seconds ahead.
	sent := time.Now()
	st.clock.Observe("", sent, sent, sent.UnixMilli()+10_000)
	if err := s.Set(ctx, "b", []byte("1")); err != nil {
		t.Fatalf("Set with the estimate ten seconds ahead: %v", err)
	}
	e, err := s.Get(ctx, "b")
	if err != nil || string(e.Value) != "1" {
		t.Fatalf("Get after the retried Set: %v, %v", e, err)
	}
}
