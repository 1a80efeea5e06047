package strength_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/testenv"
)

// heavyInit are the packages whose initialisation keyhold used to pay on
// every command: trustelem's zxcvbn builds its dictionaries (tens of
// milliseconds, 10 MB), keyboard graphs and regular expressions at start-up,
// and regexp2 builds Unicode tables. Only trustelem's match package, which
// declares a type and runs nothing, may be linked.
var heavyInit = []string{
	"github.com/trustelem/zxcvbn",
	"github.com/trustelem/zxcvbn/matching",
	"github.com/trustelem/zxcvbn/frequency",
	"github.com/trustelem/zxcvbn/scoring",
	"github.com/trustelem/zxcvbn/adjacency",
	"github.com/dlclark/regexp2",
	"github.com/dlclark/regexp2/syntax",
}

// goTool returns the go command and the module root, or skips the test.
func goTool(t *testing.T) (goCmd, root string) {
	t.Helper()
	goCmd = testenv.NeedProgram(t, "go", "golang-go")
	out, err := exec.Command(goCmd, "env", "GOMOD").Output()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return goCmd, filepath.Dir(string(bytes.TrimSpace(out)))
}

// TestNoHeavyDependencies checks that package strength does not link
// trustelem's matching, frequency or root packages (or its other packages
// with start-up work): anything linked runs its init in every keyhold
// command.
func TestNoHeavyDependencies(t *testing.T) {
	goCmd, root := goTool(t)
	cmd := exec.Command(goCmd, "list", "-deps", "github.com/keyhold/keyhold/internal/strength")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps printed %d packages, expected the standard library at least:\n%s", len(deps), out)
	}
	for _, dep := range deps {
		for _, heavy := range heavyInit {
			if dep == heavy {
				t.Errorf("internal/strength depends on %s", dep)
			}
		}
	}
}

// TestNoInitWork runs a program that links package strength without using
// it, with GODEBUG=inittrace=1, and checks that no package of strength's,
// trustelem's or regexp2 runs initialisation code: the runtime traces every
// package that does, so an absent line means zero start-up cost.
func TestNoInitWork(t *testing.T) {
	goCmd, root := goTool(t)
	bin := filepath.Join(t.TempDir(), "initprobe")
	build := exec.Command(goCmd, "build", "-o", bin, "./internal/strength/testdata/initprobe")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building initprobe: %v\n%s", err, out)
	}
	run := exec.Command(bin)
	run.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	var stderr bytes.Buffer
	run.Stderr = &stderr
	if err := run.Run(); err != nil {
		t.Fatalf("initprobe: %v\n%s", err, stderr.Bytes())
	}
	traced := 0
	sc := bufio.NewScanner(&stderr)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "init" {
			continue
		}
		traced++
		pkg := f[1]
		if strings.HasPrefix(pkg, "github.com/keyhold/keyhold/internal/strength") ||
			strings.HasPrefix(pkg, "github.com/trustelem/") || strings.HasPrefix(pkg, "github.com/dlclark/") {
			t.Errorf("package %s runs code at start-up: %s", pkg, sc.Text())
		}
	}
	if traced == 0 {
		t.Fatalf("no init trace lines: is GODEBUG=inittrace=1 still supported?\n%s", stderr.Bytes())
	}
}
