package config

import (
	"reflect"
	"slices"
	"sync"
	"time"
)

// Keys returns every configuration key, in the order of example.yaml.
func Keys() []string {
	keys := make([]string, 0, len(settings()))
	for _, s := range settings() {
		keys = append(keys, s.key)
	}
	return keys
}

// setting is one leaf key of Config.
type setting struct {
	key string // "redis.dial_timeout"
	env string // "ATTRCACHE_REDIS_DIAL_TIMEOUT"
	// doubledEnv is the old variable of an attrcache.* key
	// ("ATTRCACHE_ATTRCACHE_SESSION_TTL"), which Load refuses; "" for
	// the others.
	doubledEnv string
	index      []int        // reflect field path from Config
	typ        reflect.Type // field type
	// noEcho marks a setting whose value errors never show: a secret,
	// or a name or path where users put key material by mistake (tag
	// config:"noecho", and every Secret).
	noEcho bool
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	secretType   = reflect.TypeFor[Secret]()
)

// settings lists every leaf of Config, walking its mapstructure tags, so a
// new field is a new key everywhere (defaults, environment, printing).
var settings = sync.OnceValue(func() []setting {
	var out []setting
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("mapstructure")
			if !f.IsExported() || tag == "" || tag == "-" {
				continue
			}
			key := prefix + tag
			idx := append(slices.Clone(index), i)
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, key+".", idx)
				continue
			}
			out = append(out, setting{key: key, env: EnvName(key), doubledEnv: doubledEnvName(key), index: idx, typ: f.Type,
				noEcho: f.Type == secretType || f.Tag.Get("config") == "noecho"})
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	return out
})
