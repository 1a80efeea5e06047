// Package archtest checks the dependency rules docs/ARCHITECTURE.md
// states, so that they hold by construction rather than by habit.
package archtest

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/keyhold/keyhold/"

type pkg struct {
	ImportPath string
	Imports    []string
}

// rules: for each package, the internal packages it may import directly.
var rules = map[string][]string{
	"internal/keys":      {},
	"internal/item":      {},
	"internal/format":    {"internal/keys"},
	"internal/kit":       {"internal/keys"}, // to read a Secret Key typed from the kit
	"internal/gen":       {},
	"internal/clip":      {},
	"internal/secretref": {},
	"internal/breach":    {},
	"internal/transfer":  {"internal/item"},
	"internal/vault":     {"internal/format", "internal/keys", "internal/item", "internal/merge", "internal/keystore", "internal/folder"},
	"internal/folder":    {"internal/format", "internal/keys", "internal/item", "internal/merge"},
	"internal/keystore":  {},
	"internal/agent":     {"internal/vault", "internal/item", "internal/syncclient"},
	"internal/merge":     {"internal/item"},
	"internal/pake":      {},
	"internal/api":       {},
	// The client side of sync: it may open items (through the vault).
	"internal/syncclient": {"internal/api", "internal/pake", "internal/vault", "internal/keys", "internal/format"},
	// The server side never imports what unwraps the account key or opens
	// items: plaintext cannot reach it by construction.
	"internal/server":       {"internal/api", "internal/pake", "internal/server/store", "internal/mailticket", "internal/svc"},
	"internal/server/store": {"internal/api"},
	// The mailer never sees the account database, a vault, or a kit: it
	// relays what the device sealed (internal/kitmail), and so cannot
	// import what parses or renders a kit.
	"internal/mailer":            {"internal/api", "internal/kitmail", "internal/mailticket", "internal/svc"},
	"internal/kitmail":           {},
	"internal/mailer/mailertest": {},
	"internal/mailticket":        {},
	// The plumbing both services share knows neither of them.
	"internal/svc":         {"internal/api", "internal/buildinfo", "internal/cobrausage"},
	"internal/svc/svctest": {"internal/buildinfo"},
	// What a binary was built from, and cobra's command-line mistakes as
	// a type: shared by all three programs, knowing none of them.
	"internal/buildinfo":  {},
	"internal/cobrausage": {},
}

func TestDependencyRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", "../../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(p.ImportPath, mod)
		allowed, ok := rules[name]
		if !ok {
			continue
		}
		seen++
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, mod) {
				continue
			}
			dep := strings.TrimPrefix(imp, mod)
			if strings.HasPrefix(dep, name+"/") { // its own subpackages
				continue
			}
			okDep := false
			for _, a := range allowed {
				okDep = okDep || dep == a
			}
			if !okDep {
				t.Errorf("%s imports %s, which docs/ARCHITECTURE.md does not allow", name, dep)
			}
		}
	}
	if seen != len(rules) {
		t.Fatalf("found %d of the %d ruled packages: did one move?", seen, len(rules))
	}
}
