package config_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/attrcache/attrcache/attrcache"
	"github.com/attrcache/attrcache/config"
)

func TestStoreOptions(t *testing.T) {
	c := config.Default()
	c.Store.Namespace = "shop"
	c.Store.Limits = config.Limits{MaxNameBytes: 32, MaxBatch: 10}
	rdb := redis.NewClient(&redis.Options{Addr: config.DefaultAddr}) // never dialled
	defer rdb.Close()

	store, err := attrcache.New(rdb, c.StoreOptions(slog.New(slog.DiscardHandler))...)
	if err != nil {
		t.Fatal(err)
	}
	if store.Namespace() != "shop" {
		t.Errorf("Namespace() = %q", store.Namespace())
	}
	// The limits reach the Store: names and batches over them are
	// refused before any I/O (the client is never dialled).
	sess := store.Session("sid")
	if err := sess.Create(context.Background(), strings.Repeat("n", 33), []byte("v")); !errors.Is(err, attrcache.ErrInvalid) {
		t.Errorf("a 33-byte name under MaxNameBytes 32: %v", err)
	}
	if _, err := sess.GetMany(context.Background(), strings.Split("a b c d e f g h i j k", " ")); !errors.Is(err, attrcache.ErrInvalid) {
		t.Errorf("a batch of 11 under MaxBatch 10: %v", err)
	}

	// A nil logger leaves the library's default; an empty namespace too.
	c.Store.Namespace = ""
	store, err = attrcache.New(rdb, c.StoreOptions(nil)...)
	if err != nil {
		t.Fatal(err)
	}
	if store.Namespace() != "attrcache" {
		t.Errorf("Namespace() = %q", store.Namespace())
	}
}

func TestNewLogger(t *testing.T) {
	c := config.Default()
	c.Log = config.Log{Level: "warn", Format: "json"}
	var b bytes.Buffer
	log := c.NewLogger(&b)
	log.Info("hidden")
	log.Warn("shown", "n", 1)
	var rec map[string]any
	if err := json.Unmarshal(b.Bytes(), &rec); err != nil {
		t.Fatalf("not one JSON record: %v: %q", err, b.String())
	}
	if rec["msg"] != "shown" || rec["level"] != "WARN" {
		t.Errorf("record %v", rec)
	}

	c.Log = config.Log{Level: "debug", Format: "text"}
	b.Reset()
	c.NewLogger(&b).Debug("hello")
	if !strings.HasPrefix(b.String(), "time=") || !strings.Contains(b.String(), "level=DEBUG msg=hello") {
		t.Errorf("text record %q", b.String())
	}
	if !c.NewLogger(&b).Enabled(context.Background(), slog.LevelDebug) {
		t.Error("debug not enabled")
	}

	c.Log.Level = "error"
	if c.LogLevel() != slog.LevelError || c.NewLogger(&b).Enabled(context.Background(), slog.LevelWarn) {
		t.Error("level error lets warn through")
	}
}
