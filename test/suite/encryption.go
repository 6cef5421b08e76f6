package suite

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/internal/format"
)

// TinkCipher returns a fresh Tink AES-256-GCM AEAD: any tink.AEAD is a
// Cipher.
func TinkCipher(t testing.TB) attrcache.Cipher {
	t.Helper()
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	a, err := aead.New(h)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func testEncryption(t *testing.T, b Backend) {
	st := newStore(t, b.Client, attrcache.WithCipher(b.cipher(t)))
	s := start(t, st, time.Hour)
	secret := "plaintext-" + randHex(8)
	must(t, s.Create(ctx, "one", v(secret), attrcache.WithEncryption()))
	must(t, s.CreateMany(ctx, []attrcache.Attr{
		{Name: "sealed", Value: v(secret)},
		{Name: "clear", Value: v(secret), Options: []attrcache.WriteOption{attrcache.WithoutEncryption()}},
	}, attrcache.WithEncryption()))
	must(t, s.SetMany(ctx, []attrcache.Attr{
		{Name: "set-sealed", Value: v(secret), Options: []attrcache.WriteOption{attrcache.WithEncryption()}},
		{Name: "set-clear", Value: v(secret)},
	}))
	for _, name := range []string{"one", "sealed", "set-sealed"} {
		if e := wantValue(t, s, name, secret); !e.Encrypted {
			t.Fatalf("%s not flagged encrypted", name)
		}
		raw, err := s.Get(ctx, name, attrcache.WithoutDecryption())
		must(t, err)
		if !raw.Encrypted || bytes.Contains(raw.Value, v(secret)) {
			t.Fatalf("%s read WithoutDecryption holds the plaintext", name)
		}
	}
	for _, name := range []string{"clear", "set-clear"} {
		if e := wantValue(t, s, name, secret); e.Encrypted {
			t.Fatalf("%s flagged encrypted", name)
		}
	}
	// Update of an encrypted attribute in clear, and back.
	must(t, s.Update(ctx, "one", v("now clear")))
	if e := wantValue(t, s, "one", "now clear"); e.Encrypted {
		t.Fatal("Update without WithEncryption kept the encrypted flag")
	}
	// The sealed bytes never reach Redis in clear.
	for f, rec := range snapshot(t, b, s.Key()) {
		if (f == "sealed" || f == "set-sealed") && strings.Contains(rec, secret) {
			t.Fatalf("field %s holds the plaintext", f)
		}
	}
	all, err := s.GetAll(ctx)
	must(t, err)
	if string(all["sealed"].Value) != secret {
		t.Fatal("GetAll did not decrypt")
	}
	// A ciphertext moved to another attribute or session does not open.
	rec := b.Client.HGet(ctx, s.Key(), "sealed").Val()
	must(t, b.Client.HSet(ctx, s.Key(), "moved", rec).Err())
	_, err = s.Get(ctx, "moved")
	wantErr(t, "Get of a ciphertext moved to another name", err, attrcache.ErrDecrypt)
	wantNames(t, err, "moved")
	other := start(t, st, time.Hour)
	must(t, b.Client.HSet(ctx, other.Key(), "sealed", rec).Err())
	_, err = other.Get(ctx, "sealed")
	wantErr(t, "Get of a ciphertext moved to another session", err, attrcache.ErrDecrypt)
	// Two sealed fields swapped: neither opens under the other's name.
	one := b.Client.HGet(ctx, s.Key(), "set-sealed").Val()
	must(t, b.Client.HSet(ctx, s.Key(), "set-sealed", rec, "swapped", one).Err())
	_, err = s.GetMany(ctx, []string{"set-sealed", "swapped"})
	wantErr(t, "GetMany of swapped ciphertexts", err, attrcache.ErrDecrypt)
	wantNames(t, err, "set-sealed", "swapped")
	// Truncated: inside the ciphertext it does not open; inside the header
	// it is corrupt.
	head, _ := format.HeaderLen(rec)
	for cut, want := range map[int]error{len(rec) - 1: attrcache.ErrDecrypt, 30: attrcache.ErrDecrypt, head - 1: attrcache.ErrCorrupt} {
		must(t, b.Client.HSet(ctx, s.Key(), "cut", rec[:cut]).Err())
		_, err = s.Get(ctx, "cut")
		wantErr(t, fmt.Sprintf("Get of a ciphertext cut to %d bytes", cut), err, want)
	}
	must(t, s.Delete(ctx, "cut"))
	flipped := []byte(rec)
	flipped[len(flipped)-1] ^= 1
	must(t, b.Client.HSet(ctx, s.Key(), "sealed", flipped).Err())
	_, err = s.Get(ctx, "sealed")
	wantErr(t, "Get of a flipped ciphertext", err, attrcache.ErrDecrypt)
	_, err = s.GetAll(ctx)
	wantErr(t, "GetAll with a bad ciphertext", err, attrcache.ErrDecrypt)
	raw, err := s.Get(ctx, "sealed", attrcache.WithoutDecryption())
	must(t, err)
	if !raw.Encrypted {
		t.Fatal("raw read lost the encrypted flag")
	}
}

// testNoCipherRead reads encrypted values through a store without a
// cipher: opening them is ErrNoCipher, reading them raw works.
func testNoCipherRead(t *testing.T, b Backend) {
	sid := "sid-" + randHex(8)
	sealed := newStore(t, b.Client, attrcache.WithCipher(b.cipher(t)))
	s, err := sealed.Start(ctx, sid, time.Hour)
	must(t, err)
	must(t, s.Create(ctx, "a", v("secret"), attrcache.WithEncryption()))
	plain, err := attrcache.New(b.Client, attrcache.WithNamespace(sealed.Namespace()))
	must(t, err)
	p := plain.Session(sid)
	_, err = p.Get(ctx, "a")
	wantErr(t, "Get of an encrypted value without cipher", err, attrcache.ErrNoCipher)
	e, err := p.Get(ctx, "a", attrcache.WithoutDecryption())
	must(t, err)
	if !e.Encrypted || string(e.Value) == "secret" {
		t.Fatal("raw read without cipher")
	}
}
