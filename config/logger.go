package config

import (
	"io"
	"log/slog"
	"strings"
)

// NewLogger returns a logger writing to w in the log.format (text or
// json) at the log.level. An unknown level counts as info and an unknown
// format as text; Validate reports both.
func (c *Config) NewLogger(w io.Writer) *slog.Logger {
	level, _ := parseLevel(c.Log.Level)
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(c.Log.Format, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// LogLevel returns the slog level of log.level; info when it is unknown.
func (c *Config) LogLevel() slog.Level {
	level, _ := parseLevel(c.Log.Level)
	return level
}

func parseLevel(s string) (slog.Level, bool) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "warn":
		return slog.LevelWarn, true
	case "error":
		return slog.LevelError, true
	}
	return slog.LevelInfo, false
}
