package bench

import (
	"strconv"
	"testing"

	"github.com/alexedwards/scs/goredisstore"
	"github.com/alexedwards/scs/v2"
)

// scsSizes are the session sizes of BenchmarkSetVsScs.
var scsSizes = []int{10, 100, 1000}

// BenchmarkSetVsScs: replacing one attribute of a session that holds n.
// attrcache is one Set. scs is what an application does with a
// whole-session store: Load (GET and gob-decode the session), Put,
// Commit (gob-encode and SET), through scs.SessionManager and
// goredisstore on the same client. Both hash the session token into the
// key (HashTokenInStore), as attrcache always does.
func BenchmarkSetVsScs(b *testing.B) {
	e := newEnv(b)
	v := value(valueSize)
	for _, n := range scsSizes {
		ns := names(n)
		target := ns[n/2]
		b.Run("attrs="+strconv.Itoa(n), func(b *testing.B) {
			b.Run("attrcache", func(b *testing.B) {
				sess := e.session(b)
				fill(b, sess, ns, v)
				loop(b, e.rdb, writeCmds, 0, nothing, func(int) error {
					return sess.Set(ctx, target, v)
				})
			})
			b.Run("scs", func(b *testing.B) {
				sm := scs.New()
				sm.Store = goredisstore.New(e.rdb)
				sm.HashTokenInStore = true
				sm.Lifetime = sessionTTL
				c, err := sm.Load(ctx, "")
				if err != nil {
					b.Fatal(err)
				}
				for _, name := range ns {
					sm.Put(c, name, v)
				}
				token, _, err := sm.Commit(c)
				if err != nil {
					b.Fatal(err)
				}
				loop(b, e.rdb, cmds("get", "set"), 0, nothing, func(int) error {
					c, err := sm.Load(ctx, token)
					if err != nil {
						return err
					}
					sm.Put(c, target, v)
					_, _, err = sm.Commit(c)
					return err
				})
			})
		})
	}
}
