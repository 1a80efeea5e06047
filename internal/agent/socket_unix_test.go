//go:build unix

package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The socket lives in the runtime directory the caller names, else in a
// per-user directory under /tmp; it is named by the vault, not by the
// spelling of its path; and the agent package itself never looks at the
// environment.
func TestSocketPath(t *testing.T) {
	vaultDir := t.TempDir()
	// Whatever the environment says is not the agent package's business.
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(t.TempDir(), "from-the-environment"))

	run := filepath.Join(t.TempDir(), "run")
	p, err := SocketPath(vaultDir, run)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(p) != filepath.Join(run, "keyhold") || !strings.HasSuffix(p, ".sock") {
		t.Errorf("with runtime directory %s: %s, want a socket in %s/keyhold", run, p, run)
	}

	p2, err := SocketPath(vaultDir, "")
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(os.TempDir(), fmt.Sprintf("keyhold-%d", os.Getuid()))
	if filepath.Dir(p2) != tmp || filepath.Base(p2) != filepath.Base(p) {
		t.Errorf("without a runtime directory: %s, want %s/%s", p2, tmp, filepath.Base(p))
	}

	// A relative spelling of the same vault finds the same agent.
	t.Chdir(filepath.Dir(vaultDir))
	p3, err := SocketPath(filepath.Base(vaultDir), run)
	if err != nil {
		t.Fatal(err)
	}
	if p3 != p {
		t.Errorf("relative vault path: %s, want %s", p3, p)
	}
	// Another vault has another agent.
	p4, err := SocketPath(t.TempDir(), run)
	if err != nil {
		t.Fatal(err)
	}
	if p4 == p {
		t.Errorf("two vaults share the socket %s", p)
	}
}
