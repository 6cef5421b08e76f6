package backend

import (
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
