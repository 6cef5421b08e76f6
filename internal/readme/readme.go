// Command readme writes the repository's README.md from README.md.tpl,
// taking every Go snippet from a runnable example, so that each snippet a
// reader copies compiles and runs in the tests. Run it from the
// repository's root:
//
//	go run ./internal/readme
//
// In the template, a line
//
//	{{example "attrcache" "ExampleSession_Create"}}
//
// becomes a Go code block holding the body of that example function of
// that directory's _test.go files, without its // Output: comment. A
// line of an example that ends with "// README: text" is shown as text
// (the example's stand-in for what an application writes, such as its
// Redis address); "// README: -" drops the line. The test of this
// package fails when README.md differs from what the template and the
// examples make.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

func main() {
	out, err := Render(".")
	if err == nil {
		err = os.WriteFile("README.md", []byte(out), 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "readme:", err)
		os.Exit(1)
	}
}

var directive = regexp.MustCompile(`^\{\{example "([^"]+)" "([^"]+)"\}\}$`)

// Render returns README.md as the template and the examples under root
// make it.
func Render(root string) (string, error) {
	tpl, err := os.ReadFile(filepath.Join(root, "README.md.tpl"))
	if err != nil {
		return "", err
	}
	var out strings.Builder
	for _, line := range strings.SplitAfter(string(tpl), "\n") {
		m := directive.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			out.WriteString(line)
			continue
		}
		body, err := example(filepath.Join(root, m[1]), m[2])
		if err != nil {
			return "", fmt.Errorf("%s %s: %w", m[1], m[2], err)
		}
		out.WriteString("```go\n" + body + "```\n")
	}
	return out.String(), nil
}

// example returns the body of the named example function in dir's test
// files, de-indented, with its output comment and README directives
// applied.
func example(dir, name string) (string, error) {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		return "", err
	}
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		f, err := parser.ParseFile(fset, path, src, parser.ParseComments)
		if err != nil {
			return "", err
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Name.Name != name || fn.Recv != nil || fn.Body == nil {
				continue
			}
			start := fset.Position(fn.Body.Lbrace).Offset + 1
			end := fset.Position(fn.Body.Rbrace).Offset
			return tidy(string(src[start:end])), nil
		}
	}
	return "", errors.New("no such example")
}

// tidy drops the output comment, applies the README directives and takes
// one tab of indentation off every line.
func tidy(body string) string {
	var b bytes.Buffer
	for _, line := range strings.Split(strings.Trim(body, "\n"), "\n") {
		t := strings.TrimSpace(line)
		if t == "// Output:" || t == "// Unordered output:" {
			break
		}
		if i := strings.Index(line, "// README: "); i >= 0 {
			repl := line[i+len("// README: "):]
			if repl == "-" {
				continue
			}
			indent := line[:len(line)-len(strings.TrimLeft(line, "\t"))]
			line = indent + repl
		}
		b.WriteString(strings.TrimPrefix(line, "\t") + "\n")
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}
