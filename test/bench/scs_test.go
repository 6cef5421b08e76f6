package bench

import (
	"strconv"
	"testing"

	"github.com/alexedwards/scs/goredisstore"
	"github.com/alexedwards/scs/v2"
)

// BenchmarkSetVsScs: replacing one attribute of a session that holds n
// attributes of valueSize bytes, calls/5 times, the session written on
// every call. attrcache is one Set. scs (github.com/alexedwards/scs/v2
// with goredisstore, on the same client) is what an application does
// with a whole-session store: Load (GET and gob-decode the session),
// Put, Commit (gob-encode and SET). Both hash the session token into the
// key (HashTokenInStore), as attrcache always does.
func BenchmarkSetVsScs(b *testing.B) {
	e := newEnv(b)
	v := value(valueSize)
	for _, n := range []int{10, 100, 1000} {
		b.Run("attrs="+strconv.Itoa(n), func(b *testing.B) {
			ns := names(n)
			name := ns[n/2]
			sess := e.session(b, e.store, attrs(ns, v))
			sm := scs.New()
			sm.Store = goredisstore.New(e.rdb)
			sm.HashTokenInStore = true
			sm.Lifetime = sessionTTL
			c, err := sm.Load(ctx, "")
			if err != nil {
				b.Fatal(err)
			}
			for _, x := range ns {
				sm.Put(c, x, v)
			}
			token, _, err := sm.Commit(c)
			if err != nil {
				b.Fatal(err)
			}
			compare(b, e, calls/5,
				side{cmds: writeCmds, op: func(int) error { return sess.Set(ctx, name, v) }},
				side{cmds: cmds("get", "set"), op: func(int) error {
					c, err := sm.Load(ctx, token)
					if err != nil {
						return err
					}
					sm.Put(c, name, v)
					_, _, err = sm.Commit(c)
					return err
				}})
		})
	}
}
