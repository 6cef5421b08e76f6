package rueidisstore

import (
	"context"
	"io"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/rueidis"
)

type marshaler struct{ n int }

func (m *marshaler) MarshalBinary() ([]byte, error) { m.n++; return []byte{0, 1, 2}, nil }

func TestAppendArgs(t *testing.T) {
	m := &marshaler{}
	got, err := appendArgs(nil, []any{m, "s", []byte("b"), 7, int64(-8), uint8(9), nil, true})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"\x00\x01\x02", "s", "b", "7", "-8", "9", "", "1"}
	if len(got) != len(want) {
		t.Fatalf("%q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("argument %d: %q, want %q", i, got[i], want[i])
		}
	}
	if m.n != 1 {
		t.Fatalf("marshalled %d times", m.n)
	}
	if _, err := appendArgs(nil, []any{struct{ secret string }{"value"}}); err == nil {
		t.Fatal("an argument of an unknown type was taken")
	} else if want := "rueidisstore: a script argument of type struct { secret string }"; err.Error() != want {
		t.Fatalf("error %q shows more than the type", err)
	}
}

func TestErrorPrefix(t *testing.T) {
	mr := miniredis.RunT(t)
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{mr.Addr()}, DisableCache: true, ForceSingleClient: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := mr.Set("str", "x"); err != nil {
		t.Fatal(err)
	}
	var b rueidisBackend
	for _, cc := range []struct {
		cmd  rueidis.Completed
		want string
	}{
		{c.B().Hgetall().Key("str").Build(), "WRONGTYPE"},
		{c.B().Fcall().Function("f").Numkeys(0).Build(), "ERR"}, // rueidis drops "ERR "
		{c.B().Evalsha().Sha1("0000000000000000000000000000000000000000").Numkeys(0).Build(), "NOSCRIPT"},
	} {
		err := c.Do(ctx, cc.cmd).Error()
		if got, ok := b.ErrorPrefix(err); !ok || got != cc.want {
			t.Errorf("%v: prefix %q, %v, want %q", err, got, ok, cc.want)
		}
		if resendable(ctx, err) {
			t.Errorf("%v: a reply from Redis is resendable", err)
		}
	}
	if _, ok := b.ErrorPrefix(io.EOF); ok {
		t.Error("EOF has a prefix")
	}
	if !resendable(ctx, io.EOF) || resendable(ctx, context.DeadlineExceeded) {
		t.Error("resendable judges network errors wrong")
	}
	if !functionsUnsupported(c.Do(ctx, c.B().Fcall().Function("f").Numkeys(0).Build()).Error()) {
		t.Error("miniredis's FCALL is not taken for a server without Functions")
	}
}
