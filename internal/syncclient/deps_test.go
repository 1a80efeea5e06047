package syncclient

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// storage are the packages of the CLI's vault storage (and below them,
// a database and child processes; module paths match with their
// subpackages, standard ones exactly): the sync client
// works through the Local and Account interfaces, so that a client with
// another store (a browser's) links the same sync code without them.
var storage = []string{
	"github.com/keyhold/keyhold/internal/vault",
	"github.com/keyhold/keyhold/internal/ledger/sqlitestore",
	"modernc.org/sqlite",
	"database/sql",
	"os/exec",
}

// TestSyncClientWithoutStorage checks the sync client's dependencies, for
// this platform and for js/wasm, where it must also build.
func TestSyncClientWithoutStorage(t *testing.T) {
	for _, goos := range []string{"", "js"} {
		cmd := exec.Command("go", "list", "-deps", ".")
		cmd.Env = os.Environ()
		if goos != "" {
			cmd.Env = append(cmd.Env, "GOOS=js", "GOARCH=wasm")
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps (GOOS=%q): %v\n%s", goos, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 10 || !strings.Contains(string(out), "github.com/keyhold/keyhold/internal/vaultsync") {
			t.Fatalf("go list -deps (GOOS=%q) gave an implausible list:\n%s", goos, out)
		}
		for _, d := range deps {
			for _, f := range storage {
				if d == f || (strings.Contains(f, ".") && strings.HasPrefix(d, f+"/")) {
					t.Errorf("GOOS=%q: the sync client depends on %s", goos, d)
				}
			}
		}
	}
	cmd := exec.Command("go", "build", "-o", os.DevNull, ".")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=js GOARCH=wasm go build: %v\n%s", err, out)
	}
}
