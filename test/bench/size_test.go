package bench

import (
	"strconv"
	"testing"
)

// BenchmarkCreateSessionSize: Create of one attribute in a session that
// already holds 1 or 1,000 (the write script must not do work that grows
// with the session). The created attribute is deleted outside the timer,
// so the session keeps its size. 1 attribute is a listpack-encoded hash,
// 1,000 a hashtable.
func BenchmarkCreateSessionSize(b *testing.B) {
	e := newEnv(b)
	v := value(valueSize)
	const fresh = "fresh-attr"
	for _, n := range []int{1, 1000} {
		b.Run("attrs="+strconv.Itoa(n), func(b *testing.B) {
			sess := e.session(b)
			fill(b, sess, names(n), v)
			loop(b, e.rdb, writeCmds, 1, func() {
				if err := sess.Delete(ctx, fresh); err != nil {
					b.Fatal(err)
				}
			}, func(int) error {
				return sess.Create(ctx, fresh, v)
			})
		})
	}
}
