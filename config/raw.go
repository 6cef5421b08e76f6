package config

import (
	"fmt"
	"reflect"
	"strconv"
	"time"
)

// checkRaw returns what is wrong with the raw value of a setting, as the
// YAML parser or the environment gave it, or "". It is stricter than
// mapstructure's weak decoding, which would read a bare 30 as 30
// nanoseconds, an unquoted true password as "1", or 2.5 as 2. It shows a
// value only through echo, never a list or mapping, and nothing of a
// noEcho setting.
func checkRaw(s setting, raw any) string {
	if raw == nil {
		return ""
	}
	// what names the value in a problem: itself when it may be shown.
	what := func(v any) string {
		if s.noEcho || !isScalar(v) {
			return "the value"
		}
		return echo(fmt.Sprint(v))
	}
	if str, ok := raw.(string); ok {
		return checkRawString(s, str, what(str))
	}
	switch {
	case s.typ == durationType:
		if _, ok := raw.(time.Duration); ok { // a default
			return ""
		}
		if !isScalar(raw) {
			return fmt.Sprintf("is a %s, not a duration", yamlKind(raw))
		}
		return fmt.Sprintf("%s is a bare %s; write a duration with a unit such as \"30s\" or \"5m\"", what(raw), yamlKind(raw))
	case s.typ == secretType:
		if _, ok := raw.(Secret); ok { // a default
			return ""
		}
		if !isScalar(raw) {
			return fmt.Sprintf("is a %s, not a string", yamlKind(raw))
		}
		return fmt.Sprintf("YAML read the value as a %s, not a string; quote it (the value is not shown)", yamlKind(raw))
	case s.typ.Kind() == reflect.String:
		if !isScalar(raw) {
			return fmt.Sprintf("is a %s, not a string", yamlKind(raw))
		}
		return fmt.Sprintf("YAML read %s as a %s, not a string; quote it", what(raw), yamlKind(raw))
	case s.typ.Kind() == reflect.Int:
		switch raw.(type) {
		case int, int64, uint64:
			return ""
		}
		return fmt.Sprintf("%s is a %s, not a whole number", what(raw), yamlKind(raw))
	case s.typ.Kind() == reflect.Bool:
		if _, ok := raw.(bool); ok {
			return ""
		}
		return fmt.Sprintf("%s is a %s, not true or false", what(raw), yamlKind(raw))
	case s.typ.Kind() == reflect.Slice:
		switch items := raw.(type) {
		case []string, Addrs:
			return ""
		case []any:
			for i, item := range items {
				if _, ok := item.(string); !ok {
					return fmt.Sprintf("item %d: YAML read %s as a %s, not a string", i, what(item), yamlKind(item))
				}
			}
			return ""
		}
		return fmt.Sprintf("is a %s, not a list", yamlKind(raw))
	}
	return ""
}

// checkRawString checks a string value, as the environment always gives
// and as YAML gives quoted or non-numeric scalars; what is how a problem
// names the value.
func checkRawString(s setting, str, what string) string {
	switch {
	case s.typ == durationType:
		// "30" is refused rather than read as 30ns, and so is "0"
		// (write "0s").
		if _, err := strconv.ParseFloat(str, 64); err == nil {
			return fmt.Sprintf("%s has no unit; write a duration such as \"30s\" or \"5m\"", what)
		}
		if _, err := time.ParseDuration(str); err != nil {
			return fmt.Sprintf("%s is not a duration; write one such as \"30s\" or \"5m\"", what)
		}
	case s.typ.Kind() == reflect.Int:
		if _, err := strconv.Atoi(str); err != nil {
			return fmt.Sprintf("%s is not a whole number", what)
		}
	case s.typ.Kind() == reflect.Bool:
		if _, err := strconv.ParseBool(str); err != nil {
			return fmt.Sprintf("%s is not true or false", what)
		}
	}
	return ""
}

// yamlKind names the kind of a value the YAML parser produced.
func yamlKind(v any) string {
	switch v.(type) {
	case bool:
		return "boolean"
	case int, int64, uint64, float64:
		return "number"
	case []any:
		return "list"
	case map[string]any:
		return "mapping"
	}
	return fmt.Sprintf("%T", v)
}

func isScalar(v any) bool {
	switch v.(type) {
	case []any, map[string]any:
		return false
	}
	return true
}
