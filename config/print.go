package config

import (
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"
)

// String returns every setting as key=value, separated by spaces, in the
// order of example.yaml. Passwords show as "[redacted]" (or "" when
// empty), so the result is safe to log.
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
		case f.Kind() == reflect.String, f.Kind() == reflect.Slice:
			fmt.Fprintf(&b, "%q", f.Interface())
		default:
			fmt.Fprintf(&b, "%v", f.Interface())
		}
	}
	return b.String()
}

// LogValue returns the settings as nested slog groups (redis, attrcache,
// encryption, log) with passwords masked, so
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
		default:
			// Secret resolves to its masked LogValue.
			attrs = append(attrs, slog.Any(tag, fv.Interface()))
		}
	}
	return slog.GroupValue(attrs...)
}
