package dist

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestKeyholdCarriesOnlyTheManifest: the keyhold command links this
// package (the manifest, for web verify) but not internal/webui, which
// embeds the whole web vault and its WebAssembly; keyhold-server links
// both.
func TestKeyholdCarriesOnlyTheManifest(t *testing.T) {
	const webui = "github.com/keyhold/keyhold/internal/webui"
	deps := func(pkg string) []string {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		return strings.Fields(string(out))
	}
	kh := deps("../../../cmd/keyhold")
	if !slices.Contains(kh, webui+"/dist") {
		t.Error("keyhold does not link the web vault's manifest")
	}
	if slices.Contains(kh, webui) {
		t.Error("keyhold links internal/webui, and with it the whole web vault")
	}
	if srv := deps("../../../cmd/keyhold-server"); !slices.Contains(srv, webui) {
		t.Error("keyhold-server does not link the web vault")
	}
}
