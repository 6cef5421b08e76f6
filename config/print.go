package config

import (
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"github.com/attrcache/attrcache/keys"
)

// String returns every setting as key=value, separated by spaces, in the
// order of example.yaml. Passwords show as "[redacted]" (or "" when
// empty), URL passwords in redis.addrs as [redacted], and so does a
// keyset or PEM block found where a name or path belongs, so the result
// is safe to log.
func (c Config) String() string {
	v := reflect.ValueOf(c)
	var b strings.Builder
	for i, s := range settings() {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s.key)
		b.WriteByte('=')
		f := v.FieldByIndex(s.index)
		switch {
		case f.Type() == durationType:
			b.WriteString(time.Duration(f.Int()).String())
		case s.noEcho && f.Type() != secretType && f.Kind() == reflect.String:
			fmt.Fprintf(&b, "%q", shownString(f.String()))
		case f.Kind() == reflect.String, f.Kind() == reflect.Slice:
			fmt.Fprintf(&b, "%q", f.Interface())
		default:
			fmt.Fprintf(&b, "%v", f.Interface())
		}
	}
	return b.String()
}

// GoString returns the settings as String does, for %#v, which would
// otherwise print every field as it is.
func (c Config) GoString() string { return "config.Config{" + c.String() + "}" }

// LogValue returns the settings as nested slog groups (redis, attrcache,
// encryption, log) masked as String masks them, so
// logger.Info("config", "config", cfg) is safe.
func (c Config) LogValue() slog.Value {
	return groupValue(reflect.ValueOf(c))
}

func groupValue(v reflect.Value) slog.Value {
	t := v.Type()
	var attrs []slog.Attr
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("mapstructure")
		if !f.IsExported() || tag == "" || tag == "-" {
			continue
		}
		fv := v.Field(i)
		switch {
		case f.Type.Kind() == reflect.Struct:
			attrs = append(attrs, slog.Attr{Key: tag, Value: groupValue(fv)})
		case f.Type == durationType:
			// A string reads better than nanoseconds in JSON.
			attrs = append(attrs, slog.String(tag, time.Duration(fv.Int()).String()))
		case f.Tag.Get("config") == "noecho" && f.Type.Kind() == reflect.String:
			attrs = append(attrs, slog.String(tag, shownString(fv.String())))
		default:
			// Secret and Addrs resolve to their masked LogValue.
			attrs = append(attrs, slog.Any(tag, fv.Interface()))
		}
	}
	return slog.GroupValue(attrs...)
}

// shownString returns the value of a setting that names a variable or a
// file as printing may show it: as it is, or "[redacted]" when it looks
// like key material. Load refuses such values; a Config built by hand is
// printed as it is.
func shownString(v string) string {
	if keys.LooksLikeKeyset(v) || strings.Contains(v, "-----BEGIN") || strings.ContainsAny(v, "\r\n") {
		return redacted
	}
	return v
}
