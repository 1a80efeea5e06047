package server

import (
	"os/exec"
	"strings"
	"testing"
)

// forbidden are the packages that unwrap the account key or open items.
// keyhold-server must not link any of them: then no code path in the server
// can turn what it stores into plaintext, whatever a handler does.
var forbidden = []string{
	"github.com/keyhold/keyhold/internal/vault",
	"github.com/keyhold/keyhold/internal/keys",
	"github.com/keyhold/keyhold/internal/item",
	"github.com/keyhold/keyhold/internal/format",
	"github.com/keyhold/keyhold/internal/merge",
	"github.com/keyhold/keyhold/internal/kit",
	"github.com/keyhold/keyhold/internal/transfer",
}

func TestServerCannotOpenVaults(t *testing.T) {
	for _, pkg := range []string{"../../cmd/keyhold-server", "."} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 10 || !strings.Contains(string(out), "github.com/keyhold/keyhold/internal/api") {
			t.Fatalf("go list -deps %s gave an implausible list:\n%s", pkg, out)
		}
		for _, d := range deps {
			for _, f := range forbidden {
				if d == f || strings.HasPrefix(d, f+"/") {
					t.Errorf("%s depends on %s, which can open vaults or items", pkg, d)
				}
			}
		}
	}
}
