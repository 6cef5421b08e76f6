package attrcache_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

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

// cmdPrinter is a go-redis hook that prints every command's arguments,
// as tracing hooks record them (redisotel's db.statement). A read's
// reply holds values, and is not what they record.
type cmdPrinter struct {
	mu  sync.Mutex
	out strings.Builder
}

func (p *cmdPrinter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (p *cmdPrinter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		p.mu.Lock()
		fmt.Fprintln(&p.out, cmd.Args()...)
		p.mu.Unlock()
		return err
	}
}
func (p *cmdPrinter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestNoValueInCommands: a hook that prints the commands a Store sends
// (a tracer's statement, a debug log) shows the values' sizes, never the
// values, for every write that carries one, and for a rotation, which
// sends the records themselves.
func TestNoValueInCommands(t *testing.T) {
	const secret = "S3CR3T-VALUE-cmd"
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	p := &cmdPrinter{}
	rdb.AddHook(p)
	st, err := attrcache.New(rdb)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := st.Start(ctx, "printed-"+strings.Repeat("a", 20), time.Hour,
		attrcache.WithAttrs(attrcache.Attr{Name: "a", Value: []byte(secret + "-start")}))
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []error{
		s.Set(ctx, "b", []byte(secret+"-set")),
		s.Create(ctx, "c", []byte(secret+"-create")),
		s.Update(ctx, "b", []byte(secret+"-update"), attrcache.WithExpiration(time.Minute)),
		s.SetMany(ctx, []attrcache.Attr{{Name: "d", Value: []byte(secret + "-many")}, {Name: "e", Value: []byte(secret + "-many2")}}),
	} {
		if step != nil {
			t.Fatal(step)
		}
	}
	// A rotation sends every record to the new id.
	if _, err := s.Rotate(ctx, attrcache.NewSessionID()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.out.String(), "fcall") && !strings.Contains(p.out.String(), "evalsha") {
		t.Fatalf("the hook saw no script:\n%s", p.out.String())
	}
	if strings.Contains(p.out.String(), secret) {
		t.Fatalf("a value was printed in a command:\n%s", p.out.String())
	}
	// Keys and names go as arguments boxed once (see backend.Text): a
	// hook still prints them as text, not as pointers.
	if _, err := s.Get(ctx, "b"); err != nil && !errors.Is(err, attrcache.ErrSessionNotFound) {
		t.Fatal(err)
	}
	out := p.out.String()
	if !strings.Contains(out, s.Key()) || !strings.Contains(out, "hmget "+s.Key()+" ") || strings.Contains(out, "0xc") {
		t.Fatalf("keys or names printed as something else than text:\n%s", out)
	}
}
