package config_test

import (
	"strings"
	"testing"

	"github.com/attrcache/attrcache/config"
)

// TestYAMLErrorLine checks that a syntax error names the line that holds
// the mistake. The YAML parser alone names the line where the construct
// around it began, often one or more lines early, or none.
func TestYAMLErrorLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		line string
	}{
		{"tab in indentation", "redis:\n  db: 1\n\tpassword: x\n", "line 3:"},
		{"key indented too far", "redis:\n  db: 1\n   password: x\nlog:\n  level: info\n", "line 3:"},
		{"key indented too little", "redis:\n  db: 1\n  tls:\n    enabled: true\n   ca_file: x\n", "line 5:"},
		{"list item in a mapping", "redis:\n  db: 1\n  - x\n", "line 3:"},
		{"list item after a mapping", "redis:\n  db: 1\n- x\n", "line 3:"},
		{"colon in a plain value", "redis:\n  db: 1\n  password: a: b\n", "line 3:"},
		{"missing colon", "redis:\n  db: 1\n  password x\n  mode: auto\nlog:\n  level: info\n", "line 3:"},
		{"unclosed list", "redis:\n  db: 1\n  addrs: [a:1\nlog:\n  level: info\n", "line 3:"},
		{"unclosed quote", "redis:\n  db: 1\n  password: \"abc\n  mode: auto\n", "line 3:"},
		{"bad character", "redis:\n  db: 1\n@x: 1\n", "line 3:"},
		{"first line", "redis: db: 1\nlog:\n  level: info\n", "line 1:"},
		{"after a list over several lines", "redis:\n  addrs: [a:1,\n    b:2]\n  db: 1\n   mode: x\n", "line 5:"},
		{"duplicate key", "redis:\n  db: 1\n  db: 2\n", "line 3:"},
		{"last line without newline", "log:\n  level: info\n  format: [x", "line 3:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "c.yaml", tc.file)
			_, err := config.LoadWith(path, nil)
			if err == nil {
				t.Fatal("bad YAML loaded")
			}
			msg := err.Error()
			if !strings.Contains(msg, path+": "+tc.line) {
				t.Errorf("error does not say %s %q:\n%s", path, tc.line, msg)
			}
			if strings.Count(msg, "line ") != 1 && !strings.Contains(msg, "already defined") {
				t.Errorf("error names more than one line: %s", msg)
			}
		})
	}
}

func TestYAMLErrorShowsNoContent(t *testing.T) {
	const secret = "Yaml-s3cret-never-shown"
	for _, file := range []string{
		"redis:\n  password: " + secret + ": x\n",
		"redis:\n  password: \"" + secret + "\n",
		secret + "\n",                          // a scalar, not a mapping
		"- " + secret + "\n",                   // a list, not a mapping
		"redis:\n\tpassword: " + secret + "\n", // a tab
	} {
		path := writeFile(t, "c.yaml", file)
		_, err := config.LoadWith(path, nil)
		if err == nil {
			t.Fatalf("%q loaded", file)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error shows the file's text: %v", err)
		}
	}
}
