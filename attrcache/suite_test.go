package attrcache_test

import (
	"testing"

	"github.com/alicebob/miniredis/v2"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/keys"
	"github.com/attrcache/attrcache/test/suite"
)

// TestBehaviour runs the behaviour suite on miniredis (see
// suite.Miniredis for its clock).
func TestBehaviour(t *testing.T) {
	suite.Run(t, suite.Miniredis(t, miniredis.RunT(t)))
}

// TestEnvelopeBehaviour runs the encryption tests on miniredis with the
// envelope cipher of package keys, the cipher production code uses.
func TestEnvelopeBehaviour(t *testing.T) {
	b := suite.Miniredis(t, miniredis.RunT(t))
	b.Cipher = func(t testing.TB) attrcache.Cipher {
		h, err := keys.Generate()
		if err != nil {
			t.Fatal(err)
		}
		e, err := keys.NewEnvelope(h)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	suite.RunEncryption(t, b)
}
