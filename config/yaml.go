package config

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/viper"
)

// readYAML parses a config file into nested maps, leaving out null
// values: viper lets an empty section ("redis:" with every key commented
// out) hide the defaults of the keys under it. A syntax error names the
// line that holds the problem (see yamlError).
func readYAML(data []byte) (map[string]any, error) {
	fv, err := parseYAML(data)
	if err != nil {
		return nil, yamlError(data, err)
	}
	out := make(map[string]any)
	for _, key := range fv.AllKeys() {
		val := fv.Get(key)
		if val == nil {
			continue
		}
		m := out
		parts := strings.Split(key, ".")
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = make(map[string]any)
				m[p] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = val
	}
	return out, nil
}

func parseYAML(data []byte) (*viper.Viper, error) {
	fv := viper.New()
	fv.SetConfigType("yaml")
	return fv, fv.ReadConfig(bytes.NewReader(data))
}

// maxLinesSearched bounds the line search of yamlError, which parses the
// file once per line it steps back; config files are far shorter.
const maxLinesSearched = 2000

// yamlLinePrefix is what the YAML parser and viper put before the
// problem itself.
var yamlLinePrefix = regexp.MustCompile(`^(?:While parsing config: )?(?:yaml: )?(?:line \d+: )?`)

// yamlQuoted is a value the YAML parser quotes in a type error.
var yamlQuoted = regexp.MustCompile("`[^`]*`")

// yamlError restates a YAML syntax error with the line that holds the
// problem. The YAML parser (go.yaml.in/yaml/v3) names the line where the
// construct it was reading began, counted from 0 for some errors and from
// 1 for others, or no line at all, so its number is often one or more
// lines early. The line is found instead by parsing ever shorter
// beginnings of the file: it is the first line from which no beginning
// parses any more (a construct that spans lines and is closed later, such
// as a multi-line list, parses again once closed, so it does not count).
// Nothing of the file is quoted: the line may hold a password.
func yamlError(data []byte, err error) error {
	problem := yamlLinePrefix.ReplaceAllString(err.Error(), "")
	if rest, ok := strings.CutPrefix(problem, "unmarshal errors:\n"); ok {
		// Such as a duplicate key: one problem per line, each with its
		// own (right) line number, which the search below finds too.
		var each []string
		for _, l := range strings.Split(rest, "\n") {
			each = append(each, yamlLinePrefix.ReplaceAllString(strings.TrimSpace(l), ""))
		}
		problem = strings.Join(each, "; ")
	}
	if strings.Contains(problem, "cannot unmarshal") {
		problem = "the file must be a mapping of sections (redis:, attrcache:, encryption:, log:)"
	}
	problem = yamlQuoted.ReplaceAllString(problem, "(value not shown)")
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	if len(lines) == 0 || len(lines) > maxLinesSearched {
		return errors.New(problem)
	}
	n := len(lines)
	for n > 1 {
		if _, err := parseYAML(bytes.Join(lines[:n-1], nil)); err == nil {
			break
		}
		n--
	}
	return fmt.Errorf("line %d: %s", n, problem)
}
