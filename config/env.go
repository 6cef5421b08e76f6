package config

import (
	"slices"
	"strings"
)

// EnvPrefix starts the environment variable of every key.
const EnvPrefix = "ATTRCACHE_"

// storeSection is the section of the attrcache.* keys, whose variables
// leave it out: the prefix says attrcache already.
const storeSection = "attrcache."

// EnvName returns the environment variable that sets key: ATTRCACHE_ +
// key in upper case, '.' replaced by '_', without the section of the
// attrcache.* keys, which would repeat the prefix. redis.dial_timeout is
// ATTRCACHE_REDIS_DIAL_TIMEOUT, attrcache.session_ttl is
// ATTRCACHE_SESSION_TTL.
func EnvName(key string) string {
	return EnvPrefix + envSuffix(strings.TrimPrefix(key, storeSection))
}

// doubledEnvName returns the variable an attrcache.* key was read from
// before its section was left out (ATTRCACHE_ATTRCACHE_SESSION_TTL), or
// "" for the other keys. Load refuses it, naming the variable to use.
func doubledEnvName(key string) string {
	if !strings.HasPrefix(key, storeSection) {
		return ""
	}
	return EnvPrefix + envSuffix(key)
}

func envSuffix(key string) string { return strings.ToUpper(strings.ReplaceAll(key, ".", "_")) }

// envLookup returns a lookup in environ; the last occurrence of a name
// counts and empty values count as unset.
func envLookup(environ []string) func(string) (string, bool) {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, val, ok := strings.Cut(kv, "="); ok {
			m[k] = val
		}
	}
	return func(name string) (string, bool) {
		val := m[name]
		return val, val != ""
	}
}

// splitList splits a comma-separated environment value. Empty items are
// kept so that validation reports them.
func splitList(s string) []string {
	items := strings.Split(s, ",")
	for i := range items {
		items[i] = strings.TrimSpace(items[i])
	}
	return items
}

// validEnvName reports whether name is a portable environment variable
// name: letters, digits and '_', not starting with a digit. Shells can
// set no other.
func validEnvName(name string) bool {
	if name == "" || (name[0] >= '0' && name[0] <= '9') {
		return false
	}
	for _, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// unknownVariables returns a warning for every ATTRCACHE_ variable in
// environ that sets no key, other than keysetEnv (the variable
// encryption.keyset_env names), sorted. Values are never read. A name
// that is not a valid variable name is not shown either, in case a value
// ended up in it.
func unknownVariables(environ []string, keysetEnv string) []string {
	known := make(map[string]bool)
	for _, s := range settings() {
		known[s.env] = true
		if s.doubledEnv != "" {
			known[s.doubledEnv] = true // refused by Load, not warned about
		}
	}
	seen := make(map[string]bool)
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) || known[name] || name == keysetEnv || seen[name] {
			continue
		}
		seen[name] = true
		if !validEnvName(name) {
			out = append(out, "an environment variable starting with "+EnvPrefix+" has a name no shell can set; it is ignored (its name is not shown)")
			continue
		}
		w := name + " is not an attrcache setting and is ignored"
		if near := closestEnvName(name); near != "" {
			w += " (did you mean " + near + "?)"
		}
		out = append(out, w)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// closestEnvName returns the variable of a setting that name is a likely
// misspelling of, or "": the nearest by edit distance, at most 3 edits
// away (a dropped, doubled or swapped letter or two).
func closestEnvName(name string) string {
	best, bestDist := "", 4
	for _, s := range settings() {
		if d := editDistance(name, s.env); d < bestDist {
			best, bestDist = s.env, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
