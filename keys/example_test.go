package keys_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/attrcache/attrcache/keys"
)

// An Envelope seals values for attrcache; here by hand, with associated
// data shaped like attrcache's (namespace, session digest, attribute name).
func Example() {
	kek, err := keys.Generate() // or keys.ReadFile("kek.json", nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	env, err := keys.NewEnvelope(kek)
	if err != nil {
		log.Fatal(err)
	}
	ad := []byte("attrcache\x00c2Vzc2lvbi1kaWdlc3Q\x00roles")
	ct, err := env.Encrypt([]byte("admin,editor"), ad)
	if err != nil {
		log.Fatal(err)
	}
	pt, err := env.Decrypt(ct, ad)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s, %d bytes more when sealed\n", pt, len(ct)-len(pt))

	// The same ciphertext under another attribute name does not open.
	_, err = env.Decrypt(ct, []byte("attrcache\x00c2Vzc2lvbi1kaWdlc3Q\x00csrf"))
	fmt.Println(errors.Is(err, keys.ErrDecrypt))
	// Output:
	// admin,editor, 33 bytes more when sealed
	// true
}

// Rotate adds a key and makes it primary: values sealed under the old key
// still open; once they are gone, the old key can be disabled.
func ExampleRotate() {
	kek, err := keys.Generate()
	if err != nil {
		log.Fatal(err)
	}
	old := keys.List(kek)[0].ID
	ad := []byte("attrcache\x00digest\x00name")
	env, _ := keys.NewEnvelope(kek)
	sealedBefore, _ := env.Encrypt([]byte("v"), ad)

	kek, newID, err := keys.Rotate(kek)
	if err != nil {
		log.Fatal(err)
	}
	env, _ = keys.NewEnvelope(kek)
	_, err = env.Decrypt(sealedBefore, ad)
	fmt.Println("old value opens after rotation:", err == nil)
	fmt.Println("new primary seals:", env.PrimaryKeyID() == newID)

	kek, err = keys.Disable(kek, old)
	if err != nil {
		log.Fatal(err)
	}
	env, _ = keys.NewEnvelope(kek)
	_, err = env.Decrypt(sealedBefore, ad)
	fmt.Println("after disabling the old key:", errors.Is(err, keys.ErrKeyDisabled))
	// Output:
	// old value opens after rotation: true
	// new primary seals: true
	// after disabling the old key: true
}
