package keys_test

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyderivation"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"

	"github.com/attrcache/attrcache/keys"
)

// ad builds associated data the way attrcache does:
// namespace NUL sessionDigest NUL attributeName.
func ad(ns, session, name string) []byte {
	return []byte(ns + "\x00" + session + "\x00" + name)
}

func generate(t testing.TB) *keyset.Handle {
	t.Helper()
	h, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func envelope(t testing.TB, h *keyset.Handle, opts ...keys.EnvelopeOption) *keys.Envelope {
	t.Helper()
	e, err := keys.NewEnvelope(h, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func seal(t testing.TB, e *keys.Envelope, pt, ad []byte) []byte {
	t.Helper()
	ct, err := e.Encrypt(pt, ad)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func mustOpen(t testing.TB, e *keys.Envelope, ct, ad, want []byte) {
	t.Helper()
	got, err := e.Decrypt(ct, ad)
	if err != nil {
		t.Fatalf("Decrypt: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Decrypt returned other plaintext")
	}
}

// mustFail checks that Decrypt fails with ErrDecrypt and returns no
// plaintext.
func mustFail(t testing.TB, e *keys.Envelope, ct, ad []byte, what string) error {
	t.Helper()
	pt, err := e.Decrypt(ct, ad)
	if err == nil {
		t.Fatalf("%s: Decrypt succeeded", what)
	}
	if !errors.Is(err, keys.ErrDecrypt) {
		t.Fatalf("%s: error %v is not ErrDecrypt", what, err)
	}
	if pt != nil {
		t.Fatalf("%s: Decrypt returned plaintext with an error", what)
	}
	return err
}

func TestRoundTrip(t *testing.T) {
	e := envelope(t, generate(t))
	a := ad("attrcache", "c2Vzc2lvbi1kaWdlc3Q", "roles")
	for _, n := range []int{0, 1, 15, 16, 17, 256, 64 << 10} {
		pt := bytes.Repeat([]byte{'v'}, n)
		ct := seal(t, e, pt, a)
		if len(ct) != n+keys.Overhead {
			t.Errorf("len(ciphertext) = %d for %d bytes, want %d", len(ct), n, n+keys.Overhead)
		}
		if n >= 16 && bytes.Contains(ct, pt[:16]) {
			t.Errorf("ciphertext holds the plaintext")
		}
		mustOpen(t, e, ct, a, pt)
	}
	if keys.Overhead > 48 {
		t.Errorf("Overhead = %d, over the 48-byte budget", keys.Overhead)
	}
}

func TestFreshNonce(t *testing.T) {
	e := envelope(t, generate(t))
	a := ad("ns", "s", "n")
	c1, c2 := seal(t, e, []byte("same"), a), seal(t, e, []byte("same"), a)
	if bytes.Equal(c1, c2) {
		t.Fatal("two encryptions of one value are equal")
	}
}

func TestOtherEnvelopeSameKeyset(t *testing.T) {
	// Two processes with one keyset derive the same session keys.
	h := generate(t)
	e1, e2 := envelope(t, h), envelope(t, h, keys.WithCacheSize(0))
	a := ad("ns", "sess", "cart")
	mustOpen(t, e2, seal(t, e1, []byte("v"), a), a, []byte("v"))
	mustOpen(t, e1, seal(t, e2, []byte("w"), a), a, []byte("w"))
}

func TestAssociatedDataBinding(t *testing.T) {
	e := envelope(t, generate(t))
	pt := []byte("csrf-seed-0123456789")
	a := ad("attrcache", "sessionA", "csrf")
	ct := seal(t, e, pt, a)

	for _, c := range []struct {
		what string
		ad   []byte
	}{
		{"other session", ad("attrcache", "sessionB", "csrf")},
		{"other attribute, same session", ad("attrcache", "sessionA", "roles")},
		{"other namespace", ad("other", "sessionA", "csrf")},
		{"no associated data", nil},
		{"associated data with a byte more", append(bytes.Clone(a), 'x')},
		{"associated data with a byte less", a[:len(a)-1]},
	} {
		mustFail(t, e, ct, c.ad, c.what)
	}
	// Open it once, so that the session's key is cached, and again check a
	// move within the session.
	mustOpen(t, e, ct, a, pt)
	mustFail(t, e, ct, ad("attrcache", "sessionA", "roles"), "other attribute, cached key")

	for i := range ct {
		for _, bit := range []byte{0x01, 0x80} {
			bad := bytes.Clone(ct)
			bad[i] ^= bit
			mustFail(t, e, bad, a, fmt.Sprintf("bit %#x of byte %d flipped", bit, i))
		}
	}
	for n := range len(ct) {
		mustFail(t, e, ct[:n], a, fmt.Sprintf("truncated to %d bytes", n))
	}
	mustFail(t, e, append(bytes.Clone(ct), 0), a, "one byte appended")
	mustFail(t, e, ct[1:], a, "first byte cut")
}

func TestGarbage(t *testing.T) {
	e := envelope(t, generate(t))
	a := ad("ns", "s", "n")
	for _, ct := range [][]byte{
		nil,
		{},
		{0},
		[]byte("not a ciphertext"),
		bytes.Repeat([]byte{0}, keys.Overhead),
		bytes.Repeat([]byte{1}, keys.Overhead+10),
		bytes.Repeat([]byte{0xff}, 1000),
	} {
		mustFail(t, e, ct, a, fmt.Sprintf("garbage of %d bytes", len(ct)))
	}
}

func TestScopeWithoutNUL(t *testing.T) {
	// Associated data without NUL is its own scope; with a single NUL the
	// scope is what precedes it.
	e := envelope(t, generate(t))
	for _, a := range [][]byte{nil, []byte("plain"), []byte("a\x00b"), []byte("\x00"), []byte("a\x00\x00")} {
		ct := seal(t, e, []byte("v"), a)
		mustOpen(t, e, ct, a, []byte("v"))
	}
	ct := seal(t, e, []byte("v"), []byte("a\x00b"))
	mustFail(t, e, ct, []byte("a\x00c"), "other name, single NUL")
	mustFail(t, e, ct, []byte("ab"), "NUL removed")
}

// TestMatchesTink checks that Envelope's session keys are exactly those
// Tink's KeysetDeriver derives with salt = scope: ciphertexts cross both
// ways.
func TestMatchesTink(t *testing.T) {
	h := generate(t)
	h, _, err := keys.Rotate(h)
	if err != nil {
		t.Fatal(err)
	}
	e := envelope(t, h)
	deriver, err := keyderivation.New(h)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		scope := "attrcache\x00session-" + strconv.Itoa(i)
		a := []byte(scope + "\x00name")
		dh, err := deriver.DeriveKeyset([]byte(scope))
		if err != nil {
			t.Fatal(err)
		}
		tinkAEAD, err := aead.New(dh)
		if err != nil {
			t.Fatal(err)
		}
		ct := seal(t, e, []byte("value"), a)
		if got, err := tinkAEAD.Decrypt(ct, a); err != nil || string(got) != "value" {
			t.Fatalf("Tink cannot open the Envelope's ciphertext: %v", err)
		}
		tct, err := tinkAEAD.Encrypt([]byte("tink"), a)
		if err != nil {
			t.Fatal(err)
		}
		mustOpen(t, e, tct, a, []byte("tink"))
	}
}

func TestRotation(t *testing.T) {
	hA := generate(t)
	idA := keys.List(hA)[0].ID
	eA := envelope(t, hA)
	a := ad("ns", "sess", "roles")
	ctA := seal(t, eA, []byte("under A"), a)
	if id, ok := keys.CiphertextKeyID(ctA); !ok || id != idA {
		t.Fatalf("ciphertext names key %d, want %d", id, idA)
	}

	hB, idB, err := keys.Rotate(hA)
	if err != nil {
		t.Fatal(err)
	}
	if idB == idA {
		t.Fatal("Rotate reused the key id")
	}
	if keys.List(hA)[0].Primary != true || len(keys.List(hA)) != 1 {
		t.Fatal("Rotate changed its input")
	}
	eB := envelope(t, hB)
	if eB.PrimaryKeyID() != idB {
		t.Fatalf("PrimaryKeyID = %d, want %d", eB.PrimaryKeyID(), idB)
	}
	mustOpen(t, eB, ctA, a, []byte("under A"))
	ctB := seal(t, eB, []byte("under B"), a)
	if id, _ := keys.CiphertextKeyID(ctB); id != idB {
		t.Fatalf("new value sealed under key %d, want the new primary %d", id, idB)
	}
	// A process still on the old keyset does not know B.
	err = mustFail(t, eA, ctB, a, "old keyset, new key")
	if errors.Is(err, keys.ErrKeyDisabled) {
		t.Fatalf("unknown key reported as disabled: %v", err)
	}

	hC, err := keys.Disable(hB, idA)
	if err != nil {
		t.Fatal(err)
	}
	eC := envelope(t, hC)
	err = mustFail(t, eC, ctA, a, "value under disabled key")
	if !errors.Is(err, keys.ErrKeyDisabled) || !strings.Contains(err.Error(), "disabled") || !strings.Contains(err.Error(), strconv.FormatUint(uint64(idA), 10)) {
		t.Fatalf("error for a disabled key does not say so: %v", err)
	}
	mustOpen(t, eC, ctB, a, []byte("under B"))

	hD, err := keys.Enable(hC, idA)
	if err != nil {
		t.Fatal(err)
	}
	mustOpen(t, envelope(t, hD), ctA, a, []byte("under A"))
}

func TestStagedRotation(t *testing.T) {
	h := generate(t)
	old := keys.List(h)[0].ID
	staged, id, err := keys.Add(h)
	if err != nil {
		t.Fatal(err)
	}
	e := envelope(t, staged)
	if e.PrimaryKeyID() != old {
		t.Fatal("Add changed the primary")
	}
	promoted, err := keys.Promote(staged, id)
	if err != nil {
		t.Fatal(err)
	}
	a := ad("ns", "s", "n")
	ct := seal(t, envelope(t, promoted), []byte("v"), a)
	// Processes still on the staged keyset open the new key's values.
	mustOpen(t, e, ct, a, []byte("v"))
}

func TestKeysetEdits(t *testing.T) {
	h := generate(t)
	primary := keys.List(h)[0].ID
	if _, err := keys.Disable(h, primary); !errors.Is(err, keys.ErrPrimary) {
		t.Fatalf("Disable(primary) = %v, want ErrPrimary", err)
	}
	if _, err := keys.Disable(h, primary+1); !errors.Is(err, keys.ErrKeyNotFound) {
		t.Fatalf("Disable(unknown) = %v, want ErrKeyNotFound", err)
	}
	if _, err := keys.Promote(h, primary+1); !errors.Is(err, keys.ErrKeyNotFound) {
		t.Fatalf("Promote(unknown) = %v, want ErrKeyNotFound", err)
	}
	h2, id, err := keys.Add(h)
	if err != nil {
		t.Fatal(err)
	}
	h3, err := keys.Disable(h2, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Promote(h3, id); err == nil {
		t.Fatal("Promote made a disabled key primary")
	}
	if _, err := keys.Disable(h3, id); err != nil {
		t.Fatalf("disabling a disabled key: %v", err)
	}
}

func TestList(t *testing.T) {
	h := generate(t)
	h, id, err := keys.Rotate(h)
	if err != nil {
		t.Fatal(err)
	}
	l := keys.List(h)
	if len(l) != 2 {
		t.Fatalf("List has %d keys, want 2", len(l))
	}
	for _, k := range l {
		if k.Primary != (k.ID == id) || k.Status != keyset.Enabled || k.OutputPrefix != "TINK" ||
			k.Type != "type.googleapis.com/google.crypto.tink.PrfBasedDeriverKey" ||
			k.Algorithm != "HKDF-SHA256 -> AES256_GCM" {
			t.Errorf("List entry %+v", k)
		}
	}
	if keys.List(nil) != nil {
		t.Error("List(nil) is not empty")
	}
}

func TestWrongKeysetKind(t *testing.T) {
	aeadKeyset, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	_, err = keys.NewEnvelope(aeadKeyset)
	if !errors.Is(err, keys.ErrUnsupportedKeyset) ||
		!strings.Contains(err.Error(), "AesGcmKey") || !strings.Contains(err.Error(), "PrfBasedDeriverKey") {
		t.Fatalf("NewEnvelope(AEAD keyset) = %v, want ErrUnsupportedKeyset naming both key types", err)
	}
	if _, _, err := keys.Rotate(aeadKeyset); !errors.Is(err, keys.ErrUnsupportedKeyset) {
		t.Fatalf("Rotate(AEAD keyset) = %v, want ErrUnsupportedKeyset", err)
	}

	for name, derived := range map[string]*tinkpb.KeyTemplate{
		"RAW prefix": aead.AES256GCMNoPrefixKeyTemplate(),
		"AES-128":    aead.AES128GCMKeyTemplate(),
		"ChaCha":     aead.XChaCha20Poly1305KeyTemplate(),
	} {
		tpl, err := keyderivation.CreatePRFBasedKeyTemplate(prf.HKDFSHA256PRFKeyTemplate(), derived)
		if err != nil {
			t.Fatal(err)
		}
		h, err := keyset.NewHandle(tpl)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := keys.NewEnvelope(h); !errors.Is(err, keys.ErrUnsupportedKeyset) {
			t.Errorf("%s: NewEnvelope = %v, want ErrUnsupportedKeyset", name, err)
		}
	}
	if _, err := keys.NewEnvelope(nil); err == nil {
		t.Error("NewEnvelope(nil) succeeded")
	}
	if _, err := keys.NewEnvelope(generate(t), keys.WithCacheSize(-1)); err == nil {
		t.Error("WithCacheSize(-1) accepted")
	}
}

func TestCrunchyPrefix(t *testing.T) {
	derived := aead.AES256GCMKeyTemplate()
	derived.OutputPrefixType = tinkpb.OutputPrefixType_CRUNCHY
	tpl, err := keyderivation.CreatePRFBasedKeyTemplate(prf.HKDFSHA256PRFKeyTemplate(), derived)
	if err != nil {
		t.Fatal(err)
	}
	h, err := keyset.NewHandle(tpl)
	if err != nil {
		t.Fatal(err)
	}
	e := envelope(t, h)
	a := ad("ns", "s", "n")
	ct := seal(t, e, []byte("v"), a)
	if ct[0] != 0 || len(ct) != 1+keys.Overhead {
		t.Fatalf("CRUNCHY ciphertext starts with %#x, length %d", ct[0], len(ct))
	}
	mustOpen(t, e, ct, a, []byte("v"))
	// Rotating adds a TINK key; the CRUNCHY key's values still open.
	h2, _, err := keys.Rotate(h)
	if err != nil {
		t.Fatal(err)
	}
	mustOpen(t, envelope(t, h2), ct, a, []byte("v"))
}

func TestConcurrent(t *testing.T) {
	h := generate(t)
	h2, _, err := keys.Add(h)
	if err != nil {
		t.Fatal(err)
	}
	// A small cache so that goroutines evict each other's keys.
	e := envelope(t, h2, keys.WithCacheSize(8))
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				a := ad("ns", "session-"+strconv.Itoa((g*7+i)%40), "attr-"+strconv.Itoa(i%3))
				pt := []byte(fmt.Sprintf("value %d %d", g, i))
				ct, err := e.Encrypt(pt, a)
				if err != nil {
					errs <- err
					return
				}
				got, err := e.Decrypt(ct, a)
				if err != nil || !bytes.Equal(got, pt) {
					errs <- fmt.Errorf("round trip failed: %v", err)
					return
				}
				if _, err := e.Decrypt(ct, ad("ns", "other", "attr")); err == nil {
					errs <- errors.New("value opened for another session")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
