package rueidisstore_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestRueidisStaysHere: the packages an application on go-redis links
// (attrcache, its backend, config, web, the tools) do not link rueidis.
func TestRueidisStaysHere(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to list imports with")
	}
	pkgs := []string{"../attrcache", "../internal/backend", "../config", "../web", "../cmd/attrcache", "../cmd/demo"}
	out, err := exec.Command("go", append([]string{"list", "-deps", "-f", "{{.ImportPath}}"}, pkgs...)...).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/redis/rueidis") {
			t.Errorf("%s is linked by %v", p, pkgs)
		}
	}
}
