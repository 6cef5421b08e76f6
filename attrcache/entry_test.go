package attrcache_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/attrcache/attrcache/attrcache"
)

// TestNoValueInJSON prints entries and attributes every way an
// application might log them: encoding/json, slog's JSON and text
// handlers, maps and slices of them, text encoders. The value never shows.
func TestNoValueInJSON(t *testing.T) {
	const secret = "S3CR3T-VALUE-json"
	now := time.Now()
	e := attrcache.Entry{Name: "token", Value: []byte(secret), Created: now, Modified: now, Encrypted: true}
	a := attrcache.Attr{Name: "token", Value: []byte(secret), Options: []attrcache.WriteOption{attrcache.WithEncryption()}}
	all := map[string]*attrcache.Entry{"token": &e, "gone": nil}
	things := map[string]any{
		"Entry": e, "*Entry": &e, "map": all, "slice": []attrcache.Entry{e}, "slice of pointers": []*attrcache.Entry{&e},
		"Attr": a, "*Attr": &a, "[]Attr": []attrcache.Attr{a}, "map of Attr": map[string]attrcache.Attr{"a": a},
		"struct": struct{ Got *attrcache.Entry }{&e},
	}
	var out bytes.Buffer
	jl := slog.New(slog.NewJSONHandler(&out, nil))
	tl := slog.New(slog.NewTextHandler(&out, nil))
	for what, x := range things {
		b, err := json.Marshal(x)
		if err != nil {
			t.Fatalf("json.Marshal(%s): %v", what, err)
		}
		out.Write(b)
		jl.Info("m", "x", x)
		tl.Info("m", "x", x)
		if b, err := xml.Marshal(struct{ X any }{x}); err == nil {
			out.Write(b)
		}
		fmt.Fprintf(&out, "%v %+v %#v %s\n", x, x, x, x)
	}
	// encoding/json prints a []byte in base64: look for every spelling.
	for _, form := range []string{secret, base64.StdEncoding.EncodeToString([]byte(secret)),
		base64.RawStdEncoding.EncodeToString([]byte(secret)), hex.EncodeToString([]byte(secret))} {
		if strings.Contains(out.String(), form) {
			t.Fatalf("a value was printed (as %q):\n%s", form, out.String())
		}
	}
	// The JSON form says what there is, without the value.
	b, _ := json.Marshal(e)
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil || back["name"] != "token" || back["value_bytes"] != float64(len(secret)) || back["encrypted"] != true {
		t.Fatalf("Entry as JSON: %s (%v)", b, err)
	}
}
