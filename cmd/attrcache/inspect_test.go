package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/attrcache/attrcache/attrcache"
)

// Recognisable values, so that the tests can tell whether any reached the
// output.
const (
	plainSecret   = "plain-secret-9b1f27e4"
	sealedSecret  = "sealed-secret-6a0c3d88"
	expiredSecret = "expired-secret-1e5b7a90"
)

// sessionWithEverything starts a session holding a plain, an encrypted,
// an expired and a corrupt attribute.
func sessionWithEverything(t *testing.T, e *env) (string, *attrcache.Session) {
	t.Helper()
	ctx := context.Background()
	sid, sess := e.start(t, time.Hour)
	err := sess.CreateMany(ctx, []attrcache.Attr{
		{Name: "role", Value: []byte(plainSecret)},
		{Name: "token", Value: []byte(sealedSecret), Options: []attrcache.WriteOption{attrcache.WithEncryption()}},
		{Name: "flash", Value: []byte(expiredSecret), Options: []attrcache.WriteOption{attrcache.WithExpiration(20 * time.Millisecond)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// A record too short for its header, written behind attrcache's back.
	if err := e.rdb.HSet(ctx, sess.Key(), "broken", "xx").Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	return sid, sess
}

func TestInspect(t *testing.T) {
	e := newEnv(t, "insp")
	sid, sess := sessionWithEverything(t, e)

	// The table names everything and holds no value.
	r := mustRun(t, sid+"\n", "-config", e.config, "inspect", "-")
	absent(t, r, sid, plainSecret, sealedSecret, expiredSecret)
	present(t, squash(r.stdout), "session "+sess.ID(), sess.Key(), "state live",
		"expires", "absolute deadline none", "key TTL", "resend log", "next reclaim",
		"4 stored", "(counters: 3,", // "broken" is stored but not counted
		"role", "token", "encrypted", "flash", "expired", "broken", "corrupt: not a record attrcache wrote",
		"warning", "1 corrupt record(s): broken", "the counters (3 attributes")
	if strings.Contains(r.stdout, "VALUE\n") || strings.Contains(r.stdout, "\tVALUE") {
		t.Errorf("a VALUE column without -values:\n%s", r.stdout)
	}

	// The JSON holds the same and no value.
	r = mustRun(t, sid+"\n", "-config", e.config, "inspect", "-json", "-")
	absent(t, r, sid, plainSecret, sealedSecret, expiredSecret, `"value"`, `"value_base64"`)
	js := decodeJSON[sessionJSON](t, r.stdout)
	if js.Session != sess.ID() || js.Key != sess.Key() || js.State != "live" || !js.Exists || js.Values {
		t.Errorf("JSON header: %+v", js)
	}
	if js.Stored != 4 || js.Counted != 3 || js.Expires == nil || js.Created == nil || js.KeyTTLMs <= 0 || js.ResendLog < 1 {
		t.Errorf("JSON counters and times: %+v", js)
	}
	attrs := map[string]attrJSON{}
	for _, a := range js.Attributes {
		attrs[a.Name] = a
	}
	if a := attrs["role"]; a.Encrypted || a.Expired || a.Corrupt != "" || a.ValueBytes != len(plainSecret) || a.Created == nil || a.Modified == nil {
		t.Errorf("role: %+v", a)
	}
	if a := attrs["token"]; !a.Encrypted || a.Expired || a.ValueBytes <= len(sealedSecret) {
		t.Errorf("token: %+v", a)
	}
	if a := attrs["flash"]; !a.Expired || a.Expires == nil {
		t.Errorf("flash: %+v", a)
	}
	if a := attrs["broken"]; !strings.Contains(a.Corrupt, "shorter than its") {
		t.Errorf("broken: %+v", a)
	}

	// -values with a keyset: plain and decrypted values; the expired one
	// stays hidden (it reads as absent), the corrupt one is named.
	r = mustRun(t, sid+"\n", "-config", e.config, "inspect", "-values", "-")
	absent(t, r, sid, expiredSecret)
	present(t, r.stdout, "VALUE", `"`+plainSecret+`"`, `"`+sealedSecret+`"`, "(expired)", "(corrupt)")
	r = mustRun(t, sid+"\n", "-config", e.config, "inspect", "-values", "-json", "-")
	absent(t, r, sid, expiredSecret)
	js = decodeJSON[sessionJSON](t, r.stdout)
	attrs = map[string]attrJSON{}
	for _, a := range js.Attributes {
		attrs[a.Name] = a
	}
	if !js.Values || attrs["role"].Value == nil || *attrs["role"].Value != plainSecret ||
		attrs["token"].Value == nil || *attrs["token"].Value != sealedSecret ||
		attrs["flash"].Value != nil || attrs["flash"].ValueNote != "expired" || attrs["broken"].ValueNote != "corrupt" {
		t.Errorf("JSON with values: %+v", js)
	}

	// -values without a keyset: the plain value, and only the word that
	// the other is encrypted.
	r = mustRun(t, sid+"\n", "-config", e.noKeyset, "inspect", "-values", "-")
	absent(t, r, sid, sealedSecret, expiredSecret)
	present(t, r.stdout, `"`+plainSecret+`"`, "(encrypted; no keyset configured)")
	r = mustRun(t, sid+"\n", "-config", e.noKeyset, "inspect", "-values", "-json", "-")
	absent(t, r, sid, sealedSecret, expiredSecret)
	js = decodeJSON[sessionJSON](t, r.stdout)
	for _, a := range js.Attributes {
		if a.Name == "token" && (a.Value != nil || a.ValueBase64 != nil || a.ValueNote != "encrypted; no keyset configured") {
			t.Errorf("token without a keyset: %+v", a)
		}
	}
}

// A value under another session's key does not decrypt: inspect names
// it and still shows the rest.
func TestInspectValueThatDoesNotDecrypt(t *testing.T) {
	e := newEnv(t, "insp")
	ctx := context.Background()
	sid, sess := e.start(t, time.Hour)
	_, other := e.start(t, time.Hour)
	if err := sess.Create(ctx, "role", []byte(plainSecret)); err != nil {
		t.Fatal(err)
	}
	if err := other.Create(ctx, "token", []byte(sealedSecret), attrcache.WithEncryption()); err != nil {
		t.Fatal(err)
	}
	raw, err := e.rdb.HGet(ctx, other.Key(), "token").Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.HSet(ctx, sess.Key(), "token", raw).Err(); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, sid+"\n", "-config", e.config, "inspect", "-values", "-")
	absent(t, r, sid, sealedSecret)
	present(t, r.stdout, `"`+plainSecret+`"`, "(does not decrypt)", "values: attrcache: value does not decrypt: token")
}

func TestInspectStates(t *testing.T) {
	e := newEnv(t, "insp")
	ctx := context.Background()

	// No key at all.
	sid := attrcache.NewSessionID()
	r := mustRun(t, sid+"\n", "-config", e.config, "inspect", "-values", "-")
	present(t, squash(r.stdout), "state none", "no key in Redis")
	absent(t, r, sid)

	// A string where the session's hash should be.
	sid = attrcache.NewSessionID()
	key := e.store.Session(sid).Key()
	if err := e.rdb.Set(ctx, key, plainSecret, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, sid+"\n", "-config", e.config, "inspect", "-values", "-")
	present(t, squash(r.stdout), "state corrupt", "problem the key is a string, not a hash")
	absent(t, r, sid, plainSecret)

	// A marker attrcache did not write, and no TTL.
	sid = attrcache.NewSessionID()
	key = e.store.Session(sid).Key()
	if err := e.rdb.HSet(ctx, key, "\x00", "junk", "role", "x").Err(); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, sid+"\n", "-config", e.config, "inspect", "-json", "-")
	js := decodeJSON[sessionJSON](t, r.stdout)
	if js.State != "corrupt" || !strings.Contains(js.Problem, "not a marker attrcache wrote") || js.KeyTTLMs != -1 ||
		len(js.Warnings) == 0 || !strings.Contains(strings.Join(js.Warnings, "\n"), "no TTL") {
		t.Errorf("junk marker: %+v", js)
	}

	// Ended: a tombstone.
	sid, sess := e.start(t, time.Hour)
	if err := sess.End(ctx); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, sid+"\n", "-config", e.config, "inspect", "-values", "-")
	present(t, squash(r.stdout), "state ended")
	absent(t, r, sid)

	// Expired: past its deadline, the key lingers.
	sid, sess = e.start(t, time.Hour)
	if err := sess.Create(ctx, "role", []byte(plainSecret)); err != nil {
		t.Fatal(err)
	}
	expireSoon(t, sess)
	r = mustRun(t, sid+"\n", "-config", e.config, "inspect", "-values", "-")
	present(t, squash(r.stdout), "state expired", "(session expired)")
	absent(t, r, sid, plainSecret)
}
