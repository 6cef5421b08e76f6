package backend

import (
	"errors"
	"slices"
	"testing"
)

// TestReplyPayload: a Reply keeps its first inlineVals elements in itself
// and the rest in a slice; Len, Val, Int and Strings see one payload,
// across the boundary, and answer a zero Val past its end.
func TestReplyPayload(t *testing.T) {
	for n := range 2*inlineVals + 2 {
		var r Reply
		var want []string
		for i := range n {
			if i%2 == 0 {
				r.Add(Val{N: int64(i), IsInt: true})
			} else {
				s := string(rune('a' + i))
				r.Add(Val{S: s})
				want = append(want, s)
			}
		}
		if r.Len() != n {
			t.Fatalf("n=%d: Len %d", n, r.Len())
		}
		for i := range n {
			v, ok := r.Int(i)
			if (i%2 == 0) != ok || (ok && v != int64(i)) {
				t.Fatalf("n=%d: Int(%d) = %d, %v", n, i, v, ok)
			}
			if i%2 == 1 && r.Val(i).S != string(rune('a'+i)) {
				t.Fatalf("n=%d: Val(%d) = %+v", n, i, r.Val(i))
			}
		}
		if v := r.Val(n); v != (Val{}) {
			t.Fatalf("n=%d: Val past the end = %+v", n, v)
		}
		if _, ok := r.Int(-1); ok {
			t.Fatalf("n=%d: Int(-1) answered", n)
		}
		if got := r.Strings(0); !slices.Equal(got, want) {
			t.Fatalf("n=%d: Strings = %q, want %q", n, got, want)
		}
	}
}

// TestShortReply: a write's OK in one string decodes to the payload of
// the OK table (deadline, 0 reclaimed, counter), with a 48-bit deadline
// and Redis's clock in ms from TIME's seconds and microseconds, and a
// string too short, with a clock that is no TIME or with a counter that
// is no integer is ErrReply.
func TestShortReply(t *testing.T) {
	deadline := int64(1<<48 - 2)
	head := "\x00\xff\xff\xff\xff\xff\xfe"
	now := int64(1796478245261)
	clock := "1796478245.261999"
	for _, c := range []struct {
		s       string
		counter int64
		hasCtr  bool
	}{
		{s: head + clock},
		{s: head + clock + ":-42", counter: -42, hasCtr: true},
		{s: head + clock + ":9007199254740991", counter: 9007199254740991, hasCtr: true},
	} {
		r, err := ShortReply(c.s)
		if err != nil {
			t.Fatalf("%q: %v", c.s, err)
		}
		want := 2
		if c.hasCtr {
			want = 3
		}
		if r.Code != 0 || r.Now != now || r.Len() != want {
			t.Fatalf("%q: code %d now %d len %d", c.s, r.Code, r.Now, r.Len())
		}
		if dl, ok := r.Int(0); !ok || dl != deadline {
			t.Fatalf("%q: deadline %d, %v", c.s, dl, ok)
		}
		if n, ok := r.Int(1); !ok || n != 0 {
			t.Fatalf("%q: reclaimed %d, %v", c.s, n, ok)
		}
		if n, ok := r.Int(2); ok != c.hasCtr || n != c.counter {
			t.Fatalf("%q: counter %d, %v", c.s, n, ok)
		}
	}
	for _, bad := range []string{"", head + "1.", head + "1796478245", head + "1796478245.x",
		head + "-1.5", head + "1796478245.1000000", head + clock + ":", head + clock + ":1.5"} {
		if _, err := ShortReply(bad); !errors.Is(err, ErrReply) {
			t.Fatalf("%q: %v, want ErrReply", bad, err)
		}
	}
}
